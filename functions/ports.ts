/**
 * The only seams between jobs and the outside world. A handler (Lambda) or the CLI picks the adapters
 * and passes them in; jobs never import an adapter. PostgreSQL is never behind a port: tests use a
 * real server.
 */

export type MetricUnit =
  | 'Seconds'
  | 'Milliseconds'
  | 'Bytes'
  | 'Count'
  | 'Count/Second'
  | 'Bytes/Second'
  | 'Percent'
  | 'None';

/** One measurement, shaped like a CloudWatch datum; the Prometheus text is rendered from the same list. */
export interface MetricDatum {
  /** CloudWatch metric name, e.g. QueryDurationSeconds. */
  name: string;
  value: number;
  unit: MetricUnit;
  /** Always DBInstance; Table, Operation or State where they mean something. */
  dimensions: Record<string, string>;
  timestamp?: Date;
}

export interface MetricSinkResult {
  sent: number;
  failed: number;
  calls: number;
  errors: string[];
}

export interface MetricSink {
  put(datums: MetricDatum[]): Promise<MetricSinkResult>;
}

export type Severity = 'info' | 'warning' | 'critical';

/** The design's DatabaseAlert, plus where it applies. `name` is the rule (the alert_type label). */
export interface DatabaseAlert {
  name: string;
  severity: Severity;
  message: string;
  metric_value: number | null;
  threshold: number | null;
  timestamp: string;
  target: string;
  /** What the alert is about within the target: 'database', a table, a statement, a job. */
  resource: string;
}

/** What a notification says happened to an alert. */
export type AlertTransition = 'firing' | 'escalated' | 'renotify' | 'resolved' | 'flapping';

export interface AlertNotificationItem {
  transition: AlertTransition;
  alert: DatabaseAlert;
  /** When the alert started firing (ISO); resolved items also carry resolvedAt. */
  firingSince?: string;
  resolvedAt?: string;
  /** The severity notified before an escalation. */
  previousSeverity?: Severity;
  /** Human title of the rule, e.g. "Connection utilization". */
  title: string;
  /** How metric_value and threshold read: ratio, ms, seconds, bytes, count, intervals, xids. */
  unit: string;
  /** What to do about it: the rule's runbook line (and a link when configured). */
  runbook: string;
}

/** One grouped message: every transition of one run for one target. */
export interface AlertNotification {
  /** Unique per run (a claim id): subscribers can deduplicate on it. */
  id: string;
  target: string;
  generatedAt: string;
  items: AlertNotificationItem[];
  /** Alerts due but held back by max_alerts_per_hour; they go out in a later run. */
  heldBack: Array<{ name: string; resource: string; severity: Severity }>;
  /** Set when the message was sent without the state store (fail open). */
  degraded?: string;
}

export interface Notifier {
  /** Sends one grouped message; throws when it could not be sent (the state stays un-notified). */
  publish(notification: AlertNotification): Promise<void>;
}

/** A stored record with its version for compare-and-set. */
export interface StoredAlertState {
  key: string;
  /** Starts at 1 on the first write; 0 means absent. */
  version: number;
  data: Record<string, unknown>;
}

/**
 * Versioned records (the alert job keeps one per target). Every write is conditional on the version
 * read, so concurrent invocations can never both claim the same notification.
 */
export interface AlertStateStore {
  get(key: string): Promise<StoredAlertState | undefined>;
  /**
   * Writes data if the stored version still equals expectedVersion (0: absent), as version
   * expectedVersion + 1. Returns false when another invocation won the race; throws when the store
   * cannot be reached.
   */
  compareAndSet(
    key: string,
    expectedVersion: number,
    data: Record<string, unknown>,
    ttlSeconds?: number,
  ): Promise<boolean>;
}

/** The RDS secret shape (rotation keeps it). */
export interface DatabaseSecret {
  username: string;
  password: string;
  host?: string;
  port?: number;
  dbname?: string;
}

/** A database's credentials: Secrets Manager in AWS, the URL's user and password locally. */
export interface SecretsProvider {
  /** The secret's current value; forceRefresh skips any cache (after an authentication failure). */
  getDatabaseSecret(secretArn: string, options?: { forceRefresh?: boolean }): Promise<DatabaseSecret>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Starts a job elsewhere: in AWS an async Lambda invoke of the maintainer, in the CLI the job inline. */
export interface JobLauncher {
  launch(event: {
    task: string;
    target?: string;
    dryRun?: boolean;
    reason?: string;
  }): Promise<{ launched: boolean; detail?: unknown }>;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** One file of the database server's log, as its source lists it. */
export interface LogFile {
  name: string;
  size: number;
  /** When it was last written (files are read oldest first). */
  modifiedAt: Date;
}

/** A bounded part of a log file, and where the next read starts. */
export interface LogPortion {
  text: string;
  /** The position after this portion, for the next read of the same file (opaque to the reader). */
  marker: string;
  /** Whether the file held more than this read returned when it was read. */
  more: boolean;
}

/**
 * The database server's log: locally read through the server (pg_ls_logdir, pg_read_binary_file), on
 * RDS through DescribeDBLogFiles and DownloadDBLogFilePortion. Reads whole lines.
 */
export interface LogSource {
  /** What the source reads, for messages: 'server', 'rds:<instance>'. */
  readonly name: string;
  /** The log files, oldest first. Throws when the log cannot be listed (with the reason). */
  list(): Promise<LogFile[]>;
  /** Reads up to about maxBytes of file from marker ('0': its start). */
  read(file: string, marker: string, maxBytes: number): Promise<LogPortion>;
  /**
   * Where to read file from so that at most about maxBytes of it are left: marker itself when no more
   * than that is left after it. Sources whose markers are not positions in the file leave it out (the
   * reader then goes on from the marker).
   */
  tailMarker?(file: LogFile, marker: string, maxBytes: number): string;
}

/**
 * A database of the fleet as the registry holds it (DynamoDB in AWS, DGM_TARGETS locally): where it is,
 * the secret it is reached with, the network placement whose functions reach it, and its config overrides.
 */
export interface RegisteredTarget {
  name: string;
  host: string;
  port: number;
  database: string;
  secretArn: string;
  /** The network placement (VPC, subnets, security group) whose functions reach this database. */
  placement?: string;
  /** Per-target overrides of the runtime config. */
  config: Record<string, unknown>;
  /** A disabled target stays registered but no fan-out runs it. */
  enabled?: boolean;
  /** The RDS DBInstanceIdentifier, when the target is an RDS instance: the optimizer reads its log. */
  rdsInstanceId?: string;
}

/** Where the fleet's targets live: read by the fan-out (list) and by each function (get). */
export interface TargetRegistry {
  list(): Promise<RegisteredTarget[]>;
  get(name: string): Promise<RegisteredTarget | undefined>;
}
