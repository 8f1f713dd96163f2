import {
  DescribeDBLogFilesCommand,
  type DescribeDBLogFilesCommandOutput,
  DownloadDBLogFilePortionCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import type { LogFile, LogPortion, LogSource } from '../../ports.ts';

/**
 * An RDS instance's PostgreSQL log through the RDS API (DescribeDBLogFiles, DownloadDBLogFilePortion);
 * the IAM grant (lib/placement.ts) covers the instances tagged like their secrets. Only the stderr format is read
 * (not the .csv/.json files of other log_destination settings). Markers are RDS's own.
 */
export class RdsLogSource implements LogSource {
  readonly name: string;
  private readonly rds: RDSClient;
  private readonly instanceId: string;

  constructor(rds: RDSClient, instanceId: string) {
    this.rds = rds;
    this.instanceId = instanceId;
    this.name = `rds:${instanceId}`;
  }

  async list(): Promise<LogFile[]> {
    const files: LogFile[] = [];
    let marker: string | undefined;
    do {
      const out: DescribeDBLogFilesCommandOutput = await this.rds.send(
        new DescribeDBLogFilesCommand({ DBInstanceIdentifier: this.instanceId, Marker: marker }),
      );
      for (const f of out.DescribeDBLogFiles ?? []) {
        if (!f.LogFileName || /\.(csv|json|gz)$/.test(f.LogFileName)) continue;
        files.push({ name: f.LogFileName, size: f.Size ?? 0, modifiedAt: new Date(f.LastWritten ?? 0) });
      }
      marker = out.Marker;
    } while (marker);
    return files.sort(
      (a, b) => a.modifiedAt.getTime() - b.modifiedAt.getTime() || a.name.localeCompare(b.name),
    );
  }

  async read(file: string, marker: string, maxBytes: number): Promise<LogPortion> {
    let text = '';
    let position = marker || '0';
    let more = true;
    // Each call returns at most 1 MB (RDS's limit); calls go on until maxBytes or the file's end.
    while (more && Buffer.byteLength(text) < maxBytes) {
      const out = await this.rds.send(
        new DownloadDBLogFilePortionCommand({
          DBInstanceIdentifier: this.instanceId,
          LogFileName: file,
          Marker: position,
        }),
      );
      const data = out.LogFileData ?? '';
      more = Boolean(out.AdditionalDataPending);
      if (out.Marker) position = out.Marker;
      if (data.length === 0) break;
      text += data.endsWith('\n') ? data : `${data}\n`;
    }
    return { text, marker: position, more };
  }
}
