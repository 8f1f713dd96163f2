import { fingerprintSync } from 'libpg-query';
import type pg from 'pg';
import { errorMessage } from '../errors.ts';
import { notWorkloadReason, ownComment } from '../monitor/own-statements.ts';
import { loadStatementParser, paramRefs, repairNormalizedText, shapeOf } from '../monitor/statement-shape.ts';
import type { LogSource } from '../ports.ts';
import { fetchStatementTexts, readStatementStats, storeQuerySamples } from './workload.ts';

/**
 * Literal statements from the server log: the statements log_min_duration_statement (or log_statement)
 * logged, with their bind parameters put back in, and auto_explain's "Query Text" with the plan it
 * logged. Each is parsed with the real parser, matched to pg_stat_statements by fingerprint (constants
 * and $n alike), and stored in dgm.query_samples (a bounded number per statement). The log is read on
 * from where the previous run stopped (dgm.server_log_positions), at most a bounded number of bytes per
 * run. No literal is ever logged or returned: the result holds counts only.
 */

/** A statement logged with its constants. */
export interface LoggedStatement {
  sql: string;
  durationMs?: number;
  /** auto_explain's plan, as logged (text or JSON). */
  plan?: string;
  /** The database the prefix named (%d), when it names one. */
  database?: string;
}

/** One log message: its first line after the severity, continuation lines joined with newlines. */
interface LogEntry {
  severity: string;
  message: string;
  database?: string;
}

export interface ServerLogResult {
  available: boolean;
  reason?: string;
  source?: string;
  files: number;
  bytesRead: number;
  /** Statements with their constants found in the part read (this database's, when the prefix says). */
  statements: number;
  /** Of those, the application's statements matched to pg_stat_statements; stored as samples. */
  matched: number;
  /** The log holds more than this run read. */
  more: boolean;
}

const SEVERITY =
  '(LOG|ERROR|WARNING|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|NOTICE|INFO|DEBUG[1-5]?|QUERY|LOCATION)';

/**
 * A regular expression for the start of a log entry written with this log_line_prefix: the prefix's
 * escapes as patterns (%d captured as the database), then the severity. Unknown escapes match anything.
 */
export function entryStartPattern(logLinePrefix: string): RegExp {
  let out = '';
  let optionalFrom = -1;
  for (let i = 0; i < logLinePrefix.length; i++) {
    const c = logLinePrefix[i]!;
    if (c !== '%') {
      out += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      continue;
    }
    // Padding (%-10p, %5d) is allowed before the escape.
    const m = /^-?\d*(.)/.exec(logLinePrefix.slice(i + 1));
    if (!m) break;
    i += m[0].length;
    const e = m[1]!;
    if (e === 'q') {
      // Non-session processes stop the prefix here.
      optionalFrom = out.length;
      continue;
    }
    out += PREFIX_ESCAPES[e] ?? (e === '%' ? '%' : '.*?');
  }
  if (optionalFrom >= 0) out = `${out.slice(0, optionalFrom)}(?:${out.slice(optionalFrom)})?`;
  return new RegExp(`^\\s*${out}${SEVERITY}:  (.*)$`);
}

const PREFIX_ESCAPES: Record<string, string> = {
  a: '.*?',
  u: '.*?',
  d: '(?<db>[^\\s:@\\[\\]]*?)',
  r: '.*?',
  h: '.*?',
  b: '.*?',
  p: '\\s*\\d+',
  P: '\\s*\\d*',
  t: '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(?: \\S+)?',
  m: '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d+(?: \\S+)?',
  n: '\\d+(?:\\.\\d+)?',
  i: '.*?',
  e: '\\w*',
  c: '[0-9a-f.]+',
  l: '\\s*\\d+',
  s: '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(?: \\S+)?',
  v: '[\\d/]*',
  x: '\\d+',
  Q: '-?\\d+',
};

const GENERIC_START = new RegExp(`^(.*?)\\b${SEVERITY}:  (.*)$`);

/** Severities of the lines that belong to the message before them (its DETAIL with the parameters). */
const ATTACHED = new Set(['DETAIL', 'HINT', 'CONTEXT', 'STATEMENT', 'QUERY', 'LOCATION']);

/**
 * Splits log text into entries (stderr format: continuation lines start with a tab). Unless the text is
 * complete (a file no longer written), the last message and the lines attached to it may still go on:
 * they are returned as the rest, to be read again with what follows.
 */
