import type { DeploymentEngine, EcsDeploymentOptions } from './deployment-engine';
import type {
  Duration,
  aws_certificatemanager as acm,
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_logs as logs,
  aws_s3 as s3,
  aws_secretsmanager as secretsmanager,
} from 'aws-cdk-lib';

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
   * @default - a new repository: immutable tags, scan on push, keeps the last 10 deployed and
   *            the last 50 other images
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
   * Retention of the container logs (and of the WAF logs).
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * An AWS WAF web ACL on the load balancer: AWS managed rules (IP reputation, core rule set,
   * known bad inputs; the body rules that misread prompts count instead of block), a body-size
   * limit equal to the server's `MAX_BODY_BYTES` and a per-client-address rate limit on the chat
   * routes, logged to CloudWatch Logs with the `authorization` and `cookie` headers redacted. On
   * by default because the load balancer is always internet-facing (its production listener is
   * open to 0.0.0.0/0). It applies to every listener, the test listener included.
   * @default true
   */
  readonly waf?: boolean;
  /**
   * Requests a client address may send to `/api/chat` and `/v1/chat/completions` (together)
   * within `wafRateLimitWindow` before the web ACL blocks it until its rate falls below. Counted
   * across all tasks, unlike the server's per-task `RATE_LIMIT_PER_MINUTE`; leave room for
   * offices whose users share one NAT address. 20 (the most chat requests one green-light hook
   * run sends through the test listener, which the web ACL also filters) to 2,000,000,000.
   * @default 600
   */
  readonly wafChatRateLimit?: number;
  /**
   * The window the WAF rate limit counts over: 1, 2, 5 or 10 minutes.
   * @default Duration.minutes(5)
   */
  readonly wafRateLimitWindow?: Duration;
  /**
   * ACM certificate for HTTPS on 443 (80 then redirects). ACM renews it in place (same ARN), so
   * the listener never changes.
   * @default - plain HTTP on 80
   */
  readonly certificate?: acm.ICertificate;
  /**
   * The HTTPS listener's security policy, by name. Pinned rather than CDK's
   * `SslPolicy.RECOMMENDED_TLS`, whose value a CDK upgrade may change: that would rewrite the
   * listener CodeDeploy owns (and reset it to blue). Change it only while blue is live.
   * @default 'ELBSecurityPolicy-TLS13-1-2-2021-06'
   */
  readonly sslPolicyName?: string;
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
   * The p95 time to first token of the service's chats (blue and green together) above which
   * the TTFT alarm fires; a deployment rolls back on it. The green-light hook's budget for one
   * chat's first token is the same 5 s.
   * @default Duration.seconds(5)
   */
  readonly ttftP95Threshold?: Duration;
  /**
   * Percentage of chats ending with an error event (upstream timeouts and failures) above which
   * the chat error alarm fires; a deployment rolls back on it. At the default 10 % canary, a
   * green whose every answer fails makes 10 %.
   * @default 5
   */
  readonly chatErrorRatePercentThreshold?: number;
  /**
   * Percentage of answers cut after they began, not by the client (the model's stream broke, or
   * a task stopped mid-answer), above which the interrupted-streams alarm fires; a deployment
   * rolls back on it.
   * @default 2
   */
  readonly interruptedStreamsPercentThreshold?: number;
  /**
   * Chats a minute (the whole service) below which the three chat alarms judge the minute as
   * fine: too few answers say nothing about a build.
   * @default 10
   */
  readonly chatAlarmsMinimumChatsPerMinute?: number;
  /**
   * Concurrent chat streams per task the service scales to hold (target tracking on the average
   * of the tasks' `greenlight_streams_open`); CPU and requests per task stay as guards. The
   * default is half of what one task of the default size (0.25 vCPU, 512 MiB) held within a 1 s
   * TTFT p99 in RELIABILITY.md's capacity run (200 streams), leaving room for the minute or two a
   * new task takes. Raise it with `cpu`.
   * @default 100
   */
  readonly targetStreamsPerTask?: number;
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
  /**
   * What runs the blue/green deployments: CodeDeploy (the CODE_DEPLOY controller; deploy with
   * GreenlightDeployment) or Amazon ECS itself (the ECS controller; deploy with
   * GreenlightEcsDeployment). Changing it on a deployed stack replaces the service
   * (docs/blue-green.md, "Moving between engines").
   * @default DeploymentEngine.CODEDEPLOY
   */
  readonly deploymentEngine?: DeploymentEngine;
  /**
   * How the ECS engine shifts production traffic and how long it bakes. ECS engine only.
   * @default - BLUE_GREEN, 5 minutes bake time
   */
  readonly ecsDeployment?: EcsDeploymentOptions;
}
