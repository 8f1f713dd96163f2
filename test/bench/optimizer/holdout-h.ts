import { createHash } from 'node:crypto';
import type { BenchWorkload } from './corpus.ts';
import { addDays, pick } from './generate.ts';

// ---------------------------------------------------------------------------------------------------------
// lms: the data's generating functions, mirrored here so that the statements' values hit real rows.

const FIRST_NAMES = [
  'Anna',
  'Ben',
  'Chloe',
  'David',
  'Elena',
  'Felix',
  'Grace',
  'Hugo',
  'Ines',
  'Jonas',
  'Karin',
  'Liam',
  'Maria',
  'Noah',
  'Olga',
  'Paul',
  'Quinn',
  'Rosa',
  'Sven',
  'Tara',
  'Umar',
  'Vera',
  'Wei',
  'Yara',
] as const;
const LAST_NAMES = [
  'Smith',
  'Garcia',
  'Nguyen',
  'Schmidt',
  'Kowalski',
  'Rossi',
  'Martin',
  'Silva',
  'Kim',
  'Johansson',
  'Dubois',
  'Novak',
  'Ivanova',
  'Jensen',
  'Murphy',
  'Lopez',
  'Tanaka',
  'Moreau',
  'Fischer',
  'Andersen',
  'Costa',
  'Horvat',
  'Virtanen',
  'Walsh',
  'Yilmaz',
  'Bianchi',
  'Petrov',
  'Schneider',
  'Larsen',
  'Okafor',
  'Meyer',
  'Hansen',
  'Chen',
  'Singh',
  'Weber',
  'Wagner',
  'Becker',
  'Hoffmann',
  'Koch',
  'Richter',
  'Klein',
  'Wolf',
  'Neumann',
  'Schwarz',
  'Zimmermann',
  'Braun',
  'Hofmann',
  'Hartmann',
  'Lange',
  'Schmitt',
  'Werner',
  'Krause',
  'Lehmann',
  'Kaiser',
  'Fuchs',
  'Peters',
  'Lang',
  'Scholz',
  'Moeller',
  'Vogel',
] as const;
const sqlArray = (xs: readonly string[]): string => `ARRAY[${xs.map((x) => `'${x}'`).join(', ')}]`;

const LMS_STUDENTS = 40_000;
const LMS_ENROLLMENT_DRAWS = 100_000;
const ASSIGNMENTS_PER_COURSE = 6;
const TERM_STARTS = ['2025-01-13', '2025-09-01', '2026-01-12', '2026-08-31'] as const;
/** The course of the g-th enrollment draw: ten big introductory courses take 40% of the draws. */
const courseOfDraw = (g: number): number => ((g * 7919) % 1000 < 400 ? 1 + (g % 10) : 11 + (g % 1990));
const studentOfDraw = (g: number): number => 1 + ((g * 104729) % LMS_STUDENTS);
const assignmentOf = (course: number, k: number): number => (course - 1) * ASSIGNMENTS_PER_COURSE + k;
/** A student submitted an assignment unless this says no (70% submit). */
const submitted = (student: number, assignment: number): boolean =>
  (student * 31 + assignment * 17) % 100 < 70;
const termStart = (course: number): Date => new Date(`${TERM_STARTS[course % 4]}T00:00:00Z`);
const iso = (d: Date): string => d.toISOString();
/** A big course on even rounds, a small one on odd rounds. */
const lmsCourse = (r: number): number => (r % 2 === 0 ? 1 + (r % 10) : 11 + ((r * 37) % 1990));

/**
 * A holdout learning-management system (literal protocol), written without reading the optimizer's rules:
 * students (an e-mail column in an ICU collation, searched by prefix), courses, enrollments (many-to-many,
 * primary key (student_id, course_id)), assignments and submissions with grades. Skewed: ten introductory
 * courses hold 40% of the enrollment draws (about 2,900 students each), the other 1,990 about 30; three
 * programs hold 58% of the students; surnames follow a squared distribution; 70% of the enrolled students
 * submit each assignment, 8% of enrollments are dropped. Shapes: LIKE prefix on the ICU column; a program's
 * directory ORDER BY lower(last_name), lower(first_name) LIMIT; count(DISTINCT student_id) of a course over
 * a window (join assignments -> submissions); students with no submission, an IN over a NOT EXISTS (two
 * levels); OFFSET deep into a course's roster; average grade per assignment GROUP BY; grade UPDATE; INSERT.
 */
