import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  paginateScan,
} from '@aws-sdk/client-dynamodb';
import type { RegisteredTarget, TargetRegistry } from '../../ports.ts';

/**
 * The fleet's target registry on DynamoDB (partition key `name`, as the stack creates it). One item per
 * database, with plain attributes so an operator can add one with `aws dynamodb put-item`:
 * name, host, port (N), database, secretArn, placement, config (S, JSON of the runtime overrides),
 * enabled (BOOL, optional). The stack seeds cdk.json's targets (source = cdk.json); items an operator
 * writes are never touched by a deploy.
 */
export class DynamoDbTargetRegistry implements TargetRegistry {
  private clientInstance: DynamoDBClient | undefined;
  private readonly tableName: string;

  constructor(tableName: string, client?: DynamoDBClient) {
    this.tableName = tableName;
    this.clientInstance = client;
  }

  private get client(): DynamoDBClient {
    this.clientInstance ??= new DynamoDBClient({
      maxAttempts: 3,
      requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 },
    });
    return this.clientInstance;
  }

  async list(): Promise<RegisteredTarget[]> {
    const out: RegisteredTarget[] = [];
    for await (const page of paginateScan({ client: this.client }, { TableName: this.tableName })) {
      for (const item of page.Items ?? []) out.push(targetFromItem(item));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<RegisteredTarget | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { name: { S: name } } }),
    );
    return out.Item ? targetFromItem(out.Item) : undefined;
  }
}

/** Marks the items a deploy wrote from cdk.json; only those does a later deploy update or remove. */
export const SEEDED_SOURCE = 'cdk.json';

/**
 * Writes cdk.json's targets into the registry and removes those an earlier deploy wrote that cdk.json no
 * longer lists. Items an operator added (no source cdk.json) are never overwritten or removed: a put of
 * a name an operator registered is refused by its condition and reported.
 */
export async function seedRegistry(
  client: DynamoDBClient,
  tableName: string,
  targets: RegisteredTarget[],
): Promise<{ put: number; removed: string[]; conflicts: string[] }> {
  const names = new Set(targets.map((t) => t.name));
  const conflicts: string[] = [];
  let put = 0;
  const queue = [...targets];
  const worker = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: itemFromTarget(t, { source: SEEDED_SOURCE }),
            ConditionExpression: 'attribute_not_exists(#n) OR #s = :seeded',
            ExpressionAttributeNames: { '#n': 'name', '#s': 'source' },
            ExpressionAttributeValues: { ':seeded': { S: SEEDED_SOURCE } },
          }),
        );
        put++;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        conflicts.push(t.name);
      }
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  const removed: string[] = [];
  for await (const page of paginateScan(
    { client },
    {
      TableName: tableName,
      FilterExpression: '#s = :seeded',
      ProjectionExpression: '#n',
      ExpressionAttributeNames: { '#n': 'name', '#s': 'source' },
      ExpressionAttributeValues: { ':seeded': { S: SEEDED_SOURCE } },
    },
  )) {
    for (const item of page.Items ?? []) {
      const name = item.name?.S;
      if (!name || names.has(name)) continue;
      try {
        await client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: { name: { S: name } },
            ConditionExpression: '#s = :seeded',
            ExpressionAttributeNames: { '#s': 'source' },
            ExpressionAttributeValues: { ':seeded': { S: SEEDED_SOURCE } },
          }),
        );
        removed.push(name);
      } catch (err) {
        // An operator took the name over since the scan: it is theirs now.
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
    }
  }
  return { put, removed, conflicts: conflicts.sort() };
}

/** The registry item of a target (what the deploy seeds and the docs show for put-item). */
export function itemFromTarget(
  t: RegisteredTarget,
  extra: Record<string, string> = {},
): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    name: { S: t.name },
    host: { S: t.host },
    port: { N: String(t.port) },
    database: { S: t.database },
    secretArn: { S: t.secretArn },
    config: { S: JSON.stringify(t.config ?? {}) },
  };
  if (t.placement) item.placement = { S: t.placement };
  if (t.enabled !== undefined) item.enabled = { BOOL: t.enabled };
  if (t.rdsInstanceId) item.rdsInstanceId = { S: t.rdsInstanceId };
  for (const [k, v] of Object.entries(extra)) item[k] = { S: v };
  return item;
}

/**
 * A target from its item. Malformed attributes are passed on as they are (a bad port as NaN, bad config
 * JSON as a string): the reader validates them and reports the one bad entry, not the whole list.
 */
export function targetFromItem(item: Record<string, AttributeValue>): RegisteredTarget {
  let config: unknown = {};
  if (item.config?.S) {
    try {
      config = JSON.parse(item.config.S);
    } catch {
      config = item.config.S;
    }
  }
  return {
    name: item.name?.S ?? '',
    host: item.host?.S ?? '',
    port: item.port?.N ? Number(item.port.N) : 5432,
    database: item.database?.S ?? 'postgres',
    secretArn: item.secretArn?.S ?? '',
    placement: item.placement?.S,
    config: config as Record<string, unknown>,
    enabled: item.enabled?.BOOL,
    rdsInstanceId: item.rdsInstanceId?.S,
  };
}

/** The registry the stack configured (env DGM_TARGET_TABLE), if any. */
export function targetRegistryFromEnv(
  env: Record<string, string | undefined> = process.env,
): DynamoDbTargetRegistry | undefined {
  return env.DGM_TARGET_TABLE ? new DynamoDbTargetRegistry(env.DGM_TARGET_TABLE) : undefined;
}