export function parseLogEntries(
  text: string,
  logLinePrefix: string | null,
  complete = false,
): { entries: LogEntry[]; rest: string } {
  const start = logLinePrefix != null ? entryStartPattern(logLinePrefix) : null;
  const lines = text.split('\n');
  // The text ends with a newline: the last element is empty.
  if (lines[lines.length - 1] === '') lines.pop();
  const entries: Array<LogEntry & { firstLine: number }> = [];
  let current: (LogEntry & { firstLine: number }) | null = null;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.startsWith('\t') && current) {
      current.message += `\n${line.slice(1)}`;
      continue;
    }
    let severity: string | undefined;
    let message: string | undefined;
    let database: string | undefined;
    const m = start?.exec(line);
    if (m) {
      severity = m[m.length - 2];
      message = m[m.length - 1];
      database = m.groups?.db;
    } else {
      const g = GENERIC_START.exec(line);
      if (g) {
        severity = g[2];
        message = g[3];
      }
    }
    if (severity === undefined || message === undefined) {
      // A line of something else (a crash report, a line longer than the read): not an entry.
      current = null;
      continue;
    }
    current = { severity, message, firstLine: n, ...(database !== undefined ? { database } : {}) };
    entries.push(current);
  }
  const strip = (list: typeof entries): LogEntry[] => list.map(({ firstLine: _, ...e }) => e);
  if (complete) return { entries: strip(entries), rest: '' };
  let k = entries.length - 1;
  while (k > 0 && ATTACHED.has(entries[k]!.severity)) k--;
  if (k < 0) return { entries: [], rest: '' };
  return {
    entries: strip(entries.slice(0, k)),
    rest: `${lines.slice(entries[k]!.firstLine).join('\n')}\n`,
  };
}

const DURATION = /^duration: ([\d.]+) ms {2}(statement|execute [^:]*|plan):(?: |\n|$)([\s\S]*)$/;
const STATEMENT_ONLY = /^(statement|execute [^:]*): ([\s\S]*)$/;
// "parameters:" up to PostgreSQL 15, "Parameters:" from 16.
const PARAMETERS = /^(?:Query )?[Pp]arameters: ([\s\S]*)$/;
const PLAN_NODE = /^\s*(?:->\s+)?[A-Z][A-Za-z ]*?(?: (?:on|using) .+?)?\s+\((?:cost|actual)[ =]/;

/** The literal statements among log entries (an execute's parameters put back in). */
export function loggedStatements(entries: readonly LogEntry[]): LoggedStatement[] {
  const out: LoggedStatement[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.severity !== 'LOG') continue;
    const next = entries[i + 1];
    const params = next?.severity === 'DETAIL' ? PARAMETERS.exec(next.message)?.[1] : undefined;
    let durationMs: number | undefined;
    let kind: string;
    let body: string;
    const d = DURATION.exec(e.message);
    if (d) {
      durationMs = Number(d[1]);
      kind = d[2]!;
      body = d[3]!;
    } else {
      const s = STATEMENT_ONLY.exec(e.message);
      if (!s) continue;
      kind = s[1]!;
      body = s[2]!;
    }
    const db = e.database !== undefined ? { database: e.database } : {};
    if (kind === 'plan') {
      const explained = fromAutoExplain(body);
      if (explained) out.push({ ...explained, ...(durationMs !== undefined ? { durationMs } : {}), ...db });
      continue;
    }
    const sql = params ? withParameters(body, params) : body;
    if (sql) out.push({ sql, ...(durationMs !== undefined ? { durationMs } : {}), ...db });
  }
  return out;
}

/** auto_explain's message: the query text (parameters put back in) and the plan, text or JSON format. */
function fromAutoExplain(body: string): { sql: string; plan: string } | null {
  const trimmed = body.trim();
  if (trimmed.startsWith('{')) {
    try {
      const doc = JSON.parse(trimmed) as Record<string, unknown>;
      const text = typeof doc['Query Text'] === 'string' ? doc['Query Text'] : '';
      const params = typeof doc['Query Parameters'] === 'string' ? doc['Query Parameters'] : undefined;
      const sql = params ? withParameters(text, params) : text;
      return sql ? { sql, plan: JSON.stringify(doc.Plan ?? doc) } : null;
    } catch {
      return null;
    }
  }
  const lines = trimmed.split('\n');
  if (!lines[0]?.startsWith('Query Text: ')) return null;
  const query = [lines[0].slice('Query Text: '.length)];
  let k = 1;
  let params: string | undefined;
  for (; k < lines.length; k++) {
    const p = /^Query Parameters: (.*)$/.exec(lines[k]!);
    if (p) {
      params = p[1];
      continue;
    }
    if (PLAN_NODE.test(lines[k]!)) break;
    query.push(lines[k]!);
  }
  const text = query.join('\n');
  const sql = params ? withParameters(text, params) : text;
  return sql ? { sql, plan: lines.slice(k).join('\n') } : null;
}

