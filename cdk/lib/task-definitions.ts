import {
  Annotations,
  Aws,
  Duration,
  RemovalPolicy,
  Stack,
  Validations,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_iam as iam,
  aws_logs as logs,
  aws_secretsmanager as secretsmanager,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CONTRACT, DEPLOYED_TAG_PREFIX } from './names';
import { LlmProvider, REFERENCE_IMAGE_TAG } from './service-props';
import { defaultCachePrefix, validateCachePrefix } from './validation';

/** What the task definitions are made of (the service's resolved settings). */
export interface TaskDefinitionOptions {
  readonly taskFamily: string;
  readonly cpu: number;
  readonly memoryLimitMiB: number;
  readonly cpuArchitecture: ecs.CpuArchitecture;
  readonly llmProvider: LlmProvider;
  readonly llmModel: string;
  readonly openAiBaseUrl: string;
  readonly repository: ecr.IRepository;
  readonly logGroup: logs.ILogGroup;
  readonly apiKeySecret?: secretsmanager.ISecret;
  readonly bootstrapImage?: string;
  readonly bootstrapCachePrefix?: string;
  /** The service's construct path, for validation errors. */
  readonly path: string;
  /**
   * The tag (in `repository`) the application's task definition runs.
   * @default REFERENCE_IMAGE_TAG (CodeDeploy: never run, the pipeline registers its own revisions)
   */
  readonly imageTag?: string;
}

/** The application's task definition and the bootstrap one the service is created with. */
export interface ServiceTaskDefinitions {
  readonly executionRole: iam.Role;
  readonly taskRole: iam.Role;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly bootstrapTaskDefinition: ecs.FargateTaskDefinition;
  readonly bootstrapCacheRule: ecr.CfnPullThroughCacheRule;
}

/**
 * The execution and task roles, the application's task definition (the shape `taskdef.json`
 * renders) and the bootstrap task definition behind an ECR pull-through cache rule. Constructs
 * are created in `scope` (the service), so their logical ids do not depend on this file.
 */
export function createTaskDefinitions(scope: Construct, o: TaskDefinitionOptions): ServiceTaskDefinitions {
  const executionRole = new iam.Role(scope, 'ExecutionRole', {
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    description: 'Greenlight task execution: pull the image, write logs, read the API key',
  });
  const taskRole = new iam.Role(scope, 'TaskRole', {
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    description: 'Greenlight task: what the chat server itself may call',
  });
  const runtimePlatform: ecs.RuntimePlatform = {
    operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    cpuArchitecture: o.cpuArchitecture,
  };
  const taskDefinition = new ecs.FargateTaskDefinition(scope, 'TaskDefinition', {
    family: o.taskFamily,
    cpu: o.cpu,
    memoryLimitMiB: o.memoryLimitMiB,
    runtimePlatform,
    executionRole,
    taskRole,
  });
  const container = taskDefinition.addContainer('Container', {
    containerName: CONTRACT.containerName,
    image: ecs.ContainerImage.fromEcrRepository(o.repository, o.imageTag ?? REFERENCE_IMAGE_TAG),
    essential: true,
    portMappings: [
      { containerPort: CONTRACT.containerPort, protocol: ecs.Protocol.TCP, name: 'http', appProtocol: ecs.AppProtocol.http },
    ],
    environment: containerEnvironment(o),
    secrets: o.apiKeySecret ? { OPENAI_API_KEY: ecs.Secret.fromSecretsManager(o.apiKeySecret) } : undefined,
    // The same timings as taskdef.json: the CDK revision and the pipeline's run alike.
    healthCheck: {
      command: [...CONTRACT.containerHealthCheck],
      interval: Duration.seconds(5),
      timeout: Duration.seconds(2),
      retries: 3,
      startPeriod: Duration.seconds(10),
    },
    linuxParameters: dropAllCapabilities(scope),
    stopTimeout: Duration.seconds(CONTRACT.stopTimeoutSeconds),
    readonlyRootFilesystem: true,
    ulimits: [{ name: ecs.UlimitName.NOFILE, softLimit: 65536, hardLimit: 65536 }],
    logging: ecs.LogDrivers.awsLogs({ logGroup: o.logGroup, streamPrefix: 'greenlight' }),
  });
  if (o.llmProvider === LlmProvider.BEDROCK) {
    grantBedrock(scope, taskRole, o.llmModel);
  }
  const bootstrap = createBootstrapTaskDefinition(scope, o, runtimePlatform, executionRole, taskRole);
  return {
    executionRole,
    taskRole,
    taskDefinition,
    container,
    bootstrapTaskDefinition: bootstrap.taskDefinition,
    bootstrapCacheRule: bootstrap.rule,
  };
}

