import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { validateAlertRules } from '../functions/alerting/rules.ts';
import { parseDeploymentConfig, resolveTargetRuntimeConfig } from '../functions/deployment.ts';
import { BadInputError } from '../functions/errors.ts';
import { jsonSyntaxError } from '../functions/format/redact.ts';
import { DgmDbOpsStack } from '../lib/dgm-db-ops-stack.ts';

/**
 * The CDK entry (`npx cdk synth|deploy`): the only place that reads context. The deployment config is
 * the context key `dgm` (cdk.json, or `-c dgm='{"demo":true}'` as JSON text), validated field by field.
 */
const app = new App();
const raw: unknown = app.node.tryGetContext('dgm');
let config: ReturnType<typeof parseDeploymentConfig>;
try {
  let input = raw;
  if (typeof raw === 'string') {
    let text = raw;
    // -c dgm=@fleet.json: a large fleet's config from a file (a command-line argument holds 128 KB).
    if (raw.startsWith('@')) {
      try {
        text = readFileSync(raw.slice(1), 'utf8');
      } catch {
        throw new BadInputError(`context "dgm": cannot read ${raw.slice(1)}`);
      }
    }
    try {
      input = JSON.parse(text);
    } catch (err) {
      throw new BadInputError(`context "dgm" is not valid JSON (${jsonSyntaxError(err)})`);
    }
  }
  config = parseDeploymentConfig(input);
  // Cross-field rules of each target's runtime config (alert thresholds against each other), at synth:
  // the Lambdas refuse such a config on every invocation.
  for (const t of [...config.targets, ...(config.demo ? [config.demo] : [])]) {
    validateAlertRules(resolveTargetRuntimeConfig(config, t.config, t.name));
  }
} catch (err) {
  if (!(err instanceof BadInputError)) throw err;
  process.stderr.write(`dgm-db-ops: ${err.message}\n`);
  process.exit(2);
}

try {
  new DgmDbOpsStack(app, config.stackName, {
    config,
    env:
      config.env.account || config.env.region
        ? { account: config.env.account, region: config.env.region }
        : undefined,
  });
  // Every finding is either fixed or acknowledged with its reason next to the resource.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
} catch (err) {
  // One readable line per problem: an uncaught error would also print the throwing line of
  // aws-cdk-lib's minified source (tens of thousands of characters).
  const message = err instanceof Error ? err.message : String(err);
  for (const line of message.split('\n').filter((l) => l.trim() !== '')) {
    process.stderr.write(`dgm-db-ops: ${line.length > 500 ? `${line.slice(0, 500)}...` : line}\n`);
  }
  process.exit(1);
}
