import { describe, expect, it } from 'vitest';
import {
  html,
  markdown,
  markdownCode,
  markdownCodeBlock,
  plain,
  slack,
  slackCode,
  terminal,
} from '../../functions/format/escape.ts';
import {
  jsonSyntaxError,
  redactFields,
  redactSecrets,
  redactText,
  showValue,
} from '../../functions/format/redact.ts';

describe('redaction (one for every message a user, a log or an alert sees)', () => {
  it.each([
    ['postgres://app:hunter2@db.example.com:5432/prod', 'postgres://app:***@db.example.com:5432/prod'],
    ['postgresql://app:s%40cr%3Aet@h/db', 'postgresql://app:***@h/db'],
    [
      "Unexpected argument 'postgres://app:pw@127.0.0.1:55470/db'.",
      "Unexpected argument 'postgres://app:***@127.0.0.1:55470/db'.",
    ],
    ['postgres://app:p@ss@h/db', 'postgres://app:***@h/db'],
    ['host=h user=app password=hunter2 dbname=x', 'host=h user=app password=*** dbname=x'],
    ["password='two words' sslmode=require", 'password=*** sslmode=require'],
    ['{"password":"hunter2","user":"app"}', '{"password":"***","user":"app"}'],
    ['PGPASSWORD=hunter2 psql', 'PGPASSWORD=*** psql'],
    ['postgres://h/db?password=hunter2&sslmode=require', 'postgres://h/db?password=***&sslmode=require'],
    ['https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX', 'https://hooks.slack.com/services/***'],
    ['Authorization: Bearer abcdefghijklmnop', 'Authorization: Bearer ***'],
    ['https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/x', 'https://***@github.com/x'],
  ])('%s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
    expect(redactText(input)).not.toMatch(/hunter2|s%40cr|p@ss@|XXXXXXXXXXXX|abcdefghijklmnop/);
  });

  it('leaves ordinary text alone', () => {
    for (const t of [
      'postgres://app@h/db',
      'cannot connect to 127.0.0.1:1/none: connect ECONNREFUSED 127.0.0.1:1',
      'maintain --task must be one of partitions, indexes',
      'the token count is 3',
    ]) {
      expect(redactSecrets(t)).toBe(t);
    }
  });

  it('keeps a message on one line and cuts long values, saying how long they were', () => {
    expect(redactText('a\nb\u0000c\u001b[31m')).toBe('a\\nb\\u0000c\\u001b[31m');
    const big = 'x'.repeat(5_000_000);
    const shown = showValue(big);
    expect(shown.length).toBeLessThan(120);
    expect(shown).toMatch(/… \(5000000 chars\)$/);
    expect(redactText(big).length).toBeLessThan(1_100);
    expect(showValue('postgres://a:secret@h/db')).toBe('postgres://a:***@h/db');
  });

  it('redacts log fields, nested ones included', () => {
    expect(
      redactFields({
        target: 'prod',
        error: 'cannot connect postgres://a:hunter2@h/db',
        n: 3,
        list: ['password=hunter2'],
      }),
    ).toEqual({
      target: 'prod',
      error: 'cannot connect postgres://a:***@h/db',
      n: 3,
      list: ['password=***'],
    });
  });

  it('describes a JSON error without quoting the input', () => {
    for (const text of ['postgres://app:hunter2@h/db', 'hunter2', '{"a":"hunter2",}', '{"a":']) {
      let err: unknown;
      try {
        JSON.parse(text);
      } catch (e) {
        err = e;
      }
      expect(jsonSyntaxError(err)).not.toContain('hunter2');
      expect(jsonSyntaxError(err)).not.toContain('postgres');
    }
  });
});

describe('escaping per output format', () => {
  const evil = '<script>alert(1)</script>_y2026m12';

  it('HTML', () => {
    expect(html(`${evil} "q" 'a' & b`)).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt;_y2026m12 &quot;q&quot; &#39;a&#39; &amp; b',
    );
  });

  it('Markdown text: no HTML, no emphasis, no links, no table breaks, one line', () => {
    const md = markdown(`${evil} | *b* [x](http://e) \`c\`\nnext`);
    expect(md).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt;\\_y2026m12 \\| \\*b\\* \\[x\\](http://e) \\`c\\` next',
    );
    expect(md).not.toMatch(/<|\n/);
  });

  it('Markdown code spans hold any backticks (CommonMark: a longer fence)', () => {
    expect(markdownCode('SELECT 1 /* a `b` c */')).toBe('``SELECT 1 /* a `b` c */``');
    expect(markdownCode('x ``` y')).toBe('````x ``` y````');
    expect(markdownCode('`edge`')).toBe('`` `edge` ``');
    expect(markdownCode('a | b', { inTable: true })).toBe('`a \\| b`');
    expect(markdownCodeBlock('SELECT 1;\n-- ```\nSELECT 2;', 'sql')).toBe(
      '````sql\nSELECT 1;\n-- ```\nSELECT 2;\n````',
    );
  });

  it('Slack mrkdwn: no links or mentions, code without backticks', () => {
    expect(slack('<!channel> <http://x|click> & more')).toBe(
      '&lt;!channel&gt; &lt;http://x|click&gt; &amp; more',
    );
    expect(slackCode('a`b')).toBe('`aˋb`');
  });

  it('plain text: terminal escapes shown, not sent', () => {
    expect(plain('name\u001b[2J\u0007')).toBe('name\\u001b[2J\\u0007');
    expect(terminal('a\tb\nc\u001b[31m')).toBe('a\tb\nc\\u001b[31m');
  });
});
