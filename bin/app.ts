import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseDeploymentConfig, resolveTargetRuntimeConfig } from '../functions/config.ts';
import { BadInputError } from '../functions/errors.ts';
import { jsonSyntaxError } from '../functions/format/redact.ts';
import { validateAlertRules } from '../functions/monitor/rules.ts';
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
    try {
      input = JSON.parse(raw);
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

new DgmDbOpsStack(app, config.stackName, {
  config,
  env:
    config.env.account || config.env.region
      ? { account: config.env.account, region: config.env.region }
      : undefined,
});
// Every finding is either fixed or acknowledged with its reason next to the resource.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
