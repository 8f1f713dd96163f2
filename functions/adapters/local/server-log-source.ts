import type pg from 'pg';
import { ownComment } from '../../monitor/own-statements.ts';
import type { LogFile, LogPortion, LogSource } from '../../ports.ts';

/**
 * The server's log read through the server itself: pg_ls_logdir() lists log_directory, and
 * pg_read_binary_file() reads a bounded part of a file (a superuser, or a role with pg_monitor and
 * pg_read_server_files). Only the stderr format (*.log) is read. The text is cut after its last whole
 * line; the marker is the byte offset after it.
 */
export class ServerLogSource implements LogSource {
  readonly name = 'server';
  private readonly client: pg.Client;

  constructor(client: pg.Client) {
    this.client = client;
  }

  async list(): Promise<LogFile[]> {
    const { rows } = await this.client.query<{ name: string; size: string; modification: Date }>(
      `SELECT ${ownComment('optimizer')} name, size, modification FROM pg_ls_logdir()
       WHERE name LIKE '%.log' ORDER BY modification, name`,
    );
    return rows.map((r) => ({ name: r.name, size: Number(r.size), modifiedAt: new Date(r.modification) }));
  }

  /** Markers are byte offsets: the last maxBytes of the file, unless the marker is already past them. */
  tailMarker(file: LogFile, marker: string, maxBytes: number): string {
    return String(Math.max(Number.parseInt(marker, 10) || 0, file.size - maxBytes));
  }

  async read(file: string, marker: string, maxBytes: number): Promise<LogPortion> {
    const offset = Math.max(0, Number.parseInt(marker, 10) || 0);
    const { rows } = await this.client.query<{ data: Buffer | null; size: string }>(
      `SELECT ${ownComment('optimizer')} pg_read_binary_file(path, $2, $3) AS data, (pg_stat_file(path)).size AS size
       FROM (SELECT current_setting('log_directory') || '/' || $1 AS path) p`,
      [file, offset, maxBytes],
    );
    const data = rows[0]?.data ?? Buffer.alloc(0);
    const size = Number(rows[0]?.size ?? 0);
    // Whole lines only: the rest is read again next time (a line longer than maxBytes is taken whole).
    const lastNewline = data.lastIndexOf(0x0a);
    const consumed = lastNewline >= 0 ? lastNewline + 1 : data.length >= maxBytes ? data.length : 0;
    return {
      text: data.subarray(0, consumed).toString('utf8'),
      marker: String(offset + consumed),
      more: offset + consumed < size,
    };
  }
}