/**
 * ECR applies rules by priority, and an image that matches the tag filter of a rule cannot be
 * expired by a rule of lower priority (ECR user guide, "How lifecycle policies work"). Rule 1
 * matches every image the pipeline marked `deployed-` after a successful deployment: it keeps
 * the last 10 of those (production and its rollback targets) and shields them from rule 3, so
 * any number of failed builds cannot push the running image out.
 */
export const DEFAULT_LIFECYCLE_RULES: ecr.LifecycleRule[] = [
  {
    description: 'Keep the last 10 deployed images (production and rollback targets)',
    tagStatus: ecr.TagStatus.TAGGED,
    tagPrefixList: [DEPLOYED_TAG_PREFIX],
    maxImageCount: 10,
    rulePriority: 1,
  },
  { description: 'Drop untagged layers after a day', tagStatus: ecr.TagStatus.UNTAGGED, maxImageAge: Duration.days(1), rulePriority: 2 },
  { description: 'Keep the last 50 other images', tagStatus: ecr.TagStatus.ANY, maxImageCount: 50, rulePriority: 3 },
];

/** The image repository the pipeline pushes to. */
export function createRepository(scope: Construct): ecr.Repository {
  return new ecr.Repository(scope, 'Repository', {
    imageTagMutability: ecr.TagMutability.IMMUTABLE,
    imageScanOnPush: true,
    encryption: ecr.RepositoryEncryption.AES_256,
    lifecycleRules: DEFAULT_LIFECYCLE_RULES,
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

/** The secret for the provider's API key, with a random value until the user sets the real one. */
export function createApiKeySecret(scope: Construct): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, 'ApiKey', {
    description: 'Greenlight: the LLM provider API key (OPENAI_API_KEY). Set its value after the first deploy.',
    // A random value until you set the real key: the provider rejects it, /ready turns 503 and
    // the green-light hook fails the deployment instead of shipping a broken provider.
    generateSecretString: { passwordLength: 32, excludePunctuation: true },
  });
  Annotations.of(scope).addWarningV2(
    'greenlight:api-key',
    `Set the provider API key after the first deploy: aws secretsmanager put-secret-value --secret-id <ApiKeySecretArn output> --secret-string <key>`,
  );
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason: 'The secret holds a third-party provider API key; it is rotated at the provider, not by a Secrets Manager rotation Lambda.',
  });
  return secret;
}

function containerEnvironment(o: TaskDefinitionOptions): Record<string, string> {
  const env: Record<string, string> = {
    LLM_PROVIDER: o.llmProvider,
    DRAIN_SECONDS: String(CONTRACT.drainSeconds),
    LOG_FORMAT: 'json',
    // The chatbot's own metrics, as CloudWatch Embedded Metric Format in its log stream.
    METRICS_EMF: 'true',
    // The stable dimension the alarms, dashboard and scaling read (cdk/lib/metrics.ts): the task
    // family, unique per service, so two services of one stack never mix their metrics.
    METRICS_EMF_SERVICE: o.taskFamily,
    AWS_REGION: Aws.REGION,
  };
  if (o.llmModel) env.LLM_MODEL = o.llmModel;
  if (o.openAiBaseUrl) env.OPENAI_BASE_URL = o.openAiBaseUrl;
  return env;
}

function dropAllCapabilities(scope: Construct): ecs.LinuxParameters {
  const linux = new ecs.LinuxParameters(scope, 'LinuxParameters');
  linux.dropCapabilities(ecs.Capability.ALL);
  return linux;
}

function grantBedrock(scope: Construct, role: iam.IRole, model: string): void {
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
  const policy = new iam.Policy(scope, 'BedrockPolicy', {
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

function createBootstrapTaskDefinition(
  scope: Construct,
  o: TaskDefinitionOptions,
  runtimePlatform: ecs.RuntimePlatform,
  executionRole: iam.Role,
  taskRole: iam.Role,
): { taskDefinition: ecs.FargateTaskDefinition; rule: ecr.CfnPullThroughCacheRule } {
  const stack = Stack.of(scope);
  const prefix = o.bootstrapCachePrefix ?? defaultCachePrefix(stack.stackName);
  validateCachePrefix(prefix, o.path);
  const rule = new ecr.CfnPullThroughCacheRule(scope, 'BootstrapCacheRule', {
    ecrRepositoryPrefix: prefix,
    upstreamRegistry: 'ecr-public',
    upstreamRegistryUrl: 'public.ecr.aws',
  });
  const upstream = o.bootstrapImage ?? 'docker/library/busybox:1.37';
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
  const taskDefinition = new ecs.FargateTaskDefinition(scope, 'BootstrapTaskDefinition', {
    family: `${o.taskFamily}-bootstrap`,
    cpu: o.cpu,
    memoryLimitMiB: o.memoryLimitMiB,
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
    logging: ecs.LogDrivers.awsLogs({ logGroup: o.logGroup, streamPrefix: 'bootstrap' }),
  });
  taskDefinition.node.addDependency(rule);
  return { taskDefinition, rule };
}
