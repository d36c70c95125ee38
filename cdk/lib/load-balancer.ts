import {
  Aws,
  Duration,
  RemovalPolicy,
  Stack,
  Token,
  aws_certificatemanager as acm,
  aws_ec2 as ec2,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
  aws_iam as iam,
  aws_s3 as s3,
} from 'aws-cdk-lib';
import { FactName } from 'aws-cdk-lib/region-info';
import type { Construct } from 'constructs';
import { CONTRACT } from './names';
import { asciiOnly, validateTestListenerCidr } from './validation';

/** The HTTPS listener's default security policy (TLS 1.3 and 1.2), by name. */
export const PINNED_SSL_POLICY = 'ELBSecurityPolicy-TLS13-1-2-2021-06';

/** What the load balancer fronts and how. */
export interface LoadBalancerOptions {
  readonly vpc: ec2.IVpc;
  readonly service: ecs.FargateService;
  readonly serviceSecurityGroup: ec2.ISecurityGroup;
  readonly accessLogsBucket: s3.IBucket;
  readonly certificate?: acm.ICertificate;
  readonly sslPolicyName?: string;
  readonly testListenerAllowedCidrs?: string[];
  /** The service's construct path, for validation errors. */
  readonly path: string;
  /**
   * Register the service in the blue target group here (CodeDeploy). The ECS engine registers
   * it itself, with green as the alternate target group (ecs-traffic.ts).
   * @default true
   */
  readonly attachService?: boolean;
}

/** The internet-facing ALB with its blue and green target groups and both listeners. */
export interface ServiceLoadBalancer {
  readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly blueTargetGroup: elbv2.ApplicationTargetGroup;
  readonly greenTargetGroup: elbv2.ApplicationTargetGroup;
  readonly productionListener: elbv2.ApplicationListener;
  readonly redirectListener?: elbv2.ApplicationListener;
  readonly testListener: elbv2.ApplicationListener;
  readonly url: string;
  readonly testListenerUrl: string;
}

/**
 * The ALB (access-logged), blue and green target groups (the service registers in blue), the
 * production listener (HTTP 80, or HTTPS 443 with an 80 redirect) and the test listener. The test
 * listener is never open to the internet: people reach it only from the CIDRs they list, and the
 * green-light hook through {@link allowTestTraffic}. Constructs are created in `scope` (the
 * service), so their logical ids do not depend on this file.
 */
export function createLoadBalancer(scope: Construct, o: LoadBalancerOptions): ServiceLoadBalancer {
  const loadBalancerSecurityGroup = new ec2.SecurityGroup(scope, 'LoadBalancerSecurityGroup', {
    vpc: o.vpc,
    description: 'Greenlight ALB: production listener from anywhere, test listener restricted',
    allowAllOutbound: false,
  });
  const loadBalancer = new elbv2.ApplicationLoadBalancer(scope, 'LoadBalancer', {
    vpc: o.vpc,
    internetFacing: true,
    vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
    securityGroup: loadBalancerSecurityGroup,
    dropInvalidHeaderFields: true,
    // The server sends SSE keep-alives every 15 s, well inside this.
    idleTimeout: Duration.seconds(60),
  });
  enableAccessLogs(loadBalancer, o.accessLogsBucket);

  const blueTargetGroup = createTargetGroup(scope, 'BlueTargetGroup', o.vpc);
  const greenTargetGroup = createTargetGroup(scope, 'GreenTargetGroup', o.vpc);
  if (o.attachService ?? true) o.service.attachToApplicationTargetGroup(blueTargetGroup);

  let productionListener: elbv2.ApplicationListener;
  let redirectListener: elbv2.ApplicationListener | undefined;
  let url: string;
  if (o.certificate) {
    productionListener = loadBalancer.addListener('ProductionListener', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [o.certificate],
      open: true,
      defaultTargetGroups: [blueTargetGroup],
    });
    (productionListener.node.defaultChild as elbv2.CfnListener).sslPolicy = o.sslPolicyName ?? PINNED_SSL_POLICY;
    redirectListener = loadBalancer.addRedirect({
      sourcePort: 80,
      sourceProtocol: elbv2.ApplicationProtocol.HTTP,
      targetPort: 443,
      targetProtocol: elbv2.ApplicationProtocol.HTTPS,
    });
    url = `https://${loadBalancer.loadBalancerDnsName}`;
  } else {
    productionListener = loadBalancer.addListener('ProductionListener', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: true,
      defaultTargetGroups: [blueTargetGroup],
    });
    url = `http://${loadBalancer.loadBalancerDnsName}`;
  }
  const testListener = loadBalancer.addListener('TestListener', {
    port: CONTRACT.testListenerPort,
    protocol: elbv2.ApplicationProtocol.HTTP,
    open: false,
    defaultTargetGroups: [greenTargetGroup],
  });
  const testListenerUrl = `http://${loadBalancer.loadBalancerDnsName}:${CONTRACT.testListenerPort}`;
  // The green target group has no targets until CodeDeploy registers some: the load balancer
  // may still send to the task port of the service's security group.
  loadBalancerSecurityGroup.connections.allowTo(
    o.serviceSecurityGroup,
    ec2.Port.tcp(CONTRACT.containerPort),
    'Load balancer to the tasks (blue and green)',
  );
  for (const cidr of o.testListenerAllowedCidrs ?? []) {
    validateTestListenerCidr(cidr, o.path);
    const peer = cidr.includes(':') ? ec2.Peer.ipv6(cidr) : ec2.Peer.ipv4(cidr);
    allowTestTraffic(loadBalancerSecurityGroup, peer, `Test listener from ${asciiOnly(cidr)} (testListenerAllowedCidrs)`);
  }
  return {
    loadBalancerSecurityGroup,
    loadBalancer,
    blueTargetGroup,
    greenTargetGroup,
    productionListener,
    redirectListener,
    testListener,
    url,
    testListenerUrl,
  };
}