/**
 * Puts logged bind parameters (`$1 = '42', $2 = NULL`) into a statement's $n (found by the parser, so
 * never inside a string or a comment). Null when they cannot all be put in.
 */
export function withParameters(sql: string, parameters: string): string | null {
  const values = new Map<number, string>();
  const re = /\$(\d+) = (NULL|'(?:[^']|'')*')(?:, |$)/y;
  let m: RegExpExecArray | null;
  let at = 0;
  re.lastIndex = 0;
  // biome-ignore lint/suspicious/noAssignInExpressions: the sticky regex walks the list
  while ((m = re.exec(parameters)) !== null) {
    values.set(Number(m[1]), m[2]!);
    at = re.lastIndex;
  }
  if (at !== parameters.trimEnd().length) return null;
  let refs: Array<{ number: number; location: number }>;
  try {
    refs = paramRefs(sql);
  } catch {
    return null;
  }
  const bytes = Buffer.from(sql, 'utf8');
  let out = bytes;
  for (const r of refs) {
    const value = values.get(r.number);
    if (value === undefined) return null;
    const token = `$${r.number}`;
    if (out.subarray(r.location, r.location + token.length).toString('utf8') !== token) return null;
    out = Buffer.concat([
      out.subarray(0, r.location),
      Buffer.from(value, 'utf8'),
      out.subarray(r.location + token.length),
    ]);
  }
  return out.toString('utf8');
}

/** Samples kept from one run's read per statement (before the table's own bound). */
const SAMPLES_PER_STATEMENT_PER_RUN = 5;
/** An entry longer than this is not carried to the next read (it is dropped). */
const MAX_CARRIED_CHARS = 1_000_000;

interface Position {
  file: string;
  marker: string;
  pending: string;
}

/**
 * Reads the server log on from the stored position (at most maxBytes), stores the application's literal
 * statements matched to pg_stat_statements as samples, and stores the new position.
 */
export async function readServerLogSamples(
  client: pg.Client,
  source: LogSource,
  options: { target: string; maxBytes: number },
): Promise<ServerLogResult> {
  const none = (reason: string): ServerLogResult => ({
    available: false,
    reason,
    source: source.name,
    files: 0,
    bytesRead: 0,
    statements: 0,
    matched: 0,
    more: false,
  });
  // Parameters are put back by the parser.
  await loadStatementParser();
  let files: Awaited<ReturnType<LogSource['list']>>;
  try {
    files = await source.list();
  } catch (err) {
    return none(`the server log cannot be listed: ${errorMessage(err)}`);
  }
  if (files.length === 0)
    return none('no server log files (logging_collector off, or another log_destination)');
  const { rows: settings } = await client.query<{ prefix: string; db: string }>(
    `SELECT ${ownComment('optimizer')} current_setting('log_line_prefix') AS prefix, current_database() AS db`,
  );
  const prefix = settings[0]?.prefix ?? null;
  const database = settings[0]?.db;
  const { rows: stored } = await client.query<{ file: string; marker: string; pending: string }>(
    `SELECT ${ownComment('optimizer')} file, marker, pending FROM dgm.server_log_positions WHERE target = $1`,
    [options.target],
  );
  // From the stored file on; a file no longer listed (rotated away) means: from the oldest listed. The
  // first run starts at the newest file's start.
  const previous: Position | null = stored[0] ?? null;
  let index = previous ? files.findIndex((f) => f.name === previous.file) : -1;
  let position: Position;
  if (index >= 0 && previous) position = previous;
  else {
    index = previous ? 0 : files.length - 1;
    position = { file: files[index]!.name, marker: '0', pending: '' };
  }
  // A reader that would not get through what is left in one run (a first run on a large log, or a log
  // written faster than the runs read it) skips to the newest part: the statements the application runs
  // now. Whole files first, then, where the source can, to the last maxBytes of the newest.
  const laterBytes = files.slice(index + 1).reduce((sum, f) => sum + f.size, 0);
  if (laterBytes > options.maxBytes) {
    index = files.length - 1;
    position = { file: files[index]!.name, marker: '0', pending: '' };
  }
  const tail = source.tailMarker?.(files[index]!, position.marker, options.maxBytes) ?? position.marker;
  // Started within a line: its rest is no whole message.
  const skipped = tail !== position.marker;
  if (skipped) position = { file: position.file, marker: tail, pending: '' };
  let bytesRead = 0;
  let text = position.pending;
  let more = false;
  let filesRead = 0;
  const found: LoggedStatement[] = [];
  let pending = '';
  for (let i = index; i < files.length; i++) {
    const file = files[i]!;
    const marker = i === index ? position.marker : '0';
    let portion: Awaited<ReturnType<LogSource['read']>>;
    try {
      portion = await source.read(file.name, marker, Math.max(1, options.maxBytes - bytesRead));
    } catch (err) {
      if (filesRead === 0) return none(`the server log cannot be read: ${errorMessage(err)}`);
      break;
    }
    filesRead++;
    bytesRead += Buffer.byteLength(portion.text);
    text += i === index && skipped ? portion.text.slice(portion.text.indexOf('\n') + 1) : portion.text;
    position = { file: file.name, marker: portion.marker, pending: '' };
    const last = i === files.length - 1;
    // The last message of a file may go on in the next read of it, unless a newer file has begun.
    const complete = !portion.more && !last;
    const { entries, rest } = parseLogEntries(text, prefix, complete);
    found.push(...loggedStatements(entries));
    pending = rest;
    text = pending;
    if (portion.more) {
      more = true;
      break;
    }
    if (bytesRead >= options.maxBytes) {
      more = more || !last;
      break;
    }
  }
  position.pending = pending.length > MAX_CARRIED_CHARS ? '' : pending;
  const mine = found.filter((s) => s.database === undefined || s.database === database);
  const matched = await matchAndStore(client, mine);
  await client.query(
    `INSERT ${ownComment('optimizer')} INTO dgm.server_log_positions AS p (target, file, marker, pending)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (target) DO UPDATE SET file = excluded.file, marker = excluded.marker,
       pending = excluded.pending, read_at = clock_timestamp()`,
    [options.target, position.file, position.marker, position.pending],
  );
  return {
    available: true,
    source: source.name,
    files: filesRead,
    bytesRead,
    statements: mine.length,
    matched,
    more,
  };
}

