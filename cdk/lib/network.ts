import {
  Aws,
  CfnResource,
  RemovalPolicy,
  Stack,
  Validations,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_logs as logs,
  custom_resources as cr,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { dropRedundantDependsOn } from './cfn';
import { EgressMode } from './service-props';

/** Where the tasks (and the hook) run and how they reach AWS APIs. */
export interface ServiceNetwork {
  readonly vpc: ec2.IVpc;
  readonly taskSubnets: ec2.SubnetSelection;
  readonly serviceSecurityGroup: ec2.SecurityGroup;
  /** The interface endpoints' security group (VPC-endpoints mode only). */
  readonly endpointSecurityGroup?: ec2.SecurityGroup;
}

/**
 * The VPC (unless given), the tasks' subnets and security group, and their way out: HTTPS through
 * the NAT, or the interface and S3 gateway endpoints. Constructs are created in `scope` (the
 * service), so their logical ids do not depend on this file.
 */
export function createServiceNetwork(
  scope: Construct,
  options: { vpc?: ec2.IVpc; natGateways?: number; taskSubnets?: ec2.SubnetSelection; egress: EgressMode },
): ServiceNetwork {
  const vpc = options.vpc ?? createVpc(scope, options.egress, options.natGateways ?? 1);
  const taskSubnets = options.taskSubnets ?? {
    subnetType:
      options.egress === EgressMode.NAT_GATEWAY ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED,
  };
  const serviceSecurityGroup = new ec2.SecurityGroup(scope, 'ServiceSecurityGroup', {
    vpc,
    description: 'Greenlight tasks: HTTP from the load balancer only',
    allowAllOutbound: false,
  });
  if (options.egress === EgressMode.NAT_GATEWAY) {
    serviceSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to AWS APIs, ECR and the LLM provider through the NAT',
    );
    return { vpc, taskSubnets, serviceSecurityGroup };
  }
  const endpointSecurityGroup = createEndpoints(scope, vpc, taskSubnets, serviceSecurityGroup);
  return { vpc, taskSubnets, serviceSecurityGroup, endpointSecurityGroup };
}

function createVpc(scope: Construct, egress: EgressMode, natGateways: number): ec2.Vpc {
  const nat = egress === EgressMode.NAT_GATEWAY;
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    maxAzs: 2,
    natGateways: nat ? natGateways : 0,
    subnetConfiguration: [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
      {
        name: 'private',
        subnetType: nat ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED,
        cidrMask: 22,
      },
    ],
    // Nothing uses the default security group (every resource here has its own); restricting it
    // would take a custom-resource Lambda for no reachable path.
    restrictDefaultSecurityGroup: false,
  });
  const flowLogGroup = new logs.LogGroup(scope, 'FlowLogs', {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  vpc.addFlowLog('FlowLog', {
    destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
    trafficType: ec2.FlowLogTrafficType.REJECT,
  });
  return vpc;
}

function createEndpoints(
  scope: Construct,
  vpc: ec2.IVpc,
  taskSubnets: ec2.SubnetSelection,
  serviceSecurityGroup: ec2.SecurityGroup,
): ec2.SecurityGroup {
  const sg = new ec2.SecurityGroup(scope, 'EndpointSecurityGroup', {
    vpc,
    description: 'Greenlight interface endpoints: HTTPS from the VPC',
    allowAllOutbound: false,
  });
  sg.addIngressRule(ec2.Peer.ipv4(vpc.vpcCidrBlock), ec2.Port.tcp(443), 'HTTPS from the VPC');
  const services: Array<[string, ec2.InterfaceVpcEndpointAwsService]> = [
    ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR],
    ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
    ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
    ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    ['BedrockRuntime', ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME],
    // The hook's calls (it runs in the same subnets): its verdict, the image being rolled out,
    // and the ALB nodes' private addresses it checks green through.
    ['CodeDeploy', ec2.InterfaceVpcEndpointAwsService.CODEDEPLOY],
    ['Ecs', ec2.InterfaceVpcEndpointAwsService.ECS],
    ['Ec2', ec2.InterfaceVpcEndpointAwsService.EC2],
  ];
  for (const [name, service] of services) {
    new ec2.InterfaceVpcEndpoint(scope, `${name}Endpoint`, {
      vpc,
      service,
      subnets: taskSubnets,
      securityGroups: [sg],
      privateDnsEnabled: true,
      open: false,
    });
  }
  new ec2.GatewayVpcEndpoint(scope, 'S3Endpoint', {
    vpc,
    service: ec2.GatewayVpcEndpointAwsService.S3,
    subnets: [taskSubnets],
  });
  serviceSecurityGroup.addEgressRule(sg, ec2.Port.tcp(443), 'HTTPS to the interface endpoints');
  // ECR image layers come from S3 through the gateway endpoint: allow S3's managed prefix list.
  // Its id differs per region and CloudFormation has no attribute for it, so look it up once.
  const lookup = new cr.AwsCustomResource(scope, 'S3PrefixListLookup', {
    onUpdate: {
      service: 'EC2',
      action: 'describeManagedPrefixLists',
      parameters: { Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${Aws.REGION}.s3`] }] },
      physicalResourceId: cr.PhysicalResourceId.of(`s3-prefix-list-${Aws.REGION}`),
      outputPaths: ['PrefixLists.0.PrefixListId'],
    },
    policy: cr.AwsCustomResourcePolicy.fromStatements([
      new iam.PolicyStatement({ actions: ['ec2:DescribeManagedPrefixLists'], resources: ['*'] }),
    ]),
    installLatestAwsSdk: false,
  });
  serviceSecurityGroup.addEgressRule(
    ec2.Peer.prefixList(lookup.getResponseField('PrefixLists.0.PrefixListId')),
    ec2.Port.tcp(443),
    'HTTPS to S3 (ECR image layers) through the gateway endpoint',
  );
  Validations.of(sg).acknowledge({
    id: 'AwsSolutions-EC23',
    reason: 'Ingress is HTTPS from this VPC\'s own CIDR only (a token cdk-nag cannot evaluate); the endpoints are private.',
  });
  const provider = Stack.of(scope).node.tryFindChild(cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '').replace(/^/, 'AWS'));
  if (provider) {
    const fn = provider.node.tryFindChild('Resource');
    const role = provider.node.tryFindChild('ServiceRole')?.node.defaultChild;
    if (fn instanceof CfnResource && role instanceof CfnResource) dropRedundantDependsOn(fn, role);
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'CDK\'s AwsCustomResource provider Lambda (one-off S3 prefix-list lookup at deploy time) writes its own logs with the AWS-managed basic execution policy; it has no other permission.',
    });
  }
  Validations.of(lookup).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'ec2:DescribeManagedPrefixLists has no resource-level permissions; read-only lookup of the S3 prefix list id.',
  });
  return sg;
}
