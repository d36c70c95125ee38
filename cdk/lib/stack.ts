import {
  Annotations,
  CfnOutput,
  Stack,
  Validations,
  aws_certificatemanager as acm,
  aws_cloudwatch_actions as cwActions,
  aws_ecs as ecs,
  aws_lambda as lambda,
  aws_secretsmanager as secretsmanager,
  aws_sns as sns,
  aws_sns_subscriptions as subscriptions,
  type StackProps,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { GreenlightDeployment } from './deployment';
import { DeploymentEngine, EcsTrafficShift } from './deployment-engine';
import { GreenlightEcsDeployment } from './ecs-deployment';
import { GreenlightPipeline } from './pipeline';
import { GreenlightService } from './service';
import { EgressMode, LlmProvider } from './service-props';

/** What the app reads from cdk.json context (`cdk deploy -c key=value` works too). */
export interface GreenlightSettings {
  readonly connectionArn?: string;
  readonly repositoryOwner?: string;
  readonly repositoryName?: string;
  readonly branch: string;
  readonly filePathsIncludes?: string[];
  readonly llmProvider: LlmProvider;
  readonly llmModel?: string;
  readonly openAiBaseUrl?: string;
  readonly apiKeySecretArn?: string;
  readonly egress: EgressMode;
  readonly certificateArn?: string;
  readonly domainName?: string;
  readonly alarmEmail?: string;
  readonly testListenerAllowedCidrs: string[];
  readonly cpuArchitecture: ecs.CpuArchitecture;
  readonly taskFamily?: string;
  /** `deploymentEngine`: codedeploy (default) or ecs. */
  readonly deploymentEngine: DeploymentEngine;
  /** `ecsTrafficShift` (ECS engine): BLUE_GREEN (default), CANARY or LINEAR. */
  readonly ecsTrafficShift?: EcsTrafficShift;
}

/** Properties of {@link GreenlightStack}. */
export interface GreenlightStackProps extends StackProps {
  /** The deployment's settings (see {@link GreenlightStack.settingsFromContext}). */
  readonly settings: GreenlightSettings;
  /**
   * The green-light hook's code.
   * @default - the prebuilt hook this package ships
   */
  readonly hookCode?: lambda.Code;
}

/** Placeholder used while `connectionArn` is unset, so `cdk synth` works on a fresh clone. */
export const PLACEHOLDER_CONNECTION_ARN =
  'arn:aws:codeconnections:us-east-1:000000000000:connection/00000000-0000-0000-0000-000000000000';

/**
 * Reads and checks the app's context. Unknown values are errors naming the key; missing required
 * ones (connection, repository) become warnings so `cdk synth` works with no context at all.
 */
function settingsFromContext(scope: Construct): GreenlightSettings {
  const str = (key: string): string | undefined => {
    const value: unknown = scope.node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new Error(`context ${key}: expected a string, got ${JSON.stringify(value)}`);
    return value.trim();
  };
  const list = (key: string): string[] | undefined => {
    const value: unknown = scope.node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
    throw new Error(`context ${key}: expected a list of strings or a comma-separated string`);
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T): T => {
    const value = str(key) ?? fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new Error(`context ${key}: '${value}' is not one of ${allowed.join(', ')}`);
    }
    return value as T;
  };
  let repositoryOwner = str('repositoryOwner');
  let repositoryName = str('repositoryName');
  const repository = str('repository');
  if (repository) {
    const parts = repository.split('/');
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new Error(`context repository: '${repository}' must be owner/name`);
    }
    [repositoryOwner, repositoryName] = parts;
  }
  const arch = oneOf('cpuArchitecture', ['X86_64', 'ARM64'] as const, 'X86_64');
  return {
    connectionArn: str('connectionArn'),
    repositoryOwner,
    repositoryName,
    branch: str('branch') ?? 'main',
    filePathsIncludes: list('filePathsIncludes'),
    llmProvider: oneOf('llmProvider', Object.values(LlmProvider), LlmProvider.OFFLINE),
    llmModel: str('llmModel'),
    openAiBaseUrl: str('openAiBaseUrl'),
    apiKeySecretArn: str('apiKeySecretArn'),
    egress: oneOf('egress', Object.values(EgressMode), EgressMode.NAT_GATEWAY),
    certificateArn: str('certificateArn'),
    domainName: str('domainName'),
    alarmEmail: str('alarmEmail'),
    testListenerAllowedCidrs: list('testListenerAllowedCidrs') ?? [],
    cpuArchitecture: arch === 'ARM64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
    taskFamily: str('taskFamily'),
    deploymentEngine: oneOf('deploymentEngine', Object.values(DeploymentEngine), DeploymentEngine.CODEDEPLOY),
    ecsTrafficShift: str('ecsTrafficShift') === undefined
      ? undefined
      : oneOf('ecsTrafficShift', Object.values(EcsTrafficShift), EcsTrafficShift.BLUE_GREEN),
  };
}