export const lms: BenchWorkload = {
  name: 'lms',
  description:
    'a learning-management system (holdout): LIKE prefix on an ICU-collated column, ORDER BY lower(), lower() LIMIT, count(DISTINCT) over a join, IN over NOT EXISTS, deep OFFSET roster, GROUP BY avg, UPDATE, INSERT',
  rows: 450_000,
  async setup(client) {
    await client.query(`
      CREATE SCHEMA lms;
      CREATE TABLE lms.students (id int PRIMARY KEY, program_id int NOT NULL, first_name text NOT NULL,
        last_name text NOT NULL, email text COLLATE "und-x-icu" NOT NULL, cohort int NOT NULL,
        created_at timestamptz NOT NULL);
      CREATE TABLE lms.courses (id int PRIMARY KEY, code text NOT NULL, title text NOT NULL, term text NOT NULL,
        starts_on date NOT NULL);
      CREATE TABLE lms.enrollments (student_id int NOT NULL REFERENCES lms.students (id),
        course_id int NOT NULL REFERENCES lms.courses (id), status text NOT NULL, enrolled_at timestamptz NOT NULL,
        PRIMARY KEY (student_id, course_id));
      CREATE TABLE lms.assignments (id int PRIMARY KEY, course_id int NOT NULL REFERENCES lms.courses (id),
        title text NOT NULL, due_at timestamptz NOT NULL, max_points int NOT NULL);
      CREATE TABLE lms.submissions (id bigserial PRIMARY KEY, assignment_id int NOT NULL REFERENCES lms.assignments (id),
        student_id int NOT NULL REFERENCES lms.students (id), submitted_at timestamptz NOT NULL, grade numeric(5, 2),
        graded_at timestamptz, body text NOT NULL);
      INSERT INTO lms.students
      SELECT g, CASE WHEN h < 30 THEN 1 WHEN h < 48 THEN 2 WHEN h < 58 THEN 3 ELSE 4 + g % 37 END, fn, ln,
             lower(fn) || '.' || lower(ln) || g || '@uni.example', 2019 + g % 7,
             timestamptz '2019-08-01 00:00:00+00' + (g % 2000) * interval '1 day'
      FROM generate_series(1, ${LMS_STUDENTS}) g,
           LATERAL (SELECT (g::bigint * 7919) % 100 AS h,
                           (${sqlArray(FIRST_NAMES)})[1 + (g::bigint * 104729) % ${FIRST_NAMES.length}] AS fn,
                           (${sqlArray(LAST_NAMES)})[1 + floor(${LAST_NAMES.length} * power(((g::bigint * 15485863) % 10007) / 10007.0, 2))::int] AS ln) x;
      INSERT INTO lms.courses
      SELECT c, 'C' || lpad(c::text, 4, '0'), 'Course ' || c, (ARRAY['2025-SP', '2025-FA', '2026-SP', '2026-FA'])[1 + c % 4],
             (${sqlArray(TERM_STARTS)})[1 + c % 4]::date
      FROM generate_series(1, 2000) c;
      INSERT INTO lms.enrollments
      SELECT 1 + (g::bigint * 104729) % ${LMS_STUDENTS}, c.id, CASE WHEN g % 13 = 0 THEN 'dropped' ELSE 'active' END,
             (c.starts_on::timestamp AT TIME ZONE 'UTC') - interval '14 days' + ((g::bigint * 37) % 30240) * interval '1 minute'
      FROM generate_series(1, ${LMS_ENROLLMENT_DRAWS}) g
      JOIN lms.courses c ON c.id = CASE WHEN (g::bigint * 7919) % 1000 < 400 THEN 1 + g % 10 ELSE 11 + g % 1990 END
      ORDER BY g
      ON CONFLICT DO NOTHING;
      INSERT INTO lms.assignments
      SELECT (c.id - 1) * ${ASSIGNMENTS_PER_COURSE} + k, c.id, 'Assignment ' || k,
             (c.starts_on::timestamp AT TIME ZONE 'UTC') + k * interval '14 days' + interval '23 hours 59 minutes', 100
      FROM lms.courses c, generate_series(1, ${ASSIGNMENTS_PER_COURSE}) k;
      INSERT INTO lms.submissions (assignment_id, student_id, submitted_at, grade, graded_at, body)
      SELECT a.id, e.student_id, a.due_at - ((e.student_id * 13 + a.id) % 96) * interval '1 hour',
             CASE WHEN (e.student_id + a.id) % 7 = 0 THEN NULL ELSE 40 + (e.student_id * 7 + a.id * 3) % 61 END,
             CASE WHEN (e.student_id + a.id) % 7 = 0 THEN NULL ELSE a.due_at + interval '3 days' END,
             'answer to ' || a.id || ' by ' || e.student_id
      FROM lms.enrollments e JOIN lms.assignments a ON a.course_id = e.course_id
      WHERE (e.student_id * 31 + a.id * 17) % 100 < 70
      ORDER BY 3, 1, 2;`);
  },
  statements: [
    {
      name: 'student_search',
      sql: 'SELECT id, first_name, last_name, email FROM lms.students WHERE email LIKE $1',
      params: (r) => [
        `${pick(FIRST_NAMES, r * 7).toLowerCase()}.${pick(LAST_NAMES, (r * 11) % 30).toLowerCase()}%`,
      ],
    },
    {
      name: 'directory',
      sql: `SELECT id, first_name, last_name, email FROM lms.students WHERE program_id = $1
            ORDER BY lower(last_name), lower(first_name) LIMIT 50`,
      params: (r) => [r % 3 === 0 ? 1 + (r % 3) : 4 + ((r * 7) % 37)],
    },
    {
      name: 'course_activity',
      sql: `SELECT count(DISTINCT s.student_id) FROM lms.submissions s
            JOIN lms.assignments a ON a.id = s.assignment_id
            WHERE a.course_id = $1 AND s.submitted_at >= $2 AND s.submitted_at < $3`,
      params: (r) => {
        const c = lmsCourse(r);
        return [c, iso(addDays(termStart(c), 10)), iso(addDays(termStart(c), 45))];
      },
    },
    {
      name: 'missing_submissions',
      sql: `SELECT st.id, st.first_name, st.last_name, st.email FROM lms.students st
            WHERE st.id IN (
              SELECT e.student_id FROM lms.enrollments e
              WHERE e.course_id = $1 AND e.status = 'active'
                AND NOT EXISTS (SELECT 1 FROM lms.submissions s WHERE s.assignment_id = $2 AND s.student_id = e.student_id))
            ORDER BY st.last_name, st.first_name`,
      params: (r) => {
        const c = lmsCourse(r + 1);
        return [c, assignmentOf(c, 1 + (r % ASSIGNMENTS_PER_COURSE))];
      },
    },
    {
      name: 'roster_page',
      sql: `SELECT e.student_id, st.first_name, st.last_name, e.enrolled_at FROM lms.enrollments e
            JOIN lms.students st ON st.id = e.student_id
            WHERE e.course_id = $1 AND e.status = 'active'
            ORDER BY e.enrolled_at, e.student_id LIMIT 50 OFFSET $2`,
      params: (r) => [1 + ((r * 3) % 10), 1000 + (r % 15) * 100],
    },
    {
      name: 'grade_report',
      sql: `SELECT a.id, a.title, avg(s.grade) AS average, count(s.grade) AS graded, count(*) AS submitted
            FROM lms.assignments a JOIN lms.submissions s ON s.assignment_id = a.id
            WHERE a.course_id = $1 GROUP BY a.id, a.title ORDER BY a.id`,
      params: (r) => [lmsCourse(r + 3)],
    },
    {
      name: 'set_grade',
      sql: 'UPDATE lms.submissions SET grade = $1, graded_at = now() WHERE assignment_id = $2 AND student_id = $3',
      params: (r) => {
        for (let g = 1 + ((r * 7717) % LMS_ENROLLMENT_DRAWS); ; g = (g % LMS_ENROLLMENT_DRAWS) + 1) {
          const c = courseOfDraw(g);
          const st = studentOfDraw(g);
          for (let k = 1; k <= ASSIGNMENTS_PER_COURSE; k++)
            if (submitted(st, assignmentOf(c, k))) return [50 + (r % 50), assignmentOf(c, k), st];
        }
      },
    },
    {
      name: 'submit',
      sql: `INSERT INTO lms.submissions (assignment_id, student_id, submitted_at, body) VALUES ($1, $2, now(), $3)`,
      params: (r) => {
        const g = 1 + ((r * 4391) % LMS_ENROLLMENT_DRAWS);
        const c = courseOfDraw(g);
        return [assignmentOf(c, ASSIGNMENTS_PER_COURSE), studentOfDraw(g), `late answer ${r}`];
      },
    },
  ],
  handIndexes: [
    // The e-mail column's collation is ICU: LIKE 'prefix%' needs the pattern opclass.
    'CREATE INDEX ON lms.students (email text_pattern_ops)',
    'CREATE INDEX ON lms.students (program_id, lower(last_name), lower(first_name))',
    // A course's roster (deep OFFSET, read from the index alone) and the active students of missing_submissions.
    `CREATE INDEX ON lms.enrollments (course_id, enrolled_at, student_id) WHERE status = 'active'`,
    'CREATE INDEX ON lms.assignments (course_id)',
    // The anti-join's probe, the grade UPDATE's lookup, grade_report from the index alone.
    'CREATE INDEX ON lms.submissions (assignment_id, student_id) INCLUDE (grade)',
    // course_activity: an assignment's submissions within the window, the student from the index.
    'CREATE INDEX ON lms.submissions (assignment_id, submitted_at) INCLUDE (student_id)',
  ],
};

