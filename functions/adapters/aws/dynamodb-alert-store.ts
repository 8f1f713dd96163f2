import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AlertStateStore, StoredAlertState } from '../../ports.ts';

/**
 * AlertStateStore on DynamoDB (table with partition key `pk` (S) and TTL attribute `expiresAt`, as the
 * stack creates it). Each record is one item: `version` (N) for compare-and-set, `state` (S) the JSON
 * document, `expiresAt` (N, epoch seconds) so records of removed targets expire.
 */
export class DynamoDbAlertStateStore implements AlertStateStore {
  private clientInstance: DynamoDBClient | undefined;
  private readonly factory: (() => DynamoDBClient) | undefined;

  private readonly tableName: string;
  private readonly now: () => number;

  constructor(
    tableName: string,
    /** A client, or a factory called on first use (module init stays cheap in the Lambda). */
    client?: DynamoDBClient | (() => DynamoDBClient),
    now: () => number = Date.now,
  ) {
    this.tableName = tableName;
    this.now = now;
    if (client instanceof DynamoDBClient) this.clientInstance = client;
    else this.factory = client;
  }

  private get client(): DynamoDBClient {
    // Few attempts and short timeouts: an unreachable table must fail fast so alerts fail open in time.
    this.clientInstance ??=
      this.factory?.() ??
      new DynamoDBClient({
        maxAttempts: 2,
        requestHandler: { requestTimeout: 3_000, connectionTimeout: 2_000 },
      });
    return this.clientInstance;
  }

  async get(key: string): Promise<StoredAlertState | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
    );
    const item = out.Item;
    if (!item) return undefined;
    // DynamoDB deletes expired items lazily (up to days later): an expired item counts as absent, but
    // its version still guards the next write.
    const expiresAt = item.expiresAt?.N ? Number(item.expiresAt.N) : undefined;
    const version = Number(item.version?.N ?? '0');
    if (expiresAt !== undefined && expiresAt * 1000 < this.now()) return { key, version, data: {} };
    return { key, version, data: JSON.parse(item.state?.S ?? '{}') as Record<string, unknown> };
  }

  async compareAndSet(
    key: string,
    expectedVersion: number,
    data: Record<string, unknown>,
    ttlSeconds?: number,
  ): Promise<boolean> {
    const item: Record<string, { S: string } | { N: string }> = {
      pk: { S: key },
      version: { N: String(expectedVersion + 1) },
      state: { S: JSON.stringify(data) },
      updatedAt: { S: new Date(this.now()).toISOString() },
    };
    if (ttlSeconds) item.expiresAt = { N: String(Math.floor(this.now() / 1000) + ttlSeconds) };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ...(expectedVersion === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#v = :expected',
                ExpressionAttributeNames: { '#v': 'version' },
                ExpressionAttributeValues: { ':expected': { N: String(expectedVersion) } },
              }),
        }),
      );
      return true;
    } catch (err) {
      if (
        err instanceof ConditionalCheckFailedException ||
        (err as { name?: string }).name === 'ConditionalCheckFailedException'
      ) {
        return false;
      }
      throw err;
    }
  }
}
