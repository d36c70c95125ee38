import {
  ArnFormat,
  Aspects,
  Aws,
  CfnResource,
  DefaultStackSynthesizer,
  Duration,
  RemovalPolicy,
  Stack,
  Validations,
  aws_codebuild as codebuild,
  aws_codepipeline as codepipeline,
  aws_codepipeline_actions as actions,
  aws_ecs as ecs,
  aws_iam as iam,
  aws_logs as logs,
  aws_s3 as s3,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { dropRedundantDependsOn } from './cfn';
import { ExplicitIamActions, nagResource } from './iam';
import type { IGreenlightDeployment, IGreenlightEcsDeployment, IGreenlightEcsService, IGreenlightService } from './interfaces';
import { CONTRACT, DEPLOYED_TAG_PREFIX, type CodeBuildEnvName } from './names';

/** Properties of {@link GreenlightPipeline}. */
export interface GreenlightPipelineProps {
  /** The service whose image the pipeline builds (a GreenlightService, or your own implementation). */
  readonly service: IGreenlightService;
  /**
   * The CodeDeploy blue/green deployment the pipeline's Deploy stage starts. Give this or
   * `ecsDeployment`, matching the service's deployment engine.
   * @default - none
   */
  readonly deployment?: IGreenlightDeployment;
  /**
   * The ECS blue/green deployment: the Deploy stage sets the service's `ImageTag` stack
   * parameter through a CloudFormation update, and ECS deploys the new task definition.
   * @default - none
   */
  readonly ecsDeployment?: IGreenlightEcsDeployment;
  /**
   * ARN of an AVAILABLE CodeConnections (CodeStar connections) connection to GitHub, GitLab or
   * Bitbucket (created in the console, then completed with the provider's OAuth handshake).
   */
  readonly connectionArn: string;
  /** Owner (user, organization or workspace) of the source repository. */
  readonly repositoryOwner: string;
  /** Name of the source repository. */
  readonly repositoryName: string;
  /**
   * The branch whose pushes deploy.
   * @default 'main'
   */
  readonly branch?: string;
  /**
   * Glob patterns of files whose change starts the pipeline (e.g. `runtime/**`, `Dockerfile`).
   * @default - any change on the branch
   */
  readonly filePathsIncludes?: string[];
  /**
   * Glob patterns of files whose change alone does not start the pipeline (e.g. `docs/**`).
   * @default - none
   */
  readonly filePathsExcludes?: string[];
  /**
   * CodeBuild compute size (the Rust release build with LTO wants the cores).
   * @default codebuild.ComputeType.MEDIUM
   */
  readonly buildComputeType?: codebuild.ComputeType;
  /**
   * Build timeout.
   * @default Duration.minutes(45)
   */
  readonly buildTimeout?: Duration;
  /**
   * Retention of the build logs.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly buildLogRetention?: logs.RetentionDays;
}

/**
 * The pipeline a `git push` starts: CodeConnections source (push trigger on one branch),
 * CodeBuild running the repository's root buildspec.yml (test, build and push the image, render
 * taskdef.json and appspec.yaml), and the deploy: the CodeDeploy ECS blue/green action, or (ECS
 * engine) a CodeBuild step that updates this stack with the new image tag, so that ECS runs the
 * blue/green deployment and CloudFormation records the image that passed.
 */
export class GreenlightPipeline extends Construct {
  public readonly pipeline: codepipeline.Pipeline;
  public readonly artifactBucket: s3.Bucket;
  /**
   * The CodeBuild cache (cargo registry, toolchain, target/): unversioned, so a build replaces the
   * multi-GB cache instead of leaving a noncurrent copy of it behind.
   */
  public readonly cacheBucket: s3.Bucket;
  /** Tags the image of every successful deployment `deployed-<tag>` (see the ECR lifecycle rules). */
  public readonly markDeployedProject: codebuild.PipelineProject;
  public readonly markDeployedAction: actions.CodeBuildAction;
  public readonly project: codebuild.PipelineProject;
  public readonly buildLogGroup: logs.LogGroup;
  public readonly sourceAction: actions.CodeStarConnectionsSourceAction;
  public readonly buildAction: actions.CodeBuildAction;
  /** CodeDeploy engine: the CodeDeploy ECS blue/green action. */
  public readonly deployAction?: actions.CodeDeployEcsDeployAction;
  /** ECS engine: the project that updates the stack's `ImageTag` parameter. */
  public readonly deployProject?: codebuild.PipelineProject;
  /** ECS engine: the action running {@link deployProject}. */
  public readonly ecsDeployAction?: actions.CodeBuildAction;
  /** The environment CodeBuild gets (contract names), as CloudFormation values. */
  public readonly buildEnvironment: { [name: string]: string };

  constructor(scope: Construct, id: string, props: GreenlightPipelineProps) {
    super(scope, id);
    const { service, deployment, ecsDeployment } = props;
    if ((deployment === undefined) === (ecsDeployment === undefined)) {
      throw new Error('GreenlightPipeline: give exactly one of deployment (CodeDeploy) and ecsDeployment (ECS)');
    }
    const hook = (deployment ?? ecsDeployment)!.hook;
    if (ecsDeployment && ecsDeployment.service !== service) {
      throw new Error(`${this.node.path}: ecsDeployment deploys ${ecsDeployment.service.node.path}, not the pipeline's service ${service.node.path}`);
    }
    const branch = props.branch ?? 'main';
    for (const [name, value] of Object.entries({
      repositoryOwner: props.repositoryOwner,
      repositoryName: props.repositoryName,
      branch,
    })) {
      if (!/^[A-Za-z0-9._\-/]{1,200}$/.test(value)) {
        throw new Error(`${name}: '${value}' must be 1 to 200 characters of letters, digits and . _ - /`);
      }
    }
    if (!/^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection\/[0-9a-f-]{36}$/.test(props.connectionArn)) {
      throw new Error(`connectionArn: '${props.connectionArn}' is not a CodeConnections connection ARN (arn:aws:codeconnections:<region>:<account>:connection/<uuid>)`);
    }

    this.artifactBucket = new s3.Bucket(this, 'Artifacts', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      serverAccessLogsBucket: service.accessLogsBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [
        { noncurrentVersionExpiration: Duration.days(30) },
        // The build cache lived here before it moved to cacheBucket: this clears what is left.
        { prefix: 'codebuild-cache/', expiration: Duration.days(30) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.cacheBucket = new s3.Bucket(this, 'BuildCache', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: false,
      serverAccessLogsBucket: service.accessLogsBucket,
      serverAccessLogsPrefix: 'build-cache/',
      // A cache untouched for 30 days belongs to a branch or toolchain nobody builds any more.
      lifecycleRules: [{ expiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });

    const environment: Record<CodeBuildEnvName, string> = {
      AWS_DEFAULT_REGION: Aws.REGION,
      AWS_ACCOUNT_ID: Aws.ACCOUNT_ID,
      ECR_REPOSITORY_URI: service.repository.repositoryUri,
      TASK_FAMILY: service.taskFamily,
      TASK_EXECUTION_ROLE_ARN: service.executionRole.roleArn,
      TASK_ROLE_ARN: service.taskRole.roleArn,
      LOG_GROUP_NAME: service.logGroup.logGroupName,
      CONTAINER_NAME: CONTRACT.containerName,
      CONTAINER_PORT: String(CONTRACT.containerPort),
      TASK_CPU: String(service.cpu),
      TASK_MEMORY: String(service.memoryLimitMiB),
      CPU_ARCHITECTURE: service.cpuArchitecture === ecs.CpuArchitecture.ARM64 ? 'ARM64' : 'X86_64',
      LLM_PROVIDER: service.llmProvider,
      LLM_MODEL: service.llmModel,
      OPENAI_BASE_URL: service.openAiBaseUrl,
      OPENAI_API_KEY_SECRET_ARN: service.apiKeySecret?.secretArn ?? '',
      DRAIN_SECONDS: String(CONTRACT.drainSeconds),
      STOP_TIMEOUT_SECONDS: String(CONTRACT.stopTimeoutSeconds),
      HOOK_FUNCTION_NAME: hook.functionName,
    };
    this.buildEnvironment = environment;

    this.buildLogGroup = new logs.LogGroup(this, 'BuildLogs', {
      retention: props.buildLogRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    const arm = service.cpuArchitecture === ecs.CpuArchitecture.ARM64;
    this.project = new codebuild.PipelineProject(this, 'Build', {
      description: 'Greenlight: test, build and push the image, render taskdef.json and appspec.yaml',
      buildSpec: codebuild.BuildSpec.fromSourceFilename('buildspec.yml'),
      environment: {
        // The image is built natively for the tasks' architecture.
        buildImage: arm
          ? codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0
          : codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: props.buildComputeType ?? codebuild.ComputeType.MEDIUM,
        privileged: true,
      },
      environmentVariables: Object.fromEntries(
        Object.entries(this.buildEnvironment).map(([name, value]) => [
          name,
          { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value },
        ]),
      ),
      timeout: props.buildTimeout ?? Duration.minutes(45),
      cache: codebuild.Cache.bucket(this.cacheBucket, { prefix: 'codebuild-cache' }),
      logging: { cloudWatch: { logGroup: this.buildLogGroup } },
    });
    // ECR: push to this repository only; the login token cannot be scoped (GetAuthorizationToken).
    service.repository.grantPullPush(this.project);
    // scripts/ship/build.sh asks whether the commit's tag exists before pushing (tags are immutable,
    // so a retried build of the same commit must skip the push rather than fail on it).
    service.repository.grant(this.project, 'ecr:DescribeImages');

    const source = new codepipeline.Artifact('Source');
    const build = new codepipeline.Artifact('Build');
    this.sourceAction = new ConnectionSourceAction({
      actionName: 'Source',
      connectionArn: props.connectionArn,
      owner: props.repositoryOwner,
      repo: props.repositoryName,
      branch,
      output: source,
      // The commit id becomes the image tag, and CodeBuild gets the full clone (git metadata).
      codeBuildCloneOutput: true,
    });
    this.buildAction = new actions.CodeBuildAction({
      actionName: 'Build',
      project: this.project,
      input: source,
      outputs: [build],
    });
    let deployStageAction: codepipeline.IAction;
    if (deployment) {
      this.deployAction = new actions.CodeDeployEcsDeployAction({
        actionName: 'Deploy',
        deploymentGroup: deployment.deploymentGroup,
        taskDefinitionTemplateFile: build.atPath('taskdef.json'),
        appSpecTemplateFile: build.atPath('appspec.yaml'),
        containerImageInputs: [{ input: build, taskDefinitionPlaceholder: CONTRACT.imagePlaceholder }],
      });
      deployStageAction = this.deployAction;
    } else {
      this.deployProject = this.createEcsDeployProject(ecsDeployment!.service, props.buildLogRetention);
      this.ecsDeployAction = new actions.CodeBuildAction({
        actionName: 'Deploy',
        project: this.deployProject,
        input: build,
      });
      deployStageAction = this.ecsDeployAction;
    }
    // The full clone (codeBuildCloneOutput) makes CodeBuild use the connection itself.
    grantUseConnection(this.project, props.connectionArn);
    this.markDeployedProject = createMarkDeployedProject(this, service, this.buildLogGroup);
    this.markDeployedAction = new actions.CodeBuildAction({
      actionName: 'MarkDeployed',
      project: this.markDeployedProject,
      input: build,
    });
    const pipelineRole = new iam.Role(this, 'PipelineRole', {
      assumedBy: new iam.ServicePrincipal('codepipeline.amazonaws.com'),
      description: 'Greenlight pipeline',
    });
    this.pipeline = new codepipeline.Pipeline(this, 'Pipeline', {
      pipelineType: codepipeline.PipelineType.V2,
      artifactBucket: this.artifactBucket,
      role: pipelineRole,
      restartExecutionOnUpdate: false,
      executionMode: codepipeline.ExecutionMode.QUEUED,
      stages: [
        { stageName: 'Source', actions: [this.sourceAction] },
        { stageName: 'Build', actions: [this.buildAction] },
        { stageName: 'Deploy', actions: [deployStageAction] },
        { stageName: 'Release', actions: [this.markDeployedAction] },
      ],
      triggers: [
        {
          providerType: codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
          gitConfiguration: {
            sourceAction: this.sourceAction,
            pushFilter: [
              {
                branchesIncludes: [branch],
                filePathsIncludes: props.filePathsIncludes,
                filePathsExcludes: props.filePathsExcludes,
              },
            ],
          },
        },
      ],
    });
    // CDK's DependsOn on the role duplicates the GetAtt dependency (cfn-lint W3005).
    dropRedundantDependsOn(this.pipeline.node.defaultChild as CfnResource, pipelineRole.node.defaultChild as CfnResource);
    Aspects.of(this).add(new ExplicitIamActions());
    this.acknowledgeFindings(Stack.of(this));
  }

  /**
   * ECS engine: a small CodeBuild project that deploys the built image by updating this stack
   * (previous template, `ImageTag` = the commit's tag, every other parameter unchanged) and waits
   * for CloudFormation, which waits for the ECS blue/green deployment. A failed deployment rolls
   * the stack back, so the parameter always names the image that last passed: a later
   * `cdk deploy` (which reuses previous parameter values) keeps running it.
   */
  private createEcsDeployProject(service: IGreenlightEcsService, logRetention?: logs.RetentionDays): codebuild.PipelineProject {
    const parameter = service.imageTagParameter;
    if (!parameter) throw new Error('ecsDeployment: the service has no ImageTag parameter (deploymentEngine must be DeploymentEngine.ECS)');
    const stack = Stack.of(this);
    // The deploy step updates the stack the pipeline is in (AWS::StackName): the parameter must be its own.
    if (Stack.of(parameter) !== stack) {
      throw new Error(`${this.node.path}: the ECS deployment's service must be in the pipeline's stack (${stack.stackName}), its ImageTag parameter is in ${Stack.of(parameter).stackName}`);
    }
    const logGroup = new logs.LogGroup(this, 'DeployLogs', { retention: logRetention ?? logs.RetentionDays.ONE_MONTH });
    const project = new codebuild.PipelineProject(this, 'DeployProject', {
      description: 'Greenlight: deploy the built image (CloudFormation update of ImageTag; ECS blue/green)',
      buildSpec: codebuild.BuildSpec.fromObject(ecsDeployBuildSpec()),
      environment: {
        buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
        computeType: codebuild.ComputeType.SMALL,
      },
      environmentVariables: Object.fromEntries(
        Object.entries({
          STACK_NAME: Aws.STACK_NAME,
          IMAGE_TAG_PARAMETER: stack.getLogicalId(parameter),
          ECR_REPOSITORY_URI: service.repository.repositoryUri,
        }).map(([name, value]) => [name, { type: codebuild.BuildEnvironmentVariableType.PLAINTEXT, value }]),
      ),
      // The blue/green deployment with its hook, bake time and (canary, linear) steps.
      timeout: Duration.hours(4),
      logging: { cloudWatch: { logGroup } },
    });
    project.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['cloudformation:DescribeStacks', 'cloudformation:UpdateStack'],
        resources: [stack.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${Aws.STACK_NAME}/*` })],
      }),
    );
    // An update without --role-arn reuses the stack's service role (the CDK bootstrap's
    // CloudFormation execution role, which `cdk deploy` associated); passing it takes PassRole.
    const synthesizer = stack.synthesizer;
    if (synthesizer instanceof DefaultStackSynthesizer) {
      project.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['iam:PassRole'],
          resources: [
            synthesizer.cloudFormationExecutionRoleArn
              .replace(/\$\{AWS::AccountId\}/g, Aws.ACCOUNT_ID)
              .replace(/\$\{AWS::Region\}/g, Aws.REGION)
              .replace(/\$\{AWS::Partition\}/g, Aws.PARTITION),
          ],
          conditions: { StringEquals: { 'iam:PassedToService': 'cloudformation.amazonaws.com' } },
        }),
      );
    }
    return project;
  }

  private acknowledgeFindings(stack: Stack): void {
    Validations.of(this).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.artifactBucket.arnForObjects('*'))}]`,
      reason: 'Pipeline artifacts and the build cache get generated object keys; every grant is on this one artifact bucket.',
    });
    Validations.of(this.project).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken (docker login) has no resource-level permissions; push and pull are scoped to the one repository.',
    });
    Validations.of(this).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.cacheBucket.arnForObjects('*'))}]`,
      reason: 'The build cache gets generated object keys; the grant is on this one cache bucket.',
    });
    for (const project of [this.project, this.markDeployedProject, ...(this.deployProject ? [this.deployProject] : [])]) {
      const codebuildLogs = stack.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: `/aws/codebuild/${project.projectName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      Validations.of(project).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, codebuildLogs)}]`,
        reason: 'CDK\'s default CodeBuild log-group grant (log streams get generated names); this project logs to its own log group.',
      });
      const reportGroups = stack.formatArn({
        service: 'codebuild',
        resource: 'report-group',
        resourceName: `${project.projectName}-*`,
      });
      Validations.of(project).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, reportGroups)}]`,
        reason: 'Test report groups the buildspec creates are named after this project; the pattern covers only those.',
      });
      Validations.of(project).acknowledge({
        id: 'AwsSolutions-CB4',
        reason: 'Build artifacts and cache are in SSE-S3 encrypted, SSL-only buckets; a customer-managed KMS key would add cost without a second principal to separate.',
      });
    }
    if (this.deployAction) {
      Validations.of(this.deployAction.actionProperties.role ?? this).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecs:RegisterTaskDefinition has no resource-level permissions; iam:PassRole is conditioned by CDK on iam:PassedToService ecs-tasks.amazonaws.com.',
      });
    }
    if (this.deployProject) {
      Validations.of(this.deployProject).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResource(this, stack.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${Aws.STACK_NAME}/*` }))}]`,
        reason: 'A stack ARN ends in a generated id; the pattern names this one stack.',
      });
    }
    Validations.of(this.project).acknowledge({
      id: 'AwsSolutions-CB3',
      reason: 'Privileged mode runs the Docker daemon that builds and pushes the image; the build runs only the repository\'s own buildspec.yml.',
    });
  }
}

/**
 * CDK grants `codestar-connections:UseConnection` on the connection. The console creates
 * connections as `arn:aws:codeconnections:...` since July 2024, and IAM matches the action's
 * service prefix to the resource's ("When specifying a resource in the IAM policy, the service
 * prefix needs to match that of the resource", Developer Tools console user guide, "Connections
 * rename"), so `codeconnections:UseConnection` (Service Authorization Reference, AWS
 * CodeConnections: resource type `Connection`) is granted alongside for either kind of ARN.
 */
function grantUseConnection(grantee: iam.IGrantable, connectionArn: string): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['codeconnections:UseConnection'], resources: [connectionArn] }),
  );
}

/** The CodeConnections source action, granting its role both service prefixes' UseConnection. */
class ConnectionSourceAction extends actions.CodeStarConnectionsSourceAction {
  private readonly connectionArn: string;

  constructor(props: actions.CodeStarConnectionsSourceActionProps) {
    super(props);
    this.connectionArn = props.connectionArn;
  }

  protected override bound(
    scope: Construct,
    stage: codepipeline.IStage,
    options: codepipeline.ActionBindOptions,
  ): codepipeline.ActionConfig {
    const config = super.bound(scope, stage, options);
    grantUseConnection(options.role, this.connectionArn);
    return config;
  }
}

/**
 * A small build that runs after a successful deployment: it adds the tag
 * `deployed-<image tag>` to the image that now serves (ECR keeps immutable tags immutable but
 * allows a new tag on the same manifest). The repository's lifecycle rules keep tagged-deployed
 * images out of reach of the count rule, so failed builds can never expire what production runs.
 */
function createMarkDeployedProject(scope: Construct, service: IGreenlightService, logGroup: logs.ILogGroup): codebuild.PipelineProject {
  const project = new codebuild.PipelineProject(scope, 'MarkDeployed', {
    description: 'Greenlight: tag the image of a successful deployment deployed-<tag> (ECR lifecycle keeps it)',
    environment: {
      buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
      computeType: codebuild.ComputeType.SMALL,
    },
    environmentVariables: {
      REPOSITORY_NAME: { value: service.repository.repositoryName },
      DEPLOYED_TAG_PREFIX: { value: DEPLOYED_TAG_PREFIX },
    },
    timeout: Duration.minutes(10),
    logging: { cloudWatch: { logGroup } },
    buildSpec: codebuild.BuildSpec.fromObject({
      version: '0.2',
      env: { shell: 'bash' },
      phases: {
        build: {
          commands: [
            // imageDetail.json is the Build stage's record of the pushed image (ImageURI repo:tag).
            'uri=$(jq -r .ImageURI imageDetail.json); tag=${uri##*:}; test -n "$tag"',
            'deployed="$DEPLOYED_TAG_PREFIX$tag"',
            'manifest=$(aws ecr batch-get-image --repository-name "$REPOSITORY_NAME" --image-ids imageTag="$tag" --query "images[0].imageManifest" --output text)',
            // A re-run of the stage finds the tag there already (tags are immutable): that is success.
            'aws ecr put-image --repository-name "$REPOSITORY_NAME" --image-tag "$deployed" --image-manifest "$manifest" >/dev/null || aws ecr describe-images --repository-name "$REPOSITORY_NAME" --image-ids imageTag="$deployed" >/dev/null',
            'echo "tagged $tag as $deployed"',
          ],
        },
      },
    }),
  });
  service.repository.grant(project, 'ecr:BatchGetImage', 'ecr:PutImage', 'ecr:DescribeImages');
  return project;
}

/**
 * The ECS engine's deploy step. The image tag is the part of imageDetail.json's ImageURI (what
 * scripts/ship/build.sh writes) after `$ECR_REPOSITORY_URI:`; an image from anywhere else is
 * refused. "No updates are to be performed" (the same commit again) is success.
 */
export function ecsDeployBuildSpec(): Record<string, unknown> {
  return {
    version: '0.2',
    env: { shell: 'bash' },
    phases: {
      build: {
        commands: [
          [
            'set -euo pipefail',
            'image=$(python3 -c \'import json; print(json.load(open("imageDetail.json"))["ImageURI"])\')',
            'tag=${image#"$ECR_REPOSITORY_URI:"}',
            'if [ "$tag" = "$image" ] || [ -z "$tag" ]; then echo "imageDetail.json: $image is not an image of $ECR_REPOSITORY_URI" >&2; exit 1; fi',
            'keys=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" --query "Stacks[0].Parameters[].ParameterKey" --output text)',
            'params=()',
            'for key in $keys; do if [ "$key" = "$IMAGE_TAG_PARAMETER" ]; then params+=("ParameterKey=$key,ParameterValue=$tag"); else params+=("ParameterKey=$key,UsePreviousValue=true"); fi; done',
            'echo "deploying $image ($IMAGE_TAG_PARAMETER=$tag) through $STACK_NAME"',
            'if ! out=$(aws cloudformation update-stack --stack-name "$STACK_NAME" --use-previous-template --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND --parameters "${params[@]}" 2>&1); then',
            '  if grep -q "No updates are to be performed" <<<"$out"; then echo "$STACK_NAME already runs $tag"; exit 0; fi',
            '  echo "$out" >&2; exit 1',
            'fi',
            // `wait` gives up after an hour; a canary or linear deployment may take longer.
            'for attempt in 1 2 3 4; do',
            '  if aws cloudformation wait stack-update-complete --stack-name "$STACK_NAME"; then echo "$STACK_NAME runs $tag"; exit 0; fi',
            '  status=$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" --query "Stacks[0].StackStatus" --output text)',
            '  case "$status" in *_IN_PROGRESS) echo "still $status";; *) echo "$STACK_NAME: $status (the deployment failed and was rolled back)" >&2; exit 1;; esac',
            'done',
            'echo "$STACK_NAME: still updating after 4 hours" >&2; exit 1',
          ].join('\n'),
        ],
      },
    },
  };
}
