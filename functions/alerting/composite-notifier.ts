import { errorMessage } from '../errors.ts';
import type { AlertNotification, Notifier } from '../ports.ts';

/**
 * One Notifier over several channels (SNS, a Slack webhook, the console...): each grouped notification
 * goes to every channel at once. The claim loop treats a notification as delivered when any channel
 * took it: it throws only when every channel failed (the claims are then released and the next run
 * sends it again), so one channel that is down neither silences the others nor makes them repeat the
 * message every run. A channel's failure is handed to onChannelError (a logger, say).
 */
export class CompositeNotifier implements Notifier {
  private readonly channels: ReadonlyArray<{ name: string; notifier: Notifier }>;
  private readonly onChannelError: (channel: string, error: string) => void;

  constructor(
    channels: ReadonlyArray<{ name: string; notifier: Notifier }>,
    onChannelError: (channel: string, error: string) => void = () => {},
  ) {
    if (channels.length === 0) throw new Error('CompositeNotifier needs at least one channel');
    this.channels = channels;
    this.onChannelError = onChannelError;
  }

  async publish(notification: AlertNotification): Promise<void> {
    const outcomes = await Promise.allSettled(this.channels.map((c) => c.notifier.publish(notification)));
    const failures: string[] = [];
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') return;
      const name = this.channels[i]!.name;
      const error = errorMessage(o.reason);
      failures.push(`${name}: ${error}`);
      this.onChannelError(name, error);
    });
    if (failures.length === this.channels.length) {
      throw new Error(`every alert channel failed (${failures.join('; ')})`);
    }
  }
}