/** Lets `peer` reach the test listener (8080) through the load balancer's security group. */
export function allowTestTraffic(loadBalancerSecurityGroup: ec2.ISecurityGroup, peer: ec2.IPeer, description: string): void {
  loadBalancerSecurityGroup.addIngressRule(peer, ec2.Port.tcp(CONTRACT.testListenerPort), description);
}

/** The bucket the ALB writes its access logs to. */
export function createAccessLogsBucket(scope: Construct): s3.Bucket {
  return new s3.Bucket(scope, 'AccessLogs', {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [{ expiration: Duration.days(90) }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

function createTargetGroup(scope: Construct, id: string, vpc: ec2.IVpc): elbv2.ApplicationTargetGroup {
  return new elbv2.ApplicationTargetGroup(scope, id, {
    vpc,
    port: CONTRACT.containerPort,
    protocol: elbv2.ApplicationProtocol.HTTP,
    targetType: elbv2.TargetType.IP,
    deregistrationDelay: Duration.seconds(CONTRACT.deregistrationDelaySeconds),
    healthCheck: {
      path: CONTRACT.healthCheckPath,
      protocol: elbv2.Protocol.HTTP,
      interval: Duration.seconds(CONTRACT.healthCheckIntervalSeconds),
      timeout: Duration.seconds(CONTRACT.healthCheckTimeoutSeconds),
      healthyThresholdCount: CONTRACT.healthyThresholdCount,
      unhealthyThresholdCount: CONTRACT.unhealthyThresholdCount,
      healthyHttpCodes: '200',
    },
  });
}

/**
 * ALB access logs. With a known region CDK writes the bucket policy; an environment-agnostic
 * stack (synth without credentials) looks the region's ELB account up in a mapping and also
 * allows the log-delivery service principal that regions launched since August 2022 use.
 */
function enableAccessLogs(loadBalancer: elbv2.ApplicationLoadBalancer, bucket: s3.IBucket): void {
  const stack = Stack.of(loadBalancer);
  const prefix = 'alb';
  if (!Token.isUnresolved(stack.region)) {
    loadBalancer.logAccessLogs(bucket, prefix);
    return;
  }
  const objects = bucket.arnForObjects(`${prefix}/AWSLogs/${Aws.ACCOUNT_ID}/*`);
  const policy = [
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        principals: [new iam.AccountPrincipal(stack.regionalFact(FactName.ELBV2_ACCOUNT))],
        resources: [objects],
      }),
    ),
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        principals: [new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')],
        resources: [objects],
      }),
    ),
  ];
  loadBalancer.setAttribute('access_logs.s3.enabled', 'true');
  loadBalancer.setAttribute('access_logs.s3.bucket', bucket.bucketName);
  loadBalancer.setAttribute('access_logs.s3.prefix', prefix);
  for (const result of policy) {
    if (result.policyDependable) loadBalancer.node.addDependency(result.policyDependable);
  }
}
