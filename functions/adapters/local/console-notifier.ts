import { renderConsole } from '../../alerting/render.ts';
import type { AlertNotification, Notifier } from '../../ports.ts';

/**
 * The CLI's notifier: prints each grouped notification as the email and the Slack message would show
 * it. It writes to stderr by default, so `--json` output on stdout stays one document.
 */
export class ConsoleNotifier implements Notifier {
  readonly published: AlertNotification[] = [];

  private readonly write: (text: string) => void;

  constructor(write: (text: string) => void = (t) => process.stderr.write(t)) {
    this.write = write;
  }

  async publish(notification: AlertNotification): Promise<void> {
    this.published.push(notification);
    this.write(`${renderConsole(notification)}\n`);
  }
}
