import {
  Annotations,
  Aspects,
  Aws,
  CfnResource,
  Duration,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
  aws_applicationautoscaling as appscaling,
  aws_certificatemanager as acm,
  aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
  aws_iam as iam,
  aws_logs as logs,
  aws_s3 as s3,
  aws_secretsmanager as secretsmanager,
  custom_resources as cr,
} from 'aws-cdk-lib';
import { FactName } from 'aws-cdk-lib/region-info';
import { Construct } from 'constructs';
import { dropRedundantDependsOn } from './cfn';
import { ExplicitIamActions, nagResource } from './iam';
import { CONTRACT } from './names';

/** The LLM backends the `greenlight` server speaks to (`LLM_PROVIDER`). */
export enum LlmProvider {
  /** The bundled knowledge base: no upstream, no key. */
  OFFLINE = 'offline',
  /** An OpenAI-compatible upstream reached over the internet (needs an API key and a NAT). */
  OPENAI = 'openai',
  /** Amazon Bedrock through the task role (no key). */
  BEDROCK = 'bedrock',
}

/** How tasks reach AWS APIs and the provider. */
export enum EgressMode {
  /** NAT gateways: the tasks can reach any HTTPS endpoint (needed for external providers). */
  NAT_GATEWAY = 'nat',
  /**
   * No NAT: interface endpoints for ECR, CloudWatch Logs, Secrets Manager, Bedrock runtime,
   * CodeDeploy and ECS, plus the S3 gateway endpoint. Only for the offline and Bedrock providers.
   */
  VPC_ENDPOINTS = 'vpc-endpoints',
}

/** The image tag of the reference revision CloudFormation registers; never pushed, never run. */
export const REFERENCE_IMAGE_TAG = 'cdk-reference';

/** Properties of {@link GreenlightService}. */
export interface GreenlightServiceProps {
  /**
   * The VPC to run in. It needs public subnets (the ALB) and private subnets (the tasks).
   * @default - a new VPC over 2 availability zones
   */
  readonly vpc?: ec2.IVpc;
  /**
   * How the tasks reach AWS APIs and the provider.
   * @default EgressMode.NAT_GATEWAY
   */
  readonly egress?: EgressMode;
  /**
   * NAT gateways of the new VPC in NAT mode (1 is cheaper, 2 survives an AZ outage).
   * @default 1
   */
  readonly natGateways?: number;
  /**
   * The subnets of the tasks (and of the hook).
   * @default - the private subnets with egress in NAT mode, the isolated ones in VPC-endpoints mode
   */
  readonly taskSubnets?: ec2.SubnetSelection;
  /**
   * The image repository the pipeline pushes to.
   * @default - a new repository: immutable tags, scan on push, keeps the last 50 images
   */
  readonly repository?: ecr.IRepository;
  /**
   * Task definition family the pipeline registers revisions in (`TASK_FAMILY`). Unique per
   * account and region: give a second Greenlight in the same account its own.
   * @default 'greenlight'
   */
  readonly taskFamily?: string;
  /**
   * Task CPU units (`TASK_CPU`).
   * @default 256
   */
  readonly cpu?: number;
  /**
   * Task memory in MiB (`TASK_MEMORY`).
   * @default 512
   */
  readonly memoryLimitMiB?: number;
  /**
   * CPU architecture of the tasks (`CPU_ARCHITECTURE`); the build image follows it.
   * @default ecs.CpuArchitecture.X86_64
   */
  readonly cpuArchitecture?: ecs.CpuArchitecture;
  /**
   * The LLM provider (`LLM_PROVIDER`).
   * @default LlmProvider.OFFLINE
   */
  readonly llmProvider?: LlmProvider;
  /**
   * Model name (OpenAI) or model id (Bedrock: a foundation model id such as
   * `anthropic.claude-3-haiku-20240307-v1:0`, or a cross-region inference profile id such as
   * `eu.anthropic...`). Required for Bedrock: the task role may invoke this model only.
   * @default - the server's default for the provider
   */
  readonly llmModel?: string;
  /**
   * OpenAI-compatible base URL (`OPENAI_BASE_URL`).
   * @default - the server's default (https://api.openai.com/v1)
   */
  readonly openAiBaseUrl?: string;
  /**
   * The secret holding the provider's API key, given to the container as `OPENAI_API_KEY`.
   * @default - for the OpenAI provider a new secret whose value you set after the first deploy;
   *            none for the other providers
   */
  readonly apiKeySecret?: secretsmanager.ISecret;
  /**
   * Minimum (and initial) number of tasks.
   * @default 2
   */
  readonly minCapacity?: number;
  /**
   * Maximum number of tasks.
   * @default 6
   */
  readonly maxCapacity?: number;
  /**
   * Target average CPU utilization of the service in percent.
   * @default 60
   */
  readonly targetCpuUtilizationPercent?: number;
  /**
   * Requests per task per minute above which the service scales out (below a third of it, in).
   * @default 120
   */
  readonly requestsPerTaskPerMinute?: number;
  /**
   * Retention of the container logs.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * ACM certificate for HTTPS on 443 (80 then redirects). ACM renews it in place (same ARN), so
   * the listener never changes.
   * @default - plain HTTP on 80
   */
  readonly certificate?: acm.ICertificate;
  /**
   * CIDRs (besides the green-light hook, always admitted) that may reach the test listener on
   * 8080, e.g. your office, to look at a green deployment before it takes traffic.
   * @default - none
   */
  readonly testListenerAllowedCidrs?: string[];
  /**
   * The p95 target response time above which the latency alarm fires.
   * @default Duration.seconds(3)
   */
  readonly latencyP95Threshold?: Duration;
  /**
   * 5xx responses (from the targets and the ALB together) per minute that trip the error alarm.
   * @default 5
   */
  readonly serverErrorsPerMinuteThreshold?: number;
  /**
   * Bucket for the ALB access logs (and the artifact bucket's access logs, see GreenlightPipeline).
   * @default - a new bucket, SSE-S3 (the only encryption ALB log delivery supports), SSL only,
   *            objects expire after 90 days
   */
  readonly accessLogsBucket?: s3.IBucket;
  /**
   * The image the service is created with before the pipeline has built the real one: a path in
   * ECR Public, pulled through an ECR pull-through cache rule (works without NAT). It serves
   * `/health` on 8080 with busybox httpd until the first pipeline run replaces it.
   * @default 'docker/library/busybox:1.37'
   */
  readonly bootstrapImage?: string;
  /**
   * Repository prefix of the pull-through cache rule (unique per account and region,
   * 2 to 30 characters of `a-z0-9._-`).
   * @default - derived from the stack name
   */
  readonly bootstrapCachePrefix?: string;
}

