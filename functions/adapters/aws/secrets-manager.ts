import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DatabaseSecret, SecretsProvider } from '../../ports.ts';

/** Reads RDS-format secrets, cached per container for ttlMs; never logs a value. */
export class SecretsManagerSecrets implements SecretsProvider {
  private readonly cache = new Map<string, { value: DatabaseSecret; at: number }>();

  private readonly client: SecretsManagerClient;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    client: SecretsManagerClient = new SecretsManagerClient({}),
    ttlMs: number = 5 * 60_000,
    now: () => number = Date.now,
  ) {
    this.client = client;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  async getDatabaseSecret(
    secretArn: string,
    options: { forceRefresh?: boolean } = {},
  ): Promise<DatabaseSecret> {
    const hit = this.cache.get(secretArn);
    if (hit && !options.forceRefresh && this.now() - hit.at < this.ttlMs) return hit.value;
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: secretArn }));
    if (!out.SecretString) throw new Error(`secret ${secretArn} has no SecretString`);
    let parsed: Partial<DatabaseSecret>;
    try {
      parsed = JSON.parse(out.SecretString);
    } catch {
      throw new Error(`secret ${secretArn} is not JSON in the RDS format`);
    }
    if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string') {
      throw new Error(`secret ${secretArn} lacks username or password`);
    }
    const value: DatabaseSecret = { ...parsed, username: parsed.username, password: parsed.password };
    this.cache.set(secretArn, { value, at: this.now() });
    return value;
  }

  private readonly strings = new Map<string, { value: string; at: number }>();

  /** A secret's SecretString as stored (e.g. a webhook URL), cached like the database secrets. */
  async getSecretString(secretArn: string, options: { forceRefresh?: boolean } = {}): Promise<string> {
    const hit = this.strings.get(secretArn);
    if (hit && !options.forceRefresh && this.now() - hit.at < this.ttlMs) return hit.value;
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: secretArn }));
    if (out.SecretString === undefined) throw new Error(`secret ${secretArn} has no SecretString`);
    this.strings.set(secretArn, { value: out.SecretString, at: this.now() });
    return out.SecretString;
  }
}