/** Matches literal statements to this database's pg_stat_statements entries by fingerprint; stores them. */
async function matchAndStore(client: pg.Client, statements: readonly LoggedStatement[]): Promise<number> {
  if (statements.length === 0) return 0;
  await loadStatementParser();
  const byFingerprint = new Map<string, Map<string, LoggedStatement>>();
  for (const s of statements) {
    let shape: ReturnType<typeof shapeOf>;
    try {
      shape = shapeOf(s.sql);
    } catch {
      continue;
    }
    if (shape.statementCount !== 1 || notWorkloadReason(s.sql, shape)) continue;
    // Still a $n (parameters not logged, or cut off): not a literal instance.
    if (paramRefs(s.sql).length > 0) continue;
    const fp = fingerprint(s.sql);
    if (!fp) continue;
    // The newest distinct texts, a bounded number per statement.
    // The same execution may be logged twice (auto_explain's plan, then its duration): one sample, with
    // the plan.
    const texts = byFingerprint.get(fp) ?? new Map<string, LoggedStatement>();
    const seen = texts.get(s.sql);
    texts.delete(s.sql);
    texts.set(s.sql, seen?.plan && !s.plan ? { ...s, plan: seen.plan } : s);
    while (texts.size > SAMPLES_PER_STATEMENT_PER_RUN) texts.delete(texts.keys().next().value!);
    byFingerprint.set(fp, texts);
  }
  if (byFingerprint.size === 0) return 0;
  const stats = await readStatementStats(client);
  if (!stats.available) return 0;
  const texts = await fetchStatementTexts(client, [...stats.statements.keys()]);
  const samples: Array<{ queryid: string; sql: string; source: string; durationMs?: number; plan?: string }> =
    [];
  // Several entries may share a fingerprint (a constant in one, a parameter in another: different
  // queryids): each of the application's gets the samples; the tool's own (marked) never does.
  for (const [queryid, text] of texts) {
    const fp = fingerprint(text);
    const logged = fp ? byFingerprint.get(fp) : undefined;
    if (!logged || notWorkloadReason(text, shapeOf(text))) continue;
    for (const s of logged.values()) {
      samples.push({
        queryid,
        sql: s.sql,
        source: 'server_log',
        ...(s.durationMs !== undefined ? { durationMs: s.durationMs } : {}),
        ...(s.plan !== undefined ? { plan: s.plan } : {}),
      });
    }
  }
  await storeQuerySamples(client, samples);
  return samples.length;
}

function fingerprint(sql: string): string | undefined {
  try {
    return fingerprintSync(repairNormalizedText(sql));
  } catch {
    return undefined;
  }
}
