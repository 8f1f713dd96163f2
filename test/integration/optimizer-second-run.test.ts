import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ServerLogSource } from '../../functions/adapters/local/server-log-source.ts';
import { parseConfig } from '../../functions/config.ts';
import { connect } from '../../functions/db/connection.ts';
import { type OptimizeResult, optimizeDatabase } from '../../functions/jobs/optimize.ts';
import { advisedFromLogSuite, type LogShape } from '../support/advised-from-log.ts';

// The path after the first day (docs/optimizer.md, "A second run"): the application runs, `optimize
// --apply`, the application runs on with the indexes in place, `optimize --apply` again on the same
// database. The second run must not build what the first decided against (nor drop what it built): found
// by the storefront holdout, whose ranked product search got an index on `ts_rank(search,
// websearch_to_tsquery('english', '<one sample's words>'))` from the second run (the first had built
// it in its what-if session and left it out), an index that serves one search of many.

let client: pg.Client;

const WORDS = [
  'leather wallet',
  'wireless headphones',
  'merino socks',
  'titanium watch',
  'canvas backpack',
  'ceramic mug',
];

const SHAPES: LogShape[] = [
  {
    // A ranked full-text search among the listed products: the words are the user's.
    name: 'search',
    sql: `SELECT id, title, price_cents FROM sr.product
          WHERE search @@ websearch_to_tsquery('english', $1) AND status = 'listed'
          ORDER BY ts_rank(search, websearch_to_tsquery('english', $1)) DESC LIMIT 20`,
    params: (run) => [WORDS[run % WORDS.length]],
  },
  {
    // A category page, newest first.
    name: 'category',
    sql: `SELECT id, title FROM sr.product WHERE category_id = $1 AND status = 'listed'
          ORDER BY created_at DESC LIMIT 24`,
    params: (run) => [3 + run * 7],
  },
];

async function load(): Promise<void> {
  // 150k products, nine in ten listed, titles from a small vocabulary (each word in 1 title of 6-9).
  await client.query(`
    CREATE SCHEMA sr;
    CREATE TABLE sr.product (id bigint PRIMARY KEY, category_id int NOT NULL, status text NOT NULL,
      title text NOT NULL, price_cents int NOT NULL, created_at timestamptz NOT NULL,
      search tsvector GENERATED ALWAYS AS (to_tsvector('english', title)) STORED);
    INSERT INTO sr.product (id, category_id, status, title, price_cents, created_at)
    SELECT g, g % 400, CASE WHEN g % 10 = 0 THEN 'hidden' ELSE 'listed' END,
      (ARRAY['leather', 'wireless', 'merino', 'titanium', 'canvas', 'ceramic', 'cotton', 'steel'])[1 + g % 8]
        || ' ' || (ARRAY['wallet', 'headphones', 'socks', 'watch', 'backpack', 'mug', 'belt'])[1 + (g / 8) % 7]
        || ' ' || (ARRAY['classic', 'pro', 'mini', 'max', 'lite', 'plus'])[1 + (g / 56) % 6] || ' ' || g,
      500 + g % 20000, timestamptz '2025-01-01' + g * interval '3 minutes'
    FROM generate_series(1, 150000) g;
  `);
  await client.query('VACUUM ANALYZE sr.product');
}

const harness = advisedFromLogSuite('sr', SHAPES, async (c) => {
  client = c;
  await load();
});

const config = parseConfig({});
const logger = { info: () => {}, warn: () => {}, error: () => {} };

/** `optimize --apply` as the CLI runs it: the server log read for literal samples. */
const optimize = (reason: string): Promise<OptimizeResult> =>
  optimizeDatabase(client, config, {
    apply: true,
    reason,
    logger,
    logSource: new ServerLogSource(client),
  });

const built = (r: OptimizeResult) =>
  r.actions.filter((a) => a.action === 'create_index' && a.status === 'succeeded').map((a) => a.target);
const changed = (r: OptimizeResult) =>
  r.actions
    .filter((a) => a.status === 'succeeded' && (a.action === 'create_index' || a.action === 'drop_index'))
    .map((a) => `${a.action} ${a.target}`);

describe('a second optimize --apply on a kept database', () => {
  it('adds and drops nothing the first run decided against', async () => {
    const first = await optimize('first day');
    expect(first.status, first.message).toBe('succeeded');
    // An expression holding the words of one sample serves one search of many: never a candidate (it was
    // built and rolled back in the what-if session, then chosen and built by the second run).
    const candidates = [
      ...first.rejected.map((r) => r.definition),
      ...first.recommendations.map((r) => ('definition' in r ? r.definition : '')),
    ];
    expect(candidates.filter((d) => d.includes('ts_rank'))).toEqual([]);
    expect(built(first).length).toBeGreaterThan(0);

    // The application runs on with the indexes in place, with other words: new samples in the log.
    const app = await connect({ url: harness().server.url.replace(/\/postgres$/, '/sr') });
    try {
      for (let run = 3; run < 3 + WORDS.length; run++)
        for (const s of SHAPES)
          await app.query(s.sql, typeof s.params === 'function' ? s.params(run) : s.params);
    } finally {
      await app.end();
    }

    const second = await optimize('second day');
    expect(second.status, second.message).toBe('succeeded');
    expect(changed(second)).toEqual([]);
    // Nor does it recommend (within the caps or not) an index the first run evaluated and rejected.
    const rejectedFirst = new Set(first.rejected.map((r) => r.definition.replace(' CONCURRENTLY', '')));
    const recommendedAgain = second.recommendations
      .filter((r) => 'definition' in r)
      .map((r) => (r as { definition: string }).definition.replace(' CONCURRENTLY', ''));
    expect(recommendedAgain.filter((d) => rejectedFirst.has(d))).toEqual([]);
    expect(recommendedAgain.filter((d) => d.includes('ts_rank'))).toEqual([]);
  }, 600_000);
});
