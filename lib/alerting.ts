import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { DeploymentConfig } from '../functions/deployment.ts';
import { type AlarmSink, DgmFunction, notify } from './dgm-function.ts';

export interface AlertingProps {
  alerts: DeploymentConfig['alerts'];
  logRetention: RetentionDays;
}

/**
 * Everything alerts travel through: the SNS topic (customer-managed KMS key that CloudWatch alarms may
 * use, TLS-only publishing), its email, AWS Chatbot and Slack-webhook subscribers, the DynamoDB table
 * that holds the alert state machine, and the queue that collects failed async invocations.
 */
export class Alerting extends Construct {
  readonly key: kms.Key;
  readonly topic: sns.Topic;
  readonly stateTable: dynamodb.Table;
  readonly failureQueue: sqs.Queue;
  readonly alarmSink: AlarmSink;
  readonly slackForwarder?: DgmFunction;
  readonly chatbotChannel?: chatbot.SlackChannelConfiguration;

  constructor(scope: Construct, id: string, props: AlertingProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.key = new kms.Key(this, 'TopicKey', {
      description: 'dgm-db-ops: encrypts the alert topic; CloudWatch alarms may use it to publish',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // With an AWS-managed SNS key, CloudWatch alarms cannot publish and fail silently: the alarm service
    // needs these two actions on the topic's key, for this account's alarms only.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToTheAlertTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'DGM database alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    const action = new SnsAction(this.topic);
    this.alarmSink = { actions: [action], okActions: props.alerts.notifyOnOk ? [action] : [] };

    for (const email of props.alerts.emails) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }

    this.stateTable = new dynamodb.Table(this, 'AlertState', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      // Alert states are derived from the next samples and expire by TTL: nothing to keep.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.failureQueue = new sqs.Queue(this, 'FailedInvocations', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.failureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter destination of the Lambdas and schedules; an alarm fires on its first message.',
    });
    notify(
      new Alarm(this, 'FailedInvocationsAlarm', {
        alarmDescription:
          'A scheduled or async job invocation failed after its retries (or expired); the message in the queue holds the event and the error',
        metric: this.failureQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      this.alarmSink,
    );

    const slack = props.alerts.slack;
    if (slack.chatbot) {
      this.chatbotChannel = new chatbot.SlackChannelConfiguration(this, 'SlackChannel', {
        slackChannelConfigurationName: `${stack.stackName}-alerts`.slice(0, 128),
        slackWorkspaceId: slack.chatbot.workspaceId,
        slackChannelId: slack.chatbot.channelId,
        notificationTopics: [this.topic],
        loggingLevel: chatbot.LoggingLevel.ERROR,
        // Channel members can read CloudWatch through Chatbot, nothing else.
        guardrailPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('CloudWatchReadOnlyAccess')],
      });
    }
    if (slack.webhookSecretArn) {
      const secret = secretsmanager.Secret.fromSecretCompleteArn(
        this,
        'SlackWebhookSecret',
        slack.webhookSecretArn,
      );
      // Outside the VPC: Slack is on the internet, and this function never touches the database.
      this.slackForwarder = new DgmFunction(this, 'SlackForwarder', {
        handler: 'slack-notifier',
        label: 'Slack forwarder',
        description: 'dgm-db-ops: posts alert-topic messages to a Slack incoming webhook',
        memorySize: 256,
        timeout: Duration.seconds(30),
        environment: { DGM_SLACK_WEBHOOK_SECRET_ARN: slack.webhookSecretArn },
        logRetention: props.logRetention,
        failureQueue: this.failureQueue,
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
        alarms: this.alarmSink,
      });
      secret.grantRead(this.slackForwarder.fn);
      this.topic.addSubscription(new subscriptions.LambdaSubscription(this.slackForwarder.fn));
    }
  }
}
