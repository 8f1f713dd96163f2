import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { JobLauncher } from '../../ports.ts';

/**
 * JobLauncher in AWS: an asynchronous invoke (InvocationType Event) of the maintainer Lambda with the
 * job event. Lambda queues the event and answers 202 at once, so the sampler's minute is not spent on
 * the optimize run; Lambda retries a failed async run itself.
 */
export class LambdaJobLauncher implements JobLauncher {
  private clientInstance: LambdaClient | undefined;
  private readonly factory: (() => LambdaClient) | undefined;

  /** The maintainer's function name or ARN (env DGM_MAINTAINER_FUNCTION). */
  private readonly functionName: string;

  constructor(
    functionName: string,
    /** A client, or a factory called on first use (module init stays cheap in the Lambda). */
    client?: LambdaClient | (() => LambdaClient),
  ) {
    this.functionName = functionName;
    if (client instanceof LambdaClient) this.clientInstance = client;
    else this.factory = client;
  }

  private get client(): LambdaClient {
    this.clientInstance ??=
      this.factory?.() ??
      new LambdaClient({
        maxAttempts: 3,
        requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 },
      });
    return this.clientInstance;
  }

  async launch(
    event: Parameters<JobLauncher['launch']>[0],
  ): Promise<{ launched: boolean; detail?: unknown }> {
    const payload = {
      task: event.task,
      ...(event.target ? { target: event.target } : {}),
      ...(event.dryRun !== undefined ? { dryRun: event.dryRun } : {}),
      ...(event.reason ? { reason: event.reason.slice(0, 200) } : {}),
    };
    const res = await this.client.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    );
    if (res.StatusCode !== 202) {
      throw new Error(`async invoke of ${this.functionName} answered ${res.StatusCode}, expected 202`);
    }
    return {
      launched: true,
      detail: {
        functionName: this.functionName,
        statusCode: res.StatusCode,
        requestId: res.$metadata.requestId,
      },
    };
  }
}