/**
 * The Greenlight chat service: VPC, ECS cluster, Fargate service under the CODE_DEPLOY controller,
 * an internet-facing ALB with a production and a test listener, blue and green target groups,
 * autoscaling and the alarms CodeDeploy rolls back on.
 *
 * CloudFormation creates the service once from a bootstrap task definition family and never
 * updates its task definition afterwards (see cdk/README.md, "Redeploying the stack"); every
 * change of the running container goes through the pipeline's `taskdef.json`.
 */
export class GreenlightService extends Construct {
  public readonly vpc: ec2.IVpc;
  public readonly egress: EgressMode;
  public readonly taskSubnets: ec2.SubnetSelection;
  public readonly cluster: ecs.Cluster;
  public readonly repository: ecr.IRepository;
  /** The application's task definition (family `taskFamily`): the shape `taskdef.json` renders. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The `greenlight` container of {@link taskDefinition}. */
  public readonly container: ecs.ContainerDefinition;
  /** The task definition the service is created with (family `<taskFamily>-bootstrap`). */
  public readonly bootstrapTaskDefinition: ecs.FargateTaskDefinition;
  public readonly bootstrapCacheRule: ecr.CfnPullThroughCacheRule;
  public readonly service: ecs.FargateService;
  public readonly serviceSecurityGroup: ec2.SecurityGroup;
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  public readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  public readonly productionListener: elbv2.ApplicationListener;
  /** The port-80 redirect listener in HTTPS mode. */
  public readonly redirectListener?: elbv2.ApplicationListener;
  public readonly testListener: elbv2.ApplicationListener;
  public readonly blueTargetGroup: elbv2.ApplicationTargetGroup;
  public readonly greenTargetGroup: elbv2.ApplicationTargetGroup;
  public readonly logGroup: logs.LogGroup;
  public readonly accessLogsBucket: s3.IBucket;
  public readonly apiKeySecret?: secretsmanager.ISecret;
  public readonly endpointSecurityGroup?: ec2.SecurityGroup;
  public readonly scaling: ecs.ScalableTaskCount;
  public readonly serverErrorsAlarm: cloudwatch.Alarm;
  public readonly unhealthyHostsAlarm: cloudwatch.Alarm;
  public readonly latencyAlarm: cloudwatch.Alarm;
  /** The alarms a deployment rolls back on. */
  public readonly alarms: cloudwatch.IAlarm[];
  /** `http://<alb>:8080`, the URL the green-light hook tests. */
  public readonly testListenerUrl: string;
  /** The public URL of the production listener. */
  public readonly url: string;
  public readonly taskFamily: string;
  public readonly cpu: number;
  public readonly memoryLimitMiB: number;
  public readonly cpuArchitecture: ecs.CpuArchitecture;
  public readonly llmProvider: LlmProvider;
  public readonly llmModel: string;
  public readonly openAiBaseUrl: string;