/** The one stack of the Greenlight app: service, deployment and pipeline. */
export class GreenlightStack extends Stack {
  public readonly service: GreenlightService;
  /** CodeDeploy engine: the CodeDeploy deployment. */
  public readonly deployment?: GreenlightDeployment;
  /** ECS engine: the ECS lifecycle-hook deployment. */
  public readonly ecsDeployment?: GreenlightEcsDeployment;
  public readonly pipeline: GreenlightPipeline;
  public readonly alarmTopic?: sns.Topic;

  /**
   * The settings in the context of `scope` (cdk.json `context`, or `cdk synth -c key=value`):
   * unknown values are errors naming the key; missing required ones (connection, repository)
   * become warnings so `cdk synth` works with no context at all.
   */
  public static settingsFromContext(scope: Construct): GreenlightSettings {
    return settingsFromContext(scope);
  }

  constructor(scope: Construct, id: string, props: GreenlightStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const missing: string[] = [];
    if (s.ecsTrafficShift && s.deploymentEngine !== DeploymentEngine.ECS) {
      throw new Error('context ecsTrafficShift: applies to deploymentEngine ecs only');
    }

    const certificate = s.certificateArn
      ? acm.Certificate.fromCertificateArn(this, 'Certificate', s.certificateArn)
      : undefined;
    const apiKeySecret = s.apiKeySecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'ApiKeySecret', s.apiKeySecretArn)
      : undefined;

    this.service = new GreenlightService(this, 'GreenlightService', {
      egress: s.egress,
      llmProvider: s.llmProvider,
      llmModel: s.llmModel,
      openAiBaseUrl: s.openAiBaseUrl,
      apiKeySecret,
      certificate,
      testListenerAllowedCidrs: s.testListenerAllowedCidrs,
      cpuArchitecture: s.cpuArchitecture,
      taskFamily: s.taskFamily,
      deploymentEngine: s.deploymentEngine,
      ecsDeployment: s.ecsTrafficShift ? { trafficShift: s.ecsTrafficShift } : undefined,
    });
    if (s.deploymentEngine === DeploymentEngine.ECS) {
      this.ecsDeployment = new GreenlightEcsDeployment(this, 'GreenlightEcsDeployment', { service: this.service, hookCode: props.hookCode });
    } else {
      this.deployment = new GreenlightDeployment(this, 'GreenlightDeployment', { service: this.service, hookCode: props.hookCode });
    }

    if (!s.connectionArn) missing.push('connectionArn (a CodeConnections connection to your Git host)');
    if (!s.repositoryOwner || !s.repositoryName) missing.push('repository (owner/name of the source repository)');
    this.pipeline = new GreenlightPipeline(this, 'GreenlightPipeline', {
      service: this.service,
      deployment: this.deployment,
      ecsDeployment: this.ecsDeployment,
      connectionArn: s.connectionArn ?? PLACEHOLDER_CONNECTION_ARN,
      repositoryOwner: s.repositoryOwner ?? 'OWNER',
      repositoryName: s.repositoryName ?? 'REPOSITORY',
      branch: s.branch,
      filePathsIncludes: s.filePathsIncludes,
    });

