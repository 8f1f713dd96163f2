import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

/**
 * The Lambdas run in private subnets without internet access of their own. Either the VPC routes to a
 * NAT gateway, or these endpoints carry the AWS API calls the jobs make: Secrets Manager (credentials),
 * SNS (alerts), CloudWatch monitoring (PutMetricData), Lambda (the sampler starts an optimize run), and
 * DynamoDB (alert state) through a free gateway endpoint. CloudWatch Logs need none: the Lambda service
 * ships logs itself.
 */
export const INTERFACE_ENDPOINTS = {
  SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  Sns: ec2.InterfaceVpcEndpointAwsService.SNS,
  Monitoring: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
  Lambda: ec2.InterfaceVpcEndpointAwsService.LAMBDA,
} as const;

export interface VpcAccessProps {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  /** Create the endpoints (network.egress "endpoints"); otherwise the subnets route through a NAT. */
  createEndpoints: boolean;
}

/** A VPC the stack's Lambdas run in, with what they need to reach AWS APIs from there. */
export class VpcAccess extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly endpointSecurityGroup?: ec2.SecurityGroup;
  readonly secretsManagerEndpoint?: ec2.InterfaceVpcEndpoint;

  constructor(scope: Construct, id: string, props: VpcAccessProps) {
    super(scope, id);
    this.vpc = props.vpc;
    this.subnets = props.subnets;
    if (!props.createEndpoints) return;
    this.endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: props.vpc,
      description: 'dgm-db-ops: HTTPS from the stack Lambdas to the AWS API endpoints',
      allowAllOutbound: false,
    });
    for (const [name, service] of Object.entries(INTERFACE_ENDPOINTS)) {
      const endpoint = new ec2.InterfaceVpcEndpoint(this, `${name}Endpoint`, {
        vpc: props.vpc,
        service,
        subnets: props.subnets,
        securityGroups: [this.endpointSecurityGroup],
        privateDnsEnabled: true,
        // Ingress is granted per Lambda security group (allowFrom), not to the whole VPC.
        open: false,
      });
      if (name === 'SecretsManager') this.secretsManagerEndpoint = endpoint;
    }
    new ec2.GatewayVpcEndpoint(this, 'DynamoDbEndpoint', {
      vpc: props.vpc,
      service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
      subnets: [props.subnets],
    });
  }

  /** Lets a Lambda security group reach the endpoints. */
  allowFrom(securityGroup: ec2.ISecurityGroup): void {
    this.endpointSecurityGroup?.addIngressRule(
      securityGroup,
      ec2.Port.tcp(443),
      'HTTPS from a dgm-db-ops Lambda',
    );
  }
}

/**
 * A security group for one target's Lambdas: out to the database port and to HTTPS only, nothing in.
 * HTTPS goes to any address because the DynamoDB gateway endpoint has no security group (its prefix
 * list id differs per region and would need a lookup); in endpoint mode the isolated subnets have no
 * route anywhere else.
 */
export function lambdaSecurityGroup(
  scope: Construct,
  id: string,
  vpc: ec2.IVpc,
  database: { securityGroup: ec2.ISecurityGroup; port: number; name: string },
): ec2.SecurityGroup {
  const sg = new ec2.SecurityGroup(scope, id, {
    vpc,
    description: `dgm-db-ops Lambdas of target ${database.name}: the database port and HTTPS out, nothing in`,
    allowAllOutbound: false,
  });
  sg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs (endpoints or NAT)');
  sg.addEgressRule(database.securityGroup, ec2.Port.tcp(database.port), `PostgreSQL of ${database.name}`);
  database.securityGroup.addIngressRule(
    sg,
    ec2.Port.tcp(database.port),
    `dgm-db-ops Lambdas of target ${database.name}`,
  );
  return sg;
}
