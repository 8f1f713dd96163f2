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

/** The design's DatabaseAlert. */
export interface DatabaseAlert {
  name: string;
  severity: Severity;
  message: string;
  metric_value: number;
  threshold: number;
  timestamp: string;
  target: string;
  resource: string;
}

export type AlertTransition = 'firing' | 'escalated' | 'renotify' | 'resolved' | 'flapping';

export interface AlertNotification {
  target: string;
  items: Array<{ transition: AlertTransition; alert: DatabaseAlert }>;
}

export interface Notifier {
  /** Sends one grouped message; throws when it could not be sent (the state stays un-notified). */
  publish(notification: AlertNotification): Promise<void>;
}

/** A stored alert state with its version for compare-and-set. */
export interface StoredAlertState {
  key: string;
  version: number;
  data: Record<string, unknown>;
}

export interface AlertStateStore {
  /** All states of a target (including the target's rate-limit record). */
  list(target: string): Promise<StoredAlertState[]>;
  get(key: string): Promise<StoredAlertState | undefined>;
  /**
   * Writes data if the stored version still equals expectedVersion (0: absent). Returns false when
   * another invocation won the race.
   */
  compareAndSet(
    key: string,
    expectedVersion: number,
    data: Record<string, unknown>,
    ttlSeconds?: number,
  ): Promise<boolean>;
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
