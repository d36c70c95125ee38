import {
  Aspects,
  CfnCondition,
  CfnParameter,
  type CfnResource,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
  aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
  aws_iam as iam,
  aws_logs as logs,
  aws_s3 as s3,
  aws_secretsmanager as secretsmanager,
  aws_wafv2 as wafv2,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { DeploymentEngine, ecsStrategyProps } from './deployment-engine';
import { type EcsTraffic, configureEcsTraffic } from './ecs-traffic';
import { ExplicitIamActions, nagResource } from './iam';
import type { IGreenlightEcsService, IGreenlightService } from './interfaces';
import { allowTestTraffic, createAccessLogsBucket, createLoadBalancer } from './load-balancer';
import { createChatAlarms } from './chat-alarms';
import { ChatbotMetrics } from './chatbot-metrics';
import { createDashboard, dashboardUrl } from './dashboard';
import { configureScaling, createAlarms } from './monitoring';
import { createServiceNetwork } from './network';
import { EgressMode, LlmProvider, type GreenlightServiceProps } from './service-props';
import { createApiKeySecret, createRepository, createTaskDefinitions } from './task-definitions';
import { defaultCachePrefix, validateChatSettings, validateServiceSettings } from './validation';
import { DEFAULT_WAF_CHAT_RATE_LIMIT, SERVER_MAX_BODY_BYTES, createWebAcl } from './waf';


/** The service's desired count in the template: constant for the life of the stack. */
export const INITIAL_DESIRED_COUNT = 2;

/**
 * The Greenlight chat service: VPC, ECS cluster, Fargate service, an internet-facing ALB with a
 * production and a test listener, blue and green target groups, autoscaling and the alarms a
 * deployment rolls back on.
 *
 * CodeDeploy engine (the default): the CODE_DEPLOY controller. CloudFormation creates the
 * service once from a bootstrap task definition family and never updates its task definition
 * afterwards (see cdk/README.md, "Redeploying the stack"); every change of the running
 * container goes through the pipeline's `taskdef.json`.
 *
 * ECS engine: the ECS controller with a blue/green strategy, both target groups and a listener
 * rule per listener, the circuit breaker and the alarms. The application's task definition
 * runs the image tag in the `ImageTag` stack parameter, which the pipeline sets through a
 * CloudFormation update; while it is empty (a new stack) the service runs the bootstrap
 * task definition.
 */
export class GreenlightService extends Construct implements IGreenlightService, IGreenlightEcsService {
  public readonly vpc: ec2.IVpc;
  public readonly egress: EgressMode;
  public readonly taskSubnets: ec2.SubnetSelection;
  public readonly cluster: ecs.ICluster;
  public readonly repository: ecr.IRepository;
  /** The application's task definition (family `taskFamily`): the shape `taskdef.json` renders. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The `greenlight` container of {@link taskDefinition}. */
  public readonly container: ecs.ContainerDefinition;
  /** The task definition the service is created with (family `<taskFamily>-bootstrap`). */
  public readonly bootstrapTaskDefinition: ecs.FargateTaskDefinition;
  public readonly bootstrapCacheRule: ecr.CfnPullThroughCacheRule;
  public readonly service: ecs.IBaseService;
  public readonly serviceSecurityGroup: ec2.SecurityGroup;
  public readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  public readonly loadBalancerSecurityGroup: ec2.ISecurityGroup;
  /** The load balancer's full name (`app/<name>/<id>`). */
  public readonly loadBalancerFullName: string;
  /** The role the application's tasks run with: grant it what your server calls. */
  public readonly taskRole: iam.IRole;
  /** The role ECS pulls the image and writes the logs with. */
  public readonly executionRole: iam.IRole;
  public readonly productionListener: elbv2.IApplicationListener;
  /** The port-80 redirect listener in HTTPS mode. */
  public readonly redirectListener?: elbv2.IApplicationListener;
  public readonly testListener: elbv2.IApplicationListener;
  public readonly blueTargetGroup: elbv2.IApplicationTargetGroup;
  public readonly greenTargetGroup: elbv2.IApplicationTargetGroup;
  public readonly logGroup: logs.ILogGroup;
  /** The web ACL on the load balancer (unless `waf` is false). */
  public readonly webAcl?: wafv2.CfnWebACL;
  /** The WAF's request logs (`aws-waf-logs-...`; unless `waf` is false). */
  public readonly wafLogGroup?: logs.ILogGroup;
  public readonly accessLogsBucket: s3.IBucket;
  public readonly apiKeySecret?: secretsmanager.ISecret;
  public readonly endpointSecurityGroup?: ec2.ISecurityGroup;
  public readonly scaling: ecs.ScalableTaskCount;
  public readonly serverErrorsAlarm: cloudwatch.Alarm;
  public readonly unhealthyHostsAlarm: cloudwatch.Alarm;
  public readonly latencyAlarm: cloudwatch.Alarm;
  /** p95 time to first token of the chats above `ttftP95Threshold`. */
  public readonly ttftAlarm: cloudwatch.Alarm;
  /** Chats ending with an error event above `chatErrorRatePercentThreshold`. */
  public readonly chatErrorRateAlarm: cloudwatch.Alarm;
  /** Answers cut mid-stream (not by the client) above `interruptedStreamsPercentThreshold`. */
  public readonly interruptedStreamsAlarm: cloudwatch.Alarm;
  /** The alarms a deployment rolls back on (both engines). */
  public readonly alarms: cloudwatch.IAlarm[];
  /** The service's CloudWatch dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;
  /** The dashboard in the CloudWatch console. */
  public readonly dashboardUrl: string;
  /**
   * The value of the `service` dimension of the server's metrics (`METRICS_EMF_SERVICE`, the
   * task family): the alarms, the dashboard and the scaling read the metrics under it.
   */
  public readonly metricsServiceDimension: string;
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
  public readonly deploymentEngine: DeploymentEngine;
  /**
   * ECS engine: the stack parameter with the image tag the service runs (set by the pipeline,
   * kept by `cdk deploy`, which reuses a parameter's previous value).
   */
  public readonly imageTagParameter?: CfnParameter;
  /** ECS engine: the listener rules ECS shifts traffic with, and its load balancer role. */
  public readonly ecsTraffic?: EcsTraffic;
  private readonly fargateService: ecs.FargateService;

  constructor(scope: Construct, id: string, props: GreenlightServiceProps = {}) {
    super(scope, id);
    // The access-log bucket enforces bucket-owner object ownership (no ACLs), so the buckets that
    // log into it (the pipeline's) must be granted delivery by bucket policy. The flag is read
    // on this bucket: set for this subtree, the construct works in apps that do not set it.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    // The first service of a stack keeps the historical defaults (deployed stacks must see the
    // same family and prefix); every further one derives its own from its construct id, so two
    // services in one stack never collide.
    const siblings = otherServicesInStack(this);
    const slug = idSlug(id);
    this.egress = props.egress ?? EgressMode.NAT_GATEWAY;
    this.taskFamily = props.taskFamily ?? (siblings.length === 0 ? 'greenlight' : `greenlight-${slug}`.slice(0, 200));
    this.cpu = props.cpu ?? 256;
    this.memoryLimitMiB = props.memoryLimitMiB ?? 512;
    this.cpuArchitecture = props.cpuArchitecture ?? ecs.CpuArchitecture.X86_64;
    this.llmProvider = props.llmProvider ?? LlmProvider.OFFLINE;
    this.llmModel = props.llmModel ?? '';
    this.openAiBaseUrl = props.openAiBaseUrl ?? '';
    this.deploymentEngine = props.deploymentEngine ?? DeploymentEngine.CODEDEPLOY;
    const ecsEngine = this.deploymentEngine === DeploymentEngine.ECS;
    if (!ecsEngine && props.ecsDeployment) {
      throw new Error('ecsDeployment: applies to deploymentEngine DeploymentEngine.ECS only');
    }
    const ecsStrategy = ecsEngine ? ecsStrategyProps(props.ecsDeployment) : undefined;
    const minCapacity = props.minCapacity ?? 2;
    const maxCapacity = props.maxCapacity ?? 6;
    validateServiceSettings({
      minCapacity,
      maxCapacity,
      egress: this.egress,
      provider: this.llmProvider,
      model: this.llmModel,
      taskFamily: this.taskFamily,
      natGateways: props.natGateways,
    }, this.node.path);
    for (const other of siblings) {
      if (!Token.isUnresolved(this.taskFamily) && other.taskFamily === this.taskFamily) {
        throw new Error(`${this.node.path}: taskFamily '${this.taskFamily}' is already used by ${other.node.path}; give each service its own`);
      }
    }
    const cachePrefix =
      props.bootstrapCachePrefix ??
      (siblings.length === 0 ? undefined : `${defaultCachePrefix(Stack.of(this).stackName).replace(/-bootstrap$/, '').slice(0, 12).replace(/-+$/, '')}-${slug.slice(0, 12)}-bs`);

    // ---- network ----
    const network = createServiceNetwork(this, {
      vpc: props.vpc,
      natGateways: props.natGateways,
      taskSubnets: props.taskSubnets,
      egress: this.egress,
    });
    this.vpc = network.vpc;
    this.taskSubnets = network.taskSubnets;
    this.serviceSecurityGroup = network.serviceSecurityGroup;
    this.endpointSecurityGroup = network.endpointSecurityGroup;

    // ---- image repository and logs ----
    this.repository = props.repository ?? createRepository(this);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.accessLogsBucket = props.accessLogsBucket ?? createAccessLogsBucket(this);

    // ---- provider ----
    if (this.llmProvider === LlmProvider.OPENAI) {
      this.apiKeySecret = props.apiKeySecret ?? createApiKeySecret(this);
    } else {
      this.apiKeySecret = props.apiKeySecret;
    }

    // ---- task definitions ----
    let hasImage: CfnCondition | undefined;
    if (ecsEngine) {
      this.imageTagParameter = new CfnParameter(this, 'ImageTag', {
        type: 'String',
        default: '',
        // An ECR tag (what scripts/ship/build.sh pushes: the commit id), or empty.
        allowedPattern: '^$|^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$',
        description: 'Image tag (in the stack\'s repository) the service runs; set by the pipeline. Empty: the bootstrap placeholder.',
      });
      hasImage = new CfnCondition(this, 'HasImage', {
        expression: Fn.conditionNot(Fn.conditionEquals(this.imageTagParameter.valueAsString, '')),
      });
    }
    const taskDefinitions = createTaskDefinitions(this, {
      taskFamily: this.taskFamily,
      cpu: this.cpu,
      memoryLimitMiB: this.memoryLimitMiB,
      cpuArchitecture: this.cpuArchitecture,
      llmProvider: this.llmProvider,
      llmModel: this.llmModel,
      openAiBaseUrl: this.openAiBaseUrl,
      repository: this.repository,
      logGroup: this.logGroup,
      apiKeySecret: this.apiKeySecret,
      bootstrapImage: props.bootstrapImage,
      bootstrapCachePrefix: cachePrefix,
      path: this.node.path,
      imageTag: this.imageTagParameter?.valueAsString,
    });
    for (const other of siblings) {
      const mine = taskDefinitions.bootstrapCacheRule.ecrRepositoryPrefix ?? '';
      if (!Token.isUnresolved(mine) && mine === other.bootstrapCacheRule.ecrRepositoryPrefix) {
        throw new Error(`${this.node.path}: bootstrapCachePrefix '${mine}' is already used by ${other.node.path}; give each service its own`);
      }
    }
    this.taskDefinition = taskDefinitions.taskDefinition;
    this.container = taskDefinitions.container;
    this.bootstrapTaskDefinition = taskDefinitions.bootstrapTaskDefinition;
    this.bootstrapCacheRule = taskDefinitions.bootstrapCacheRule;
    this.taskRole = taskDefinitions.taskRole;
    this.executionRole = taskDefinitions.executionRole;

    // ---- cluster and service ----
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const fargateService = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      // CodeDeploy: CDK then writes the family name (not the revision ARN) into the service, so
      // the service's TaskDefinition property never changes after creation. ECS: see below.
      taskDefinition: ecsEngine ? this.taskDefinition : this.bootstrapTaskDefinition,
      deploymentController: {
        type: ecsEngine ? ecs.DeploymentControllerType.ECS : ecs.DeploymentControllerType.CODE_DEPLOY,
      },
      // ECS engine: the strategy, bake time and steps (AWS::ECS::Service DeploymentConfiguration
      // Strategy, BakeTimeInMinutes, CanaryConfiguration, LinearConfiguration), and the circuit
      // breaker: green tasks that keep failing to start roll the deployment back.
      ...(ecsStrategy ? { ...ecsStrategy, circuitBreaker: { enable: true, rollback: true } } : {}),
      // A constant, never derived from a prop (either engine): CloudFormation sends DesiredCount
      // only when its template value changes, and sending one would reset the live, autoscaled
      // count. The scalable target moves the count into [minCapacity, maxCapacity] when it is
      // registered or updated (Application Auto Scaling API reference, RegisterScalableTarget).
      desiredCount: INITIAL_DESIRED_COUNT,
      assignPublicIp: false,
      vpcSubnets: this.taskSubnets,
      securityGroups: [this.serviceSecurityGroup],
      healthCheckGracePeriod: Duration.seconds(30),
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      enableECSManagedTags: true,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });
    this.service = fargateService;
    this.fargateService = fargateService;

    if (hasImage) {
      // The application's revision exists once the pipeline has set ImageTag; until then the
      // service runs the bootstrap placeholder (the hook passes that family unchecked).
      (this.taskDefinition.node.defaultChild as CfnResource).cfnOptions.condition = hasImage;
      (fargateService.node.defaultChild as ecs.CfnService).taskDefinition = Token.asString(
        Fn.conditionIf(hasImage.logicalId, this.taskDefinition.taskDefinitionArn, this.bootstrapTaskDefinition.taskDefinitionArn),
      );
    }

    // ---- load balancer ----
    const lb = createLoadBalancer(this, {
      vpc: this.vpc,
      service: fargateService,
      serviceSecurityGroup: this.serviceSecurityGroup,
      accessLogsBucket: this.accessLogsBucket,
      certificate: props.certificate,
      sslPolicyName: props.sslPolicyName,
      testListenerAllowedCidrs: props.testListenerAllowedCidrs,
      path: this.node.path,
      attachService: !ecsEngine,
    });
    this.loadBalancerSecurityGroup = lb.loadBalancerSecurityGroup;
    this.loadBalancer = lb.loadBalancer;
    this.loadBalancerFullName = lb.loadBalancer.loadBalancerFullName;
    this.blueTargetGroup = lb.blueTargetGroup;
    this.greenTargetGroup = lb.greenTargetGroup;
    this.productionListener = lb.productionListener;
    this.redirectListener = lb.redirectListener;
    this.testListener = lb.testListener;
    this.url = lb.url;
    this.testListenerUrl = lb.testListenerUrl;
    if (props.waf === false && (props.wafChatRateLimit !== undefined || props.wafRateLimitWindow !== undefined)) {
      throw new Error(`${this.node.path}: wafChatRateLimit, wafRateLimitWindow: apply only when waf is true`);
    }
    if (props.waf ?? true) {
      const waf = createWebAcl(this, {
        loadBalancer: lb.loadBalancer,
        chatRateLimit: props.wafChatRateLimit ?? DEFAULT_WAF_CHAT_RATE_LIMIT,
        rateLimitWindow: props.wafRateLimitWindow ?? Duration.minutes(5),
        maxBodyBytes: SERVER_MAX_BODY_BYTES,
        logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        path: this.node.path,
      });
      this.webAcl = waf.webAcl;
      this.wafLogGroup = waf.logGroup;
    }
    if (ecsEngine) {
      this.ecsTraffic = configureEcsTraffic(this, {
        service: fargateService,
        blueTargetGroup: lb.blueTargetGroup,
        greenTargetGroup: lb.greenTargetGroup,
        productionListener: lb.productionListener,
        testListener: lb.testListener,
      });
    }

    // ---- scaling, alarms and dashboard ----
    // The task definition sets METRICS_EMF_SERVICE to the task family (task-definitions.ts).
    this.metricsServiceDimension = this.taskFamily;
    const chatMetrics = new ChatbotMetrics(this.metricsServiceDimension);
    const targetStreamsPerTask = props.targetStreamsPerTask ?? 100;
    const chatThresholds = {
      ttftP95Threshold: props.ttftP95Threshold ?? Duration.seconds(5),
      chatErrorRatePercent: props.chatErrorRatePercentThreshold ?? 5,
      interruptedStreamsPercent: props.interruptedStreamsPercentThreshold ?? 2,
      minimumChatsPerMinute: props.chatAlarmsMinimumChatsPerMinute ?? 10,
    };
    validateChatSettings({
      ...chatThresholds,
      ttftP95Seconds: chatThresholds.ttftP95Threshold.toMilliseconds() / 1000,
      targetStreamsPerTask,
    }, this.node.path);
    this.scaling = configureScaling(fargateService, this.cluster, this.loadBalancer, {
      minCapacity,
      maxCapacity,
      targetCpuUtilizationPercent: props.targetCpuUtilizationPercent ?? 60,
      requestsPerTaskPerMinute: props.requestsPerTaskPerMinute ?? 120,
      streamsPerTask: chatMetrics.streamsOpen('Average'),
      targetStreamsPerTask,
    });
    const alarms = createAlarms(this, this.loadBalancer, this.blueTargetGroup, this.greenTargetGroup, {
      latencyP95Threshold: props.latencyP95Threshold ?? Duration.seconds(3),
      serverErrorsPerMinuteThreshold: props.serverErrorsPerMinuteThreshold ?? 5,
    });
    this.serverErrorsAlarm = alarms.serverErrors;
    this.unhealthyHostsAlarm = alarms.unhealthyHosts;
    this.latencyAlarm = alarms.latency;
    const chatAlarms = createChatAlarms(this, chatMetrics, chatThresholds);
    this.ttftAlarm = chatAlarms.ttft;
    this.chatErrorRateAlarm = chatAlarms.chatErrors;
    this.interruptedStreamsAlarm = chatAlarms.interruptedStreams;
    this.alarms = [
      alarms.serverErrors, alarms.unhealthyHosts, alarms.latency,
      chatAlarms.ttft, chatAlarms.chatErrors, chatAlarms.interruptedStreams,
    ];
    this.dashboard = createDashboard(this, {
      serviceDimension: this.metricsServiceDimension,
      metrics: chatMetrics,
      chatAlarms,
      thresholds: chatThresholds,
      loadBalancerAlarms: [alarms.serverErrors, alarms.unhealthyHosts, alarms.latency],
      loadBalancer: this.loadBalancer,
      blueTargetGroup: this.blueTargetGroup,
      greenTargetGroup: this.greenTargetGroup,
      cluster: this.cluster,
      service: fargateService,
      targetStreamsPerTask,
    });
    this.dashboardUrl = dashboardUrl(this.dashboard);
    if (ecsEngine) {
      // The same alarms CodeDeploy stops on: in alarm during a deployment (bake time included),
      // ECS rolls it back (DeploymentConfiguration.Alarms with Rollback).
      fargateService.enableDeploymentAlarms(
        this.alarms.map((alarm) => alarm.alarmName),
        { behavior: ecs.AlarmBehavior.ROLLBACK_ON_ALARM },
      );
    }

    // The constructs' own policies only: what a user grants the task role stays as they wrote it.
    Aspects.of(this).add(new ExplicitIamActions([this.taskRole]));
    this.acknowledgeFindings();
  }

  /** The bootstrap task definition's family (`<taskFamily>-bootstrap`). */
  public get bootstrapTaskFamily(): string {
    return this.bootstrapTaskDefinition.family;
  }

  /** ECS engine: registers a lifecycle hook of the service's blue/green deployments. */
  public addLifecycleHook(target: ecs.IDeploymentLifecycleHookTarget): void {
    if (this.deploymentEngine !== DeploymentEngine.ECS) {
      throw new Error(`${this.node.path}: lifecycle hooks need deploymentEngine DeploymentEngine.ECS (CodeDeploy runs its hooks from the appspec)`);
    }
    this.fargateService.addLifecycleHook(target);
  }

  /** Lets `peer` reach the test listener (8080) of the load balancer. */
  public allowTestTrafficFrom(peer: ec2.IPeer, description: string): void {
    allowTestTraffic(this.loadBalancerSecurityGroup, peer, description);
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
    if (this.ecsTraffic) {
      Validations.of(this.ecsTraffic.loadBalancerRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'elasticloadbalancing:Describe* have no resource-level permissions; RegisterTargets, DeregisterTargets, ModifyListener and ModifyRule are scoped to this service\'s two target groups, two listeners and two rules.',
      });
    }
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the access-log destination itself; logging it would log into itself.',
    });
  }
}

/** The GreenlightServices already constructed in the stack of `service`. */
function otherServicesInStack(service: GreenlightService): GreenlightService[] {
  return Stack.of(service)
    .node.findAll()
    .filter((c): c is GreenlightService => c instanceof GreenlightService && c !== service);
}

/** A construct id as lower-case letters, digits and dashes (task families and ECR prefixes). */
function idSlug(id: string): string {
  return id.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'service';
}
