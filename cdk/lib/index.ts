/**
 * Greenlight's CDK construct library: the blue/green ECS service, its deployment with the
 * green-light hook (CodeDeploy, or Amazon ECS blue/green), and the pipeline a `git push` starts.
 */
export { GreenlightContract } from './names';
export { EgressMode, LlmProvider, type GreenlightServiceProps } from './service-props';
export type { IGreenlightDeployment, IGreenlightEcsDeployment, IGreenlightEcsService, IGreenlightService } from './interfaces';
export { GreenlightService } from './service';
export { GreenlightDeployment, type GreenlightDeploymentProps } from './deployment';
export { DeploymentEngine, EcsTrafficShift, type EcsDeploymentOptions } from './deployment-engine';
export { GreenlightEcsDeployment, type GreenlightEcsDeploymentProps } from './ecs-deployment';
export { type EcsTraffic } from './ecs-traffic';
export { GreenlightPipeline, type GreenlightPipelineProps } from './pipeline';
export { GreenlightStack, type GreenlightStackProps, type GreenlightSettings } from './stack';