  constructor(scope: Construct, id: string, props: GreenlightServiceProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    this.egress = props.egress ?? EgressMode.NAT_GATEWAY;
    this.taskFamily = props.taskFamily ?? 'greenlight';
    this.cpu = props.cpu ?? 256;
    this.memoryLimitMiB = props.memoryLimitMiB ?? 512;
    this.cpuArchitecture = props.cpuArchitecture ?? ecs.CpuArchitecture.X86_64;
    this.llmProvider = props.llmProvider ?? LlmProvider.OFFLINE;
    this.llmModel = props.llmModel ?? '';
    this.openAiBaseUrl = props.openAiBaseUrl ?? '';
    const minCapacity = props.minCapacity ?? 2;
    const maxCapacity = props.maxCapacity ?? 6;
    validate({
      minCapacity,
      maxCapacity,
      egress: this.egress,
      provider: this.llmProvider,
      model: this.llmModel,
      taskFamily: this.taskFamily,
      natGateways: props.natGateways,
    });

    // ---- network ----
    this.vpc = props.vpc ?? this.createVpc(props.natGateways ?? 1);
    this.taskSubnets = props.taskSubnets ?? {
      subnetType:
        this.egress === EgressMode.NAT_GATEWAY
          ? ec2.SubnetType.PRIVATE_WITH_EGRESS
          : ec2.SubnetType.PRIVATE_ISOLATED,
    };
    this.serviceSecurityGroup = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc: this.vpc,
      description: 'Greenlight tasks: HTTP from the load balancer only',
      allowAllOutbound: false,
    });
    if (this.egress === EgressMode.NAT_GATEWAY) {
      this.serviceSecurityGroup.addEgressRule(
        ec2.Peer.anyIpv4(),
        ec2.Port.tcp(443),
        'HTTPS to AWS APIs, ECR and the LLM provider through the NAT',
      );
    } else {
      this.endpointSecurityGroup = this.createEndpoints();
    }

    // ---- image repository and logs ----
    this.repository = props.repository ?? createRepository(this);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.accessLogsBucket = props.accessLogsBucket ?? createAccessLogsBucket(this);

    // ---- provider ----
    if (this.llmProvider === LlmProvider.OPENAI) {
      this.apiKeySecret = props.apiKeySecret ?? this.createApiKeySecret();
    } else {
      this.apiKeySecret = props.apiKeySecret;
    }

    // ---- task definitions ----
    const executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Greenlight task execution: pull the image, write logs, read the API key',
    });
    const taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Greenlight task: what the chat server itself may call',
    });
    const runtimePlatform: ecs.RuntimePlatform = {
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      cpuArchitecture: this.cpuArchitecture,
    };
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: this.taskFamily,
      cpu: this.cpu,
      memoryLimitMiB: this.memoryLimitMiB,
      runtimePlatform,
      executionRole,
      taskRole,
    });
    this.container = this.taskDefinition.addContainer('Container', {
      containerName: CONTRACT.containerName,
      image: ecs.ContainerImage.fromEcrRepository(this.repository, REFERENCE_IMAGE_TAG),
      essential: true,
      portMappings: [
        { containerPort: CONTRACT.containerPort, protocol: ecs.Protocol.TCP, name: 'http', appProtocol: ecs.AppProtocol.http },
      ],
      environment: this.containerEnvironment(),
      secrets: this.apiKeySecret
        ? { OPENAI_API_KEY: ecs.Secret.fromSecretsManager(this.apiKeySecret) }
        : undefined,
      // The same timings as taskdef.json: the CDK revision and the pipeline's run alike.
      healthCheck: {
        command: [...CONTRACT.containerHealthCheck],
        interval: Duration.seconds(5),
        timeout: Duration.seconds(2),
        retries: 3,
        startPeriod: Duration.seconds(10),
      },
      linuxParameters: this.dropAllCapabilities(),
      stopTimeout: Duration.seconds(CONTRACT.stopTimeoutSeconds),
      readonlyRootFilesystem: true,
      ulimits: [{ name: ecs.UlimitName.NOFILE, softLimit: 65536, hardLimit: 65536 }],
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'greenlight' }),
    });
    if (this.llmProvider === LlmProvider.BEDROCK) {
      this.grantBedrock(taskRole);
    }

    const bootstrap = this.createBootstrapTaskDefinition(props, runtimePlatform, executionRole, taskRole);
    this.bootstrapTaskDefinition = bootstrap.taskDefinition;
    this.bootstrapCacheRule = bootstrap.rule;

    // ---- cluster and service ----
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.bootstrapTaskDefinition,
      // CDK then writes the family name (not the revision ARN) into the service, so the
      // service's TaskDefinition property never changes after creation.
      deploymentController: { type: ecs.DeploymentControllerType.CODE_DEPLOY },
      desiredCount: minCapacity,
      assignPublicIp: false,
      vpcSubnets: this.taskSubnets,
      securityGroups: [this.serviceSecurityGroup],
      healthCheckGracePeriod: Duration.seconds(30),
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      enableECSManagedTags: true,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });

    // ---- load balancer ----
    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: this.vpc,
      description: 'Greenlight ALB: production listener from anywhere, test listener restricted',
      allowAllOutbound: false,
    });
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: this.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: this.loadBalancerSecurityGroup,
      dropInvalidHeaderFields: true,
      // The server sends SSE keep-alives every 15 s, well inside this.
      idleTimeout: Duration.seconds(60),
    });
    this.enableAccessLogs(stack);

    this.blueTargetGroup = this.createTargetGroup('BlueTargetGroup');
    this.greenTargetGroup = this.createTargetGroup('GreenTargetGroup');
    this.service.attachToApplicationTargetGroup(this.blueTargetGroup);

    if (props.certificate) {
      this.productionListener = this.loadBalancer.addListener('ProductionListener', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [props.certificate],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: true,
        defaultTargetGroups: [this.blueTargetGroup],
      });
      this.redirectListener = this.loadBalancer.addRedirect({
        sourcePort: 80,
        sourceProtocol: elbv2.ApplicationProtocol.HTTP,
        targetPort: 443,
        targetProtocol: elbv2.ApplicationProtocol.HTTPS,
      });
      this.url = `https://${this.loadBalancer.loadBalancerDnsName}`;
    } else {
      this.productionListener = this.loadBalancer.addListener('ProductionListener', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: true,
        defaultTargetGroups: [this.blueTargetGroup],
      });
      this.url = `http://${this.loadBalancer.loadBalancerDnsName}`;
    }
    this.testListener = this.loadBalancer.addListener('TestListener', {
      port: CONTRACT.testListenerPort,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: false,
      defaultTargetGroups: [this.greenTargetGroup],
    });
    this.testListenerUrl = `http://${this.loadBalancer.loadBalancerDnsName}:${CONTRACT.testListenerPort}`;
    // The green target group has no targets until CodeDeploy registers some: the load balancer
    // may still send to the task port of the service's security group.
    this.loadBalancerSecurityGroup.connections.allowTo(
      this.serviceSecurityGroup,
      ec2.Port.tcp(CONTRACT.containerPort),
      'Load balancer to the tasks (blue and green)',
    );
    this.restrictTestListener(props);

    // ---- scaling and alarms ----
    this.scaling = this.service.autoScaleTaskCount({ minCapacity, maxCapacity });
    this.scaling.scaleOnCpuUtilization('CpuScaling', {
      targetUtilizationPercent: props.targetCpuUtilizationPercent ?? 60,
      scaleInCooldown: Duration.seconds(120),
      scaleOutCooldown: Duration.seconds(60),
    });
    this.scaleOnRequests(props.requestsPerTaskPerMinute ?? 120);
    const alarms = this.createAlarms(props);
    this.serverErrorsAlarm = alarms.serverErrors;
    this.unhealthyHostsAlarm = alarms.unhealthyHosts;
    this.latencyAlarm = alarms.latency;
    this.alarms = [alarms.serverErrors, alarms.unhealthyHosts, alarms.latency];

    Aspects.of(this).add(new ExplicitIamActions());
    this.acknowledgeFindings();
  }

  /**
   * ALB access logs. With a known region CDK writes the bucket policy; an environment-agnostic
   * stack (synth without credentials) looks the region's ELB account up in a mapping and also
   * allows the log-delivery service principal that regions launched since August 2022 use.
   */
  private enableAccessLogs(stack: Stack): void {
    const prefix = 'alb';
    if (!Token.isUnresolved(stack.region)) {
      this.loadBalancer.logAccessLogs(this.accessLogsBucket, prefix);
      return;
    }
    const objects = this.accessLogsBucket.arnForObjects(`${prefix}/AWSLogs/${Aws.ACCOUNT_ID}/*`);
    const policy = [
      this.accessLogsBucket.addToResourcePolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          principals: [new iam.AccountPrincipal(stack.regionalFact(FactName.ELBV2_ACCOUNT))],
          resources: [objects],
        }),
      ),
      this.accessLogsBucket.addToResourcePolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          principals: [new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')],
          resources: [objects],
        }),
      ),
    ];
    this.loadBalancer.setAttribute('access_logs.s3.enabled', 'true');
    this.loadBalancer.setAttribute('access_logs.s3.bucket', this.accessLogsBucket.bucketName);
    this.loadBalancer.setAttribute('access_logs.s3.prefix', prefix);
    for (const result of policy) {
      if (result.policyDependable) this.loadBalancer.node.addDependency(result.policyDependable);
    }
  }

  /** Lets `peer` reach the test listener (8080) of the load balancer. */
  public allowTestTrafficFrom(peer: ec2.IPeer, description: string): void {
    this.loadBalancerSecurityGroup.addIngressRule(peer, ec2.Port.tcp(CONTRACT.testListenerPort), description);
  }

  private dropAllCapabilities(): ecs.LinuxParameters {
    const linux = new ecs.LinuxParameters(this, 'LinuxParameters');
    linux.dropCapabilities(ecs.Capability.ALL);
    return linux;
  }

  private createVpc(natGateways: number): ec2.Vpc {
    const nat = this.egress === EgressMode.NAT_GATEWAY;
    const vpc = new ec2.Vpc(this, 'Vpc', {
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
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    return vpc;
  }

  private createEndpoints(): ec2.SecurityGroup {
    const sg = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Greenlight interface endpoints: HTTPS from the VPC',
      allowAllOutbound: false,
    });
    sg.addIngressRule(ec2.Peer.ipv4(this.vpc.vpcCidrBlock), ec2.Port.tcp(443), 'HTTPS from the VPC');
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
      new ec2.InterfaceVpcEndpoint(this, `${name}Endpoint`, {
        vpc: this.vpc,
        service,
        subnets: this.taskSubnets,
        securityGroups: [sg],
        privateDnsEnabled: true,
        open: false,
      });
    }
    new ec2.GatewayVpcEndpoint(this, 'S3Endpoint', {
      vpc: this.vpc,
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [this.taskSubnets],
    });
    this.serviceSecurityGroup.addEgressRule(sg, ec2.Port.tcp(443), 'HTTPS to the interface endpoints');
    // ECR image layers come from S3 through the gateway endpoint: allow S3's managed prefix list.
    // Its id differs per region and CloudFormation has no attribute for it, so look it up once.
    const lookup = new cr.AwsCustomResource(this, 'S3PrefixListLookup', {
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
    this.serviceSecurityGroup.addEgressRule(
      ec2.Peer.prefixList(lookup.getResponseField('PrefixLists.0.PrefixListId')),
      ec2.Port.tcp(443),
      'HTTPS to S3 (ECR image layers) through the gateway endpoint',
    );
    Validations.of(sg).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'Ingress is HTTPS from this VPC\'s own CIDR only (a token cdk-nag cannot evaluate); the endpoints are private.',
    });
    const provider = Stack.of(this).node.tryFindChild(cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '').replace(/^/, 'AWS'));
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

  private createApiKeySecret(): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'ApiKey', {
      description: 'Greenlight: the LLM provider API key (OPENAI_API_KEY). Set its value after the first deploy.',
      // A random value until you set the real key: the provider rejects it, /ready turns 503 and
      // the green-light hook fails the deployment instead of shipping a broken provider.
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    Annotations.of(this).addWarningV2(
      'greenlight:api-key',
      `Set the provider API key after the first deploy: aws secretsmanager put-secret-value --secret-id <ApiKeySecretArn output> --secret-string <key>`,
    );
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'The secret holds a third-party provider API key; it is rotated at the provider, not by a Secrets Manager rotation Lambda.',
    });
    return secret;
  }

  private containerEnvironment(): Record<string, string> {
    const env: Record<string, string> = {
      LLM_PROVIDER: this.llmProvider,
      DRAIN_SECONDS: String(CONTRACT.drainSeconds),
      LOG_FORMAT: 'json',
      // The chatbot's own metrics, as CloudWatch Embedded Metric Format in its log stream.
      METRICS_EMF: 'true',
      AWS_REGION: Aws.REGION,
    };
    if (this.llmModel) env.LLM_MODEL = this.llmModel;
    if (this.openAiBaseUrl) env.OPENAI_BASE_URL = this.openAiBaseUrl;
    return env;
  }

  private grantBedrock(role: iam.IRole): void {
    const model = this.llmModel;
    const resources: string[] = [];
    // Cross-region inference profiles are named `<geo>.<model id>`; invoking one needs the profile
    // and the foundation model in each region the profile may route to.
    const profile = /^(us|eu|apac|us-gov|jp|au|ca|global)\.(.+)$/.exec(model);
    if (profile) {
      resources.push(
        `arn:${Aws.PARTITION}:bedrock:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-profile/${model}`,
        `arn:${Aws.PARTITION}:bedrock:*::foundation-model/${profile[2]}`,
      );
    } else {
      resources.push(`arn:${Aws.PARTITION}:bedrock:${Aws.REGION}::foundation-model/${model}`);
    }
    const policy = new iam.Policy(this, 'BedrockPolicy', {
      statements: [
        new iam.PolicyStatement({
          actions: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
          resources,
        }),
      ],
    });
    role.attachInlinePolicy(policy);
    if (profile) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/${profile[2]}]`,
        reason: 'A cross-region inference profile routes to this one model in any region of its geography; the region is the only wildcard.',
      });
    }
  }

  private createBootstrapTaskDefinition(
    props: GreenlightServiceProps,
    runtimePlatform: ecs.RuntimePlatform,
    executionRole: iam.Role,
    taskRole: iam.Role,
  ): { taskDefinition: ecs.FargateTaskDefinition; rule: ecr.CfnPullThroughCacheRule } {
    const stack = Stack.of(this);
    const prefix = props.bootstrapCachePrefix ?? defaultCachePrefix(stack.stackName);
    if (!Token.isUnresolved(prefix) && !/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(prefix)) {
      throw new Error(`bootstrapCachePrefix: '${prefix}' must be lower-case letters, digits and . _ - (2 to 30 characters)`);
    }
    if (!Token.isUnresolved(prefix) && (prefix.length < 2 || prefix.length > 30)) {
      throw new Error(`bootstrapCachePrefix: '${prefix}' must be 2 to 30 characters long, got ${prefix.length}`);
    }
    const rule = new ecr.CfnPullThroughCacheRule(this, 'BootstrapCacheRule', {
      ecrRepositoryPrefix: prefix,
      upstreamRegistry: 'ecr-public',
      upstreamRegistryUrl: 'public.ecr.aws',
    });
    const upstream = props.bootstrapImage ?? 'docker/library/busybox:1.37';
    const imageUri = `${Aws.ACCOUNT_ID}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}/${prefix}/${upstream}`;
    // The first pull through the cache creates the cached repository and imports the image.
    executionRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'ecr:BatchCheckLayerAvailability',
          'ecr:BatchGetImage',
          'ecr:GetDownloadUrlForLayer',
          'ecr:BatchImportUpstreamImage',
          'ecr:CreateRepository',
        ],
        resources: [stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: `${prefix}/*` })],
      }),
    );
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'BootstrapTaskDefinition', {
      family: `${this.taskFamily}-bootstrap`,
      cpu: this.cpu,
      memoryLimitMiB: this.memoryLimitMiB,
      runtimePlatform,
      executionRole,
      taskRole,
    });
    const page =
      '<!doctype html><title>Greenlight</title><p>Greenlight is being deployed: the first pipeline run replaces this page with the chat.</p>';
    taskDefinition.addContainer('Container', {
      containerName: CONTRACT.containerName,
      image: ecs.ContainerImage.fromRegistry(imageUri),
      essential: true,
      user: '65534',
      portMappings: [{ containerPort: CONTRACT.containerPort, protocol: ecs.Protocol.TCP }],
      entryPoint: ['/bin/sh', '-c'],
      command: [
        `mkdir -p /tmp/www && printf ok > /tmp/www/health && printf '%s' '${page}' > /tmp/www/index.html && exec httpd -f -p ${CONTRACT.containerPort} -h /tmp/www`,
      ],
      healthCheck: {
        command: ['CMD', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${CONTRACT.containerPort}${CONTRACT.healthCheckPath}`],
        interval: Duration.seconds(10),
        timeout: Duration.seconds(3),
        retries: 3,
      },
      stopTimeout: Duration.seconds(CONTRACT.stopTimeoutSeconds),
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'bootstrap' }),
    });
    taskDefinition.node.addDependency(rule);
    return { taskDefinition, rule };
  }

  private createTargetGroup(id: string): elbv2.ApplicationTargetGroup {
    return new elbv2.ApplicationTargetGroup(this, id, {
      vpc: this.vpc,
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
   * The test listener is never open to the internet. The green-light hook reaches it at the ALB
   * nodes' private addresses from inside the VPC (GreenlightDeployment admits its security
   * group), in either egress mode; people reach it only from the CIDRs they list.
   */
  private restrictTestListener(props: GreenlightServiceProps): void {
    for (const cidr of props.testListenerAllowedCidrs ?? []) {
      if (!Token.isUnresolved(cidr) && (cidr === '0.0.0.0/0' || cidr === '::/0')) {
        throw new Error(`testListenerAllowedCidrs: '${cidr}' would open the test listener to the internet`);
      }
      const peer = cidr.includes(':') ? ec2.Peer.ipv6(cidr) : ec2.Peer.ipv4(cidr);
      this.allowTestTrafficFrom(peer, `Test listener from ${asciiOnly(cidr)} (testListenerAllowedCidrs)`);
    }
  }

  /**
   * Scales on requests per task. A target-group metric (ALBRequestCountPerTarget) would follow
   * the blue target group only and go blind after the first blue/green swap, so this divides the
   * load balancer's request count by the running tasks (Container Insights).
   */
  private scaleOnRequests(requestsPerTaskPerMinute: number): void {
    const requests = this.loadBalancer.metrics.requestCount({ period: Duration.minutes(1), statistic: 'Sum' });
    const tasks = new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensionsMap: { ClusterName: this.cluster.clusterName, ServiceName: this.service.serviceName },
      period: Duration.minutes(1),
      statistic: 'Average',
    });
    const perTask = new cloudwatch.MathExpression({
      expression: 'FILL(requests, 0) / MAX([FILL(tasks, 1), 1])',
      usingMetrics: { requests, tasks },
      period: Duration.minutes(1),
      label: 'Requests per task per minute',
    });
    this.scaling.scaleOnMetric('RequestScaling', {
      metric: perTask,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: requestsPerTaskPerMinute / 3, change: -1 },
        { lower: requestsPerTaskPerMinute, change: +1 },
        { lower: requestsPerTaskPerMinute * 2, change: +2 },
      ],
      evaluationPeriods: 3,
      cooldown: Duration.seconds(120),
    });
  }

  private createAlarms(props: GreenlightServiceProps): {
    serverErrors: cloudwatch.Alarm;
    unhealthyHosts: cloudwatch.Alarm;
    latency: cloudwatch.Alarm;
  } {
    const lbMetrics = this.loadBalancer.metrics;
    const period = Duration.minutes(1);
    // Load-balancer-wide metrics: target-group metrics would follow one colour only.
    const serverErrors = new cloudwatch.MathExpression({
      expression: 'FILL(target5xx, 0) + FILL(elb5xx, 0)',
      usingMetrics: {
        target5xx: lbMetrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period, statistic: 'Sum' }),
        elb5xx: lbMetrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period, statistic: 'Sum' }),
      },
      period,
      label: '5xx responses per minute',
    }).createAlarm(this, 'ServerErrorsAlarm', {
      alarmDescription: 'Greenlight: 5xx responses from the tasks or the load balancer',
      threshold: props.serverErrorsPerMinuteThreshold ?? 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const unhealthy = (tg: elbv2.ApplicationTargetGroup) =>
      tg.metrics.unhealthyHostCount({ period, statistic: 'Maximum' });
    const unhealthyHosts = new cloudwatch.MathExpression({
      expression: 'MAX([FILL(blue, 0), FILL(green, 0)])',
      usingMetrics: { blue: unhealthy(this.blueTargetGroup), green: unhealthy(this.greenTargetGroup) },
      period,
      label: 'Unhealthy targets (blue or green)',
    }).createAlarm(this, 'UnhealthyHostsAlarm', {
      alarmDescription: 'Greenlight: a target failed its /health checks',
      threshold: 1,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const latency = lbMetrics
      .targetResponseTime({ period, statistic: 'p95' })
      .createAlarm(this, 'LatencyAlarm', {
        alarmDescription: 'Greenlight: p95 target response time (time to the response headers)',
        threshold: (props.latencyP95Threshold ?? Duration.seconds(3)).toMilliseconds() / 1000,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    return { serverErrors, unhealthyHosts, latency };
  }

  private acknowledgeFindings(): void {
    Validations.of(this.loadBalancerSecurityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'The internet-facing production listener (80/443) is the public entry point; the test listener (8080) admits only the green-light hook\'s security group and the listed CIDRs.',
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'The environment holds only non-secret settings (provider, model, drain window); the API key comes from Secrets Manager.',
    });
    const executionRole = this.taskDefinition.executionRole;
    if (executionRole) {
      Validations.of(executionRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecr:GetAuthorizationToken has no resource-level permissions; every other statement is scoped to the repository, the log group or the secret.',
      });
      Validations.of(executionRole).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, Stack.of(this).formatArn({ service: 'ecr', resource: 'repository', resourceName: `${this.bootstrapCacheRule.ecrRepositoryPrefix}/*` }))}]`,
        reason: 'The pull-through cache creates its repositories under this prefix on the first pull; the prefix is this stack\'s own.',
      });
    }
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the access-log destination itself; logging it would log into itself.',
    });
  }
}

function createRepository(scope: Construct): ecr.Repository {
  return new ecr.Repository(scope, 'Repository', {
    imageTagMutability: ecr.TagMutability.IMMUTABLE,
    imageScanOnPush: true,
    encryption: ecr.RepositoryEncryption.AES_256,
    lifecycleRules: [
      { description: 'Drop untagged layers after a day', tagStatus: ecr.TagStatus.UNTAGGED, maxImageAge: Duration.days(1), rulePriority: 1 },
      { description: 'Keep the last 50 images (rollback targets)', tagStatus: ecr.TagStatus.ANY, maxImageCount: 50, rulePriority: 2 },
    ],
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

function createAccessLogsBucket(scope: Construct): s3.Bucket {
  return new s3.Bucket(scope, 'AccessLogs', {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [{ expiration: Duration.days(90) }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

function defaultCachePrefix(stackName: string): string {
  const base = stackName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'greenlight';
  return `${base.slice(0, 20).replace(/-+$/, '')}-bootstrap`;
}

/** Security group descriptions must be plain ASCII (EC2 rejects the rest). */
export function asciiOnly(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

function validate(v: {
    minCapacity: number;
    maxCapacity: number;
    egress: EgressMode;
    provider: LlmProvider;
    model: string;
    taskFamily: string;
    natGateways?: number;
}): void {
  if (!Number.isInteger(v.minCapacity) || v.minCapacity < 1) {
    throw new Error(`minCapacity: must be an integer of at least 1, got ${v.minCapacity}`);
  }
  if (!Number.isInteger(v.maxCapacity) || v.maxCapacity < v.minCapacity) {
    throw new Error(`maxCapacity: must be an integer of at least minCapacity (${v.minCapacity}), got ${v.maxCapacity}`);
  }
  if (v.natGateways !== undefined && (!Number.isInteger(v.natGateways) || v.natGateways < 1 || v.natGateways > 2)) {
    throw new Error(`natGateways: must be 1 or 2, got ${v.natGateways}`);
  }
  if (v.egress === EgressMode.VPC_ENDPOINTS && v.provider === LlmProvider.OPENAI) {
    throw new Error('egress: VPC_ENDPOINTS has no route to an external provider; use NAT_GATEWAY with llmProvider openai');
  }
  if (v.provider === LlmProvider.BEDROCK && !v.model) {
    throw new Error('llmModel: required for the bedrock provider (the task role may invoke this model only)');
  }
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(v.taskFamily)) {
    throw new Error(`taskFamily: '${v.taskFamily}' must be 1 to 200 letters, digits, _ or -`);
  }
}
