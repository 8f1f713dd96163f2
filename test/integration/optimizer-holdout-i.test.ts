import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { OptimizationConfigSchema } from '../../functions/config.ts';
import { planIndexBuilds, workloadMix } from '../../functions/optimizer/build-plan.ts';
import { advisedFromLogSuite, type LogShape } from '../support/advised-from-log.ts';

// The gaps the ninth holdout benchmark (test/bench/optimizer/holdout-i.ts: a pharmacy and a fleet depot)
// found, end to end as optimizer-holdout-h.test.ts runs them: the application's statements with $n
// parameters, three runs with their own values, their literal samples from the server log, one advisor
// run over the whole workload. The tables live in a mixed-case schema, as the pharmacy's do.

let client: pg.Client;

const SHAPES: LogShape[] = [
  {
    // A lookup through a user-defined IMMUTABLE SQL function of the application's own schema.
    name: 'phone',
    sql: 'SELECT id, full_name FROM "HoldI".patients WHERE "HoldI".digits(phone) = $1',
    params: (run) => [String(2_125_550_000 + 17 + run * 4391)],
  },
  {
    // An anchored regular expression on a column in an ICU collation: a btree range on its prefix.
    name: 'rx',
    sql: 'SELECT id, patient_id FROM "HoldI".prescriptions WHERE rx_number ~ $1',
    params: (run) => [['^RX00123', '^RX04567', '^RX07001'][run]],
  },
  {
    // A purge joining the table it deletes from: refill_requests is written (and read) by it alone.
    name: 'purge',
    sql: `DELETE FROM "HoldI".refill_requests r USING "HoldI".prescriptions p
          WHERE r.prescription_id = p.id AND p.patient_id = $1 AND r.requested_at < $2`,
    params: (run) => [101 + run * 977, '2026-06-01'],
  },
  {
    // Per-site stock kept by a MERGE on (sku, site_id), with no key declared on them.
    name: 'merge',
    sql: `MERGE INTO "HoldI".stock s
          USING (SELECT $1::text AS sku, $2::int AS site_id, $3::int AS delta) v
          ON s.sku = v.sku AND s.site_id = v.site_id
          WHEN MATCHED THEN UPDATE SET qty = s.qty + v.delta
          WHEN NOT MATCHED THEN INSERT (sku, site_id, qty) VALUES (v.sku, v.site_id, v.delta)`,
    params: (run) => [`P${String(1000 + run * 37).padStart(5, '0')}`, 1 + run, 3],
  },
];

async function load(): Promise<void> {
  await client.query(`
    CREATE SCHEMA "HoldI";
    CREATE FUNCTION "HoldI".digits(p text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
      AS $$ SELECT regexp_replace(p, '[^0-9]', '', 'g') $$;
    CREATE TABLE "HoldI".patients (id int PRIMARY KEY, full_name text NOT NULL, phone text NOT NULL);
    INSERT INTO "HoldI".patients
    SELECT g, 'Patient ' || g,
           CASE g % 2 WHEN 0 THEN '(' || substr(p, 1, 3) || ') ' || substr(p, 4, 3) || '-' || substr(p, 7, 4)
                      ELSE substr(p, 1, 3) || '.' || substr(p, 4, 3) || '.' || substr(p, 7, 4) END
    FROM generate_series(1, 30000) g, LATERAL (SELECT (2125550000 + g)::text AS p) x;
    CREATE TABLE "HoldI".prescriptions (id int PRIMARY KEY, patient_id int NOT NULL,
      rx_number text COLLATE "und-x-icu" NOT NULL);
    INSERT INTO "HoldI".prescriptions
    SELECT g, 1 + (g::bigint * 7919) % 30000, 'RX' || lpad(((g::bigint * 7919) % 10000000)::text, 7, '0')
    FROM generate_series(1, 150000) g;
    CREATE TABLE "HoldI".refill_requests (id bigserial PRIMARY KEY, prescription_id int NOT NULL,
      requested_at timestamptz NOT NULL);
    INSERT INTO "HoldI".refill_requests (prescription_id, requested_at)
    SELECT 1 + (g::bigint * 7717) % 150000, timestamptz '2026-01-01 00:00:00+00' + (g % 300) * interval '1 day'
    FROM generate_series(1, 60000) g;
    CREATE TABLE "HoldI".stock (id bigserial PRIMARY KEY, sku text NOT NULL, site_id int NOT NULL, qty int NOT NULL);
    INSERT INTO "HoldI".stock (sku, site_id, qty)
    SELECT 'P' || lpad((((g - 1) / 5)::bigint * 7919 % 100000)::text, 5, '0'), 1 + (g - 1) % 5, g % 100
    FROM generate_series(1, 100000) g;
  `);
  await client.query('VACUUM ANALYZE');
}

const harness = advisedFromLogSuite('hi', SHAPES, async (c) => {
  client = c;
  await load();
});
const served = (name: string) => harness().served(name);

describe('holdout-i gaps, from pg_stat_statements plus literal samples', () => {
  it('a function of a mixed-case schema in WHERE gets its expression index, the name quoted', () => {
    const { verdict, definitions } = served('phone');
    // Before: the name "HoldI" was no lower-case identifier, so no expression key ("no indexable condition").
    expect(verdict.verdict, verdict.detail).toBe('improved');
    expect(definitions).toContain('CREATE INDEX NAME ON "HoldI"."patients" (("HoldI".digits("phone")))');
  });

  it('an anchored regular expression gets the btree on its prefix (pattern opclass under ICU)', () => {
    const { statement, verdict, definitions } = served('rx');
    expect(statement.example!.sql).toMatch(/rx_number ~ '\^RX0/);
    // Before: only a trigram index was proposed for `~`, and without pg_trgm nothing.
    expect(verdict.verdict, verdict.detail).toBe('improved');
    expect(definitions).toContain(
      'CREATE INDEX NAME ON "HoldI"."prescriptions" ("rx_number" text_pattern_ops)',
    );
  });

  it('MERGE is planned: its target gets the lookup by the join key', () => {
    const { statement, verdict, definitions } = served('merge');
    // Before: skipped as "not a query (utility statement)".
    expect(statement.skipped).toBeUndefined();
    expect(verdict.verdict, verdict.detail).toBe('improved');
    expect(
      definitions.some((d) => /ON "HoldI"\."stock" \("(sku|site_id)"/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('a DELETE ... USING that the index serves is a read: the table is not refused as write-heavy', () => {
    const { statement, definitions } = served('purge');
    const def = 'CREATE INDEX NAME ON "HoldI"."refill_requests" ("prescription_id")';
    expect(definitions).toContain(def);
    const { advice, workload } = harness();
    const mix = workloadMix(workload);
    const table = advice.recommendations.find((r) => r.tableName === 'refill_requests')!.candidate.table;
    // The DELETE (and the load's INSERT) write the table, nothing reads it otherwise.
    const m = mix.get(table.oid)!;
    expect(m.readCalls).toBe(0);
    expect(m.writeCalls).toBeGreaterThanOrEqual(statement.calls);
    expect(m.findingWrites?.get(statement.id)).toBe(statement.calls);
    const plan = planIndexBuilds({
      recommendations: advice.recommendations,
      config: OptimizationConfigSchema.parse({}),
      existingPerTable: new Map(),
      mix,
      trees: new Map(),
    });
    // Before: skipped, "write-heavy table: 3 write calls against 0 reads".
    expect(plan.skipped.filter((s) => s.table.endsWith('refill_requests'))).toEqual([]);
    expect(plan.steps.map((s) => s.recommendation.tableName)).toContain('refill_requests');
  });
});
