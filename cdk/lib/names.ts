import { REFERENCE_IMAGE_TAG } from './service-props';

/**
 * The deployment names of docs/contract.md ("Deployment names"). The ship files (taskdef.json,
 * appspec.yaml, buildspec.yml) use the same values; change them only together with the contract.
 */
export const CONTRACT = {
  /** Container name in the task definition, the appspec and the target-group registration. */
  containerName: 'greenlight',
  /** Port the server listens on inside the task; the target groups and security groups use it too. */
  containerPort: 8080,
  /** The ALB listener CodeDeploy routes test traffic through (never open to the internet). */
  testListenerPort: 8080,
  /** Container health check: the binary checks its own /health (the image has no shell). */
  containerHealthCheck: ['CMD', '/greenlight', 'healthcheck'],
  healthCheckPath: '/health',
  healthCheckIntervalSeconds: 5,
  healthCheckTimeoutSeconds: 2,
  healthyThresholdCount: 2,
  unhealthyThresholdCount: 2,
  /** The ALB waits this long for open streams of a deregistered target. */
  deregistrationDelaySeconds: 30,
  /** In-flight streams get this long after SIGTERM. */
  drainSeconds: 25,
  /** ECS waits this long after SIGTERM before SIGKILL: longer than the drain window. */
  stopTimeoutSeconds: 35,
  /** The appspec hook the green-light Lambda runs on. */
  hookLifecycleEvent: 'AfterAllowTestTraffic',
  /** The pipeline's image placeholder in taskdef.json (`<IMAGE1_NAME>`). */
  imagePlaceholder: 'IMAGE1_NAME',
} as const;

/**
 * The tag prefix the pipeline's Release stage adds to the image of every successful deployment
 * (`deployed-<commit>`). The repository's lifecycle rules never let the count rule expire an
 * image with such a tag.
 */
export const DEPLOYED_TAG_PREFIX = 'deployed-';

/** Names of the environment variables the pipeline gives CodeBuild (contract table). */
export const CODEBUILD_ENV = [
  'AWS_DEFAULT_REGION',
  'AWS_ACCOUNT_ID',
  'ECR_REPOSITORY_URI',
  'TASK_FAMILY',
  'TASK_EXECUTION_ROLE_ARN',
  'TASK_ROLE_ARN',
  'LOG_GROUP_NAME',
  'CONTAINER_NAME',
  'CONTAINER_PORT',
  'TASK_CPU',
  'TASK_MEMORY',
  'CPU_ARCHITECTURE',
  'LLM_PROVIDER',
  'LLM_MODEL',
  'OPENAI_BASE_URL',
  'OPENAI_API_KEY_SECRET_ARN',
  'DRAIN_SECONDS',
  'STOP_TIMEOUT_SECONDS',
  'HOOK_FUNCTION_NAME',
] as const;

export type CodeBuildEnvName = (typeof CODEBUILD_ENV)[number];

/**
 * The deployment names of docs/contract.md for code outside this package (a buildspec, a
 * taskdef.json renderer, your own IGreenlightService): the same values the constructs use.
 */
export class GreenlightContract {
  /** Container name in the task definition, the appspec and the target-group registration. */
  public static readonly CONTAINER_NAME: string = CONTRACT.containerName;
  /** Port the server listens on inside the task. */
  public static readonly CONTAINER_PORT: number = CONTRACT.containerPort;
  /** The ALB listener CodeDeploy routes test traffic through. */
  public static readonly TEST_LISTENER_PORT: number = CONTRACT.testListenerPort;
  /** The appspec hook the green-light Lambda runs on. */
  public static readonly HOOK_LIFECYCLE_EVENT: string = CONTRACT.hookLifecycleEvent;
  /** The pipeline's image placeholder in taskdef.json. */
  public static readonly IMAGE_PLACEHOLDER: string = CONTRACT.imagePlaceholder;
  /** The tag prefix the Release stage adds to the image of every successful deployment. */
  public static readonly DEPLOYED_TAG_PREFIX: string = DEPLOYED_TAG_PREFIX;
  /** The image tag of the reference revision CloudFormation registers; never pushed, never run. */
  public static readonly REFERENCE_IMAGE_TAG: string = REFERENCE_IMAGE_TAG;
  /** Names of the environment variables the pipeline gives CodeBuild. */
  public static readonly CODEBUILD_ENVIRONMENT: string[] = [...CODEBUILD_ENV];

  private constructor() {}
}
