/**
 * Greenlight's CDK construct library: the blue/green ECS service, its CodeDeploy deployment with
 * the green-light hook, and the pipeline a `git push` starts.
 */
export { CONTRACT, CODEBUILD_ENV, type CodeBuildEnvName } from './names';
export {
  EgressMode,
  GreenlightService,
  LlmProvider,
  REFERENCE_IMAGE_TAG,
  asciiOnly,
  type GreenlightServiceProps,
} from './service';
export { GreenlightDeployment, type GreenlightDeploymentProps } from './deployment';
export { DeploymentEngine, EcsTrafficShift, type EcsDeploymentOptions } from './deployment-engine';
export { GreenlightEcsDeployment, type GreenlightEcsDeploymentProps } from './ecs-deployment';
export { type EcsTraffic } from './ecs-traffic';
export { GreenlightPipeline, type GreenlightPipelineProps } from './pipeline';
export { GreenlightStack, type GreenlightStackProps, settingsFromContext, type GreenlightSettings } from './stack';