// ---------------------------------------------------------------------------------------------------------
// events

const md5uuid = (s: string): string => {
  const h = createHash('md5').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const streamId = (i: number): string => md5uuid(`stream-${i}`);
const HOT_STREAMS = 100;
const HOT_VERSIONS = 1500;
const STREAMS = 50_000;
/** Events in stream i: a hundred hot aggregates of 1,500 events, the rest 1 to 13. */
const streamLength = (i: number): number => (i <= HOT_STREAMS ? HOT_VERSIONS : 1 + ((i * 7919) % 13));
const smallStream = (r: number): number => HOT_STREAMS + 1 + ((r * 7717) % (STREAMS - HOT_STREAMS));

/**
 * A holdout event store (extended protocol, bind parameters as node-postgres sends them): an events table
 * hash-partitioned on stream_id (8 partitions) with (stream_id, version) unique, a global position from a
 * sequence, a streams table for optimistic concurrency and snapshots. Skewed: a hundred hot streams hold 30%
 * of the events, the other 49,900 between 1 and 13; the event types follow a long tail (three rare types
 * make 1.5%); each correlation id groups about three events. Shapes: read a stream from a version, its head
 * (max(version)), the global catch-up subscription (global_position > $1 ORDER BY LIMIT 500, across the
 * partitions), rare types in a time window (= ANY($1::text[])), a jsonb metadata key lookup, the latest
 * snapshot of a stream, the append INSERT and the optimistic-concurrency UPDATE.
 */
export const events: BenchWorkload = {
  name: 'events',
  description:
    'an event store hash-partitioned on stream_id (holdout, extended protocol): stream reads, max(version), global catch-up ORDER BY position LIMIT, = ANY($1::text[]) + time window, jsonb ->> key, latest snapshot, append, optimistic UPDATE',
  rows: 605_000,
  protocol: 'extended',
  async setup(client) {
    const partitions = Array.from(
      { length: 8 },
      (_, p) =>
        `CREATE TABLE events.events_p${p} PARTITION OF events.events FOR VALUES WITH (MODULUS 8, REMAINDER ${p});`,
    ).join('\n');
    await client.query(`
      CREATE SCHEMA events;
      CREATE SEQUENCE events.global_position_seq;
      CREATE TABLE events.streams (stream_id uuid PRIMARY KEY, stream_type text NOT NULL, version int NOT NULL,
        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
      CREATE TABLE events.events (
        global_position bigint NOT NULL DEFAULT nextval('events.global_position_seq'),
        stream_id uuid NOT NULL, version int NOT NULL, event_type text NOT NULL, data jsonb NOT NULL,
        metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (stream_id, version)) PARTITION BY HASH (stream_id);
      ${partitions}
      CREATE TABLE events.snapshots (snapshot_id bigserial PRIMARY KEY, stream_id uuid NOT NULL,
        snapshot_type text NOT NULL, version int NOT NULL, taken_at timestamptz NOT NULL, state jsonb NOT NULL);
      INSERT INTO events.streams
      SELECT md5('stream-' || i)::uuid, (ARRAY['order', 'cart', 'account', 'inventory'])[1 + i % 4],
             CASE WHEN i <= ${HOT_STREAMS} THEN ${HOT_VERSIONS} ELSE 1 + (i * 7919) % 13 END,
             timestamptz '2026-01-01 00:00:00+00' + ((i::bigint * 104729) % 2592000) * interval '1 second',
             timestamptz '2026-10-28 00:00:00+00'
      FROM generate_series(1, ${STREAMS}) i;
      INSERT INTO events.events (global_position, stream_id, version, event_type, data, metadata, recorded_at)
      SELECT row_number() OVER (ORDER BY ts, i, v), md5('stream-' || i)::uuid, v,
             CASE WHEN h < 300 THEN 'ItemAdded' WHEN h < 450 THEN 'ItemRemoved' WHEN h < 600 THEN 'PriceChanged'
                  WHEN h < 700 THEN 'AddressChanged' WHEN h < 780 THEN 'OrderPlaced' WHEN h < 850 THEN 'OrderShipped'
                  WHEN h < 910 THEN 'InvoiceIssued' WHEN h < 960 THEN 'PaymentReceived' WHEN h < 985 THEN 'NoteAdded'
                  WHEN h < 993 THEN 'PaymentFailed' WHEN h < 998 THEN 'RefundIssued' ELSE 'AccountLocked' END,
             jsonb_build_object('sku', 'SKU-' || ((i * v) % 5000), 'qty', 1 + v % 5),
             jsonb_build_object('correlation_id', md5('corr-' || i || '-' || (v / 3))::uuid::text,
                                'causation_id', md5('cause-' || i || '-' || v)::uuid::text,
                                'user_id', 'u' || (i % 5000), 'source', 'api'),
             ts
      FROM generate_series(1, ${STREAMS}) i,
           LATERAL generate_series(1, CASE WHEN i <= ${HOT_STREAMS} THEN ${HOT_VERSIONS} ELSE 1 + (i * 7919) % 13 END) v,
           LATERAL (SELECT (i * 31 + v * 17) % 1000 AS h,
                           CASE WHEN i <= ${HOT_STREAMS}
                                THEN timestamptz '2026-01-01 00:00:00+00' + (v * 17280 + i * 60) * interval '1 second'
                                ELSE timestamptz '2026-01-01 00:00:00+00' + ((i::bigint * 104729) % 25920000) * interval '1 second'
                                     + v * 37 * interval '1 minute' END AS ts) x
      ORDER BY ts, i, v;
      SELECT setval('events.global_position_seq', (SELECT max(global_position) FROM events.events));
      INSERT INTO events.snapshots (stream_id, snapshot_type, version, taken_at, state)
      SELECT md5('stream-' || i)::uuid, t, v, timestamptz '2026-01-01 00:00:00+00' + v * 17280 * interval '1 second',
             jsonb_build_object('version', v, 'items', v % 40)
      FROM generate_series(1, ${HOT_STREAMS}) i, generate_series(50, ${HOT_VERSIONS}, 50) v,
           unnest(ARRAY['aggregate', 'projection']) t
      UNION ALL
      SELECT md5('stream-' || i)::uuid, 'aggregate', 1 + (i * 7919) % 13, timestamptz '2026-10-01 00:00:00+00',
             jsonb_build_object('version', 1 + (i * 7919) % 13, 'items', i % 40)
      FROM generate_series(${HOT_STREAMS + 1}, ${STREAMS}) i
      ORDER BY 4, 1;`);
  },
  statements: [
    {
      name: 'read_stream',
      sql: `SELECT version, event_type, data, recorded_at FROM events.events
            WHERE stream_id = $1 AND version > $2 ORDER BY version`,
      params: (r) =>
        r % 2 === 0
          ? [streamId(1 + ((r * 7) % HOT_STREAMS)), HOT_VERSIONS - 40 - (r % 30)]
          : [streamId(smallStream(r)), 0],
    },
    {
      name: 'stream_head',
      sql: 'SELECT max(version) FROM events.events WHERE stream_id = $1',
      params: (r) => [streamId(r % 3 === 0 ? 1 + (r % HOT_STREAMS) : smallStream(r + 5))],
    },
    {
      name: 'catch_up',
      sql: `SELECT global_position, stream_id, version, event_type, data FROM events.events
            WHERE global_position > $1 ORDER BY global_position LIMIT 500`,
      params: (r) => [String(300_000 + ((r * 9973) % 190_000))],
    },
    {
      name: 'by_type',
      sql: `SELECT global_position, stream_id, event_type, recorded_at FROM events.events
            WHERE event_type = ANY($1::text[]) AND recorded_at >= $2 ORDER BY recorded_at`,
      params: (r) => [
        r % 3 === 2 ? ['AccountLocked'] : ['PaymentFailed', 'RefundIssued'],
        iso(addDays(new Date('2026-09-01T00:00:00Z'), r % 30)),
      ],
    },
    {
      name: 'by_correlation',
      sql: `SELECT global_position, stream_id, version, event_type, recorded_at FROM events.events
            WHERE metadata ->> 'correlation_id' = $1`,
      params: (r) => {
        const i = r % 2 === 0 ? 1 + (r % HOT_STREAMS) : smallStream(r + 11);
        return [md5uuid(`corr-${i}-${Math.floor(((r * 31) % streamLength(i)) / 3)}`)];
      },
    },
    {
      name: 'latest_snapshot',
      sql: `SELECT version, state FROM events.snapshots WHERE stream_id = $1 AND snapshot_type = $2
            ORDER BY version DESC LIMIT 1`,
      params: (r) =>
        r % 2 === 0
          ? [streamId(1 + ((r * 13) % HOT_STREAMS)), pick(['aggregate', 'projection'], r / 2)]
          : [streamId(smallStream(r + 17)), 'aggregate'],
    },
    {
      name: 'append',
      sql: `INSERT INTO events.events (stream_id, version, event_type, data, metadata)
            VALUES ($1, $2, $3, $4, $5) RETURNING global_position`,
      params: (r) => [
        streamId(1 + (r % HOT_STREAMS)),
        100_000 + r,
        pick(['ItemAdded', 'PriceChanged', 'OrderPlaced'], r),
        JSON.stringify({ sku: `SKU-${r % 5000}`, qty: 1 }),
        JSON.stringify({
          correlation_id: md5uuid(`new-${r}`),
          causation_id: md5uuid(`new-cause-${r}`),
          source: 'api',
        }),
      ],
    },
    {
      name: 'bump_stream',
      sql: `UPDATE events.streams SET version = version + 1, updated_at = now()
            WHERE stream_id = $1 AND version = $2`,
      params: (r) => {
        const i = smallStream(r + 23);
        return [streamId(i), streamLength(i)];
      },
    },
  ],
  handIndexes: [
    // read_stream and stream_head are served by the (stream_id, version) unique index; latest_snapshot is not.
    'CREATE INDEX ON events.events (global_position)',
    'CREATE INDEX ON events.events (event_type, recorded_at)',
    `CREATE INDEX ON events.events ((metadata ->> 'correlation_id'))`,
    'CREATE INDEX ON events.snapshots (stream_id, snapshot_type, version DESC)',
  ],
};
