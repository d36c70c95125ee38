/**
 * Greenlight's CDK construct library: the blue/green ECS service, its CodeDeploy deployment with
 * the green-light hook, and the pipeline a `git push` starts.
 */
export { GreenlightContract } from './names';
export { EgressMode, LlmProvider, type GreenlightServiceProps } from './service-props';
export type { IGreenlightDeployment, IGreenlightService } from './interfaces';
export { GreenlightService } from './service';
export { GreenlightDeployment, type GreenlightDeploymentProps } from './deployment';
export { GreenlightPipeline, type GreenlightPipelineProps } from './pipeline';
export { GreenlightStack, type GreenlightStackProps, type GreenlightSettings } from './stack';
