import type {
  CfnParameter,
  aws_cloudwatch as cloudwatch,
  aws_codedeploy as codedeploy,
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  aws_s3 as s3,
  aws_secretsmanager as secretsmanager,
} from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { DeploymentEngine } from './deployment-engine';
import type { LlmProvider } from './service-props';

/**
 * What GreenlightDeployment and GreenlightPipeline need from a blue/green ECS service.
 * GreenlightService implements it; implement it yourself to bring your own load balancer,
 * target groups, listeners, alarms or roles.
 */
export interface IGreenlightService extends IConstruct {
  /** The VPC of the tasks (the hook runs in it too). */
  readonly vpc: ec2.IVpc;
  /** The subnets of the tasks (and of the hook). */
  readonly taskSubnets: ec2.SubnetSelection;
  /**
   * The ECS service: under the CODE_DEPLOY deployment controller (CodeDeploy engine) or the ECS
   * one (ECS engine).
   */
  readonly service: ecs.IBaseService;
  /** What runs the service's blue/green deployments; the deployment construct must match it. */
  readonly deploymentEngine: DeploymentEngine;
  /** The cluster of {@link service}. */
  readonly cluster: ecs.ICluster;
  /** The image repository the pipeline pushes to. */
  readonly repository: ecr.IRepository;
  /** The load balancer in front of both target groups. */
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** The load balancer's full name (`app/<name>/<id>`): the hook finds its nodes by it. */
  readonly loadBalancerFullName: string;
  /** The load balancer's security group: the hook is admitted to the test listener through it. */
  readonly loadBalancerSecurityGroup: ec2.ISecurityGroup;
  /** The interface endpoints' security group, when the tasks reach AWS through endpoints. */
  readonly endpointSecurityGroup?: ec2.ISecurityGroup;
  /** The target group production traffic starts on. */
  readonly blueTargetGroup: elbv2.IApplicationTargetGroup;
  /** The target group a deployment starts green tasks in. */
  readonly greenTargetGroup: elbv2.IApplicationTargetGroup;
  /** The production listener CodeDeploy shifts. */
  readonly productionListener: elbv2.IApplicationListener;
  /** The test listener the hook checks green through. */
  readonly testListener: elbv2.IApplicationListener;
  /** `http://<load balancer>:<test port>`: the URL the hook tests. */
  readonly testListenerUrl: string;
  /** The alarms a deployment rolls back on. */
  readonly alarms: cloudwatch.IAlarm[];
  /** The role the application's tasks run with (`TASK_ROLE_ARN`). */
  readonly taskRole: iam.IRole;
  /** The role ECS pulls the image and writes the logs with (`TASK_EXECUTION_ROLE_ARN`). */
  readonly executionRole: iam.IRole;
  /** The container logs (`LOG_GROUP_NAME`). */
  readonly logGroup: logs.ILogGroup;
  /** Bucket for access logs (the pipeline's artifact and cache buckets log here too). */
  readonly accessLogsBucket: s3.IBucket;
  /** Task definition family the pipeline registers revisions in (`TASK_FAMILY`). */
  readonly taskFamily: string;
  /** Task CPU units (`TASK_CPU`). */
  readonly cpu: number;
  /** Task memory in MiB (`TASK_MEMORY`). */
  readonly memoryLimitMiB: number;
  /** CPU architecture of the tasks (`CPU_ARCHITECTURE`). */
  readonly cpuArchitecture: ecs.CpuArchitecture;
  /** The LLM provider (`LLM_PROVIDER`). */
  readonly llmProvider: LlmProvider;
  /** The model (`LLM_MODEL`); empty for the server's default. */
  readonly llmModel: string;
  /** The OpenAI-compatible base URL (`OPENAI_BASE_URL`); empty for the server's default. */
  readonly openAiBaseUrl: string;
  /** The provider's API key (`OPENAI_API_KEY`), if any. */
  readonly apiKeySecret?: secretsmanager.ISecret;

  /** Lets `peer` reach the test listener. */
  allowTestTrafficFrom(peer: ec2.IPeer, description: string): void;
}

/** What GreenlightPipeline needs from a blue/green deployment. */
export interface IGreenlightDeployment extends IConstruct {
  /** The deployment group the pipeline's Deploy stage deploys to. */
  readonly deploymentGroup: codedeploy.IEcsDeploymentGroup;
  /** The green-light hook (`HOOK_FUNCTION_NAME`). */
  readonly hook: lambda.IFunction;
}

/**
 * What GreenlightEcsDeployment and the pipeline's ECS deploy step need from a service under the
 * ECS engine ({@link DeploymentEngine.ECS}). GreenlightService implements it.
 */
export interface IGreenlightEcsService extends IGreenlightService {
  /** The bootstrap placeholder's task definition family: the hook passes that revision unchecked. */
  readonly bootstrapTaskFamily: string;
  /**
   * The stack parameter with the image tag the service runs: the pipeline's Deploy stage sets it
   * with a CloudFormation update of the service's stack.
   * @default - none (a service under the CodeDeploy engine)
   */
  readonly imageTagParameter?: CfnParameter;

  /** Registers a lifecycle hook of the service's ECS blue/green deployments. */
  addLifecycleHook(target: ecs.IDeploymentLifecycleHookTarget): void;
}

/** What GreenlightPipeline needs from an ECS blue/green deployment. */
export interface IGreenlightEcsDeployment extends IConstruct {
  /** The service the deployment belongs to: the pipeline sets its image tag parameter. */
  readonly service: IGreenlightEcsService;
  /** The green-light hook (`HOOK_FUNCTION_NAME`). */
  readonly hook: lambda.IFunction;
}