    if (s.alarmEmail) {
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(s.alarmEmail)) {
        throw new Error(`context alarmEmail: '${s.alarmEmail}' is not an e-mail address`);
      }
      this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Greenlight alarms', enforceSSL: true });
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(s.alarmEmail));
      const svc = this.service;
      for (const alarm of [
        svc.serverErrorsAlarm, svc.unhealthyHostsAlarm, svc.latencyAlarm,
        svc.ttftAlarm, svc.chatErrorRateAlarm, svc.interruptedStreamsAlarm,
      ]) {
        alarm.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
        alarm.addOkAction(new cwActions.SnsAction(this.alarmTopic));
      }
      Validations.of(this.alarmTopic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason: 'Alarm notifications carry no secret data, and CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key; SSL-only publishing is enforced.',
      });
    }
    if (s.domainName && !s.certificateArn) missing.push(`certificateArn (an ACM certificate for ${s.domainName} in this region)`);

    if (missing.length > 0) {
      Annotations.of(this).addWarningV2(
        'greenlight:context',
        `Still to set before 'cdk deploy' (cdk.json context or -c key=value): ${missing.join('; ')}. ` +
          'Synthesized with placeholders; deploying them creates a pipeline whose Source stage fails.',
      );
    }

    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('Url', s.domainName && s.certificateArn ? `https://${s.domainName}` : this.service.url, 'The chat (production listener)');
    out('LoadBalancerDnsName', this.service.loadBalancer.loadBalancerDnsName, 'Point your domain (CNAME/alias) here');
    out('TestListenerUrl', this.service.testListenerUrl, 'Test listener (the green-light hook and testListenerAllowedCidrs only)');
    out('RepositoryUri', this.service.repository.repositoryUri, 'ECR repository the pipeline pushes to');
    out('PipelineName', this.pipeline.pipeline.pipelineName, 'The pipeline a git push starts');
    out('ClusterName', this.service.cluster.clusterName, 'ECS cluster');
    out('DashboardUrl', this.service.dashboardUrl, 'The service\'s CloudWatch dashboard (chats, TTFT, errors, streams, tokens, tasks by colour)');
    out('ServiceName', this.service.service.serviceName, 'ECS service');
    if (this.deployment) {
      out('CodeDeployApplicationName', this.deployment.application.applicationName, 'CodeDeploy application');
      out('DeploymentGroupName', this.deployment.deploymentGroup.deploymentGroupName, 'CodeDeploy deployment group');
    }
    const hook = (this.deployment ?? this.ecsDeployment)!.hook;
    out('HookFunctionName', hook.functionName, 'The green-light hook (HOOK_FUNCTION_NAME)');
    if (this.service.imageTagParameter) {
      out('ImageTagParameter', this.getLogicalId(this.service.imageTagParameter), 'The stack parameter with the image tag the service runs (set by the pipeline)');
    }
    out('TaskFamily', this.service.taskFamily, 'Task definition family (TASK_FAMILY)');
    out('TaskRoleArn', this.service.taskRole.roleArn, 'TASK_ROLE_ARN');
    out('TaskExecutionRoleArn', this.service.executionRole.roleArn, 'TASK_EXECUTION_ROLE_ARN');
    out('LogGroupName', this.service.logGroup.logGroupName, 'LOG_GROUP_NAME');
    out('BuildProjectName', this.pipeline.project.projectName, 'CodeBuild project');
    if (this.service.apiKeySecret) {
      out('ApiKeySecretArn', this.service.apiKeySecret.secretArn, 'OPENAI_API_KEY_SECRET_ARN: put the provider key here');
    }
  }
}
