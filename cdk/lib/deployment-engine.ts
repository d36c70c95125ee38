import { Duration, aws_ecs as ecs } from 'aws-cdk-lib';

/**
 * What runs a blue/green deployment of the service (docs/blue-green.md compares them).
 * An enum, not a string union, so that the construct library stays jsii-compatible.
 */
export enum DeploymentEngine {
  /** AWS CodeDeploy: the CODE_DEPLOY deployment controller, task sets, an appspec hook. */
  CODEDEPLOY = 'codedeploy',
  /**
   * Amazon ECS blue/green: the ECS deployment controller with a BLUE_GREEN (or CANARY, LINEAR)
   * strategy, a POST_TEST_TRAFFIC_SHIFT lifecycle hook, and CloudFormation deploying the image.
   */
  ECS = 'ecs',
}

/** How ECS moves production traffic to green once the hook has passed it. */
export enum EcsTrafficShift {
  /** All production traffic at once. */
  BLUE_GREEN = 'BLUE_GREEN',
  /** `stepPercent` of production traffic first, then the rest after `stepBakeTime`. */
  CANARY = 'CANARY',
  /** `stepPercent` more production traffic every `stepBakeTime`. */
  LINEAR = 'LINEAR',
}

/** Settings of the ECS engine's deployments ({@link DeploymentEngine.ECS}). */
export interface EcsDeploymentOptions {
  /**
   * How production traffic moves to green.
   * @default EcsTrafficShift.BLUE_GREEN
   */
  readonly trafficShift?: EcsTrafficShift;
  /**
   * How long blue keeps running after all production traffic is on green: ECS rolls back
   * instantly (on an alarm) until then.
   * @default Duration.minutes(5)
   */
  readonly bakeTime?: Duration;
  /**
   * CANARY: the canary's share of production traffic; LINEAR: the share each step adds
   * (multiples of 0.1; CANARY 0.1 to 100, LINEAR 3 to 100).
   * @default - 10 for CANARY, 20 for LINEAR
   */
  readonly stepPercent?: number;
  /**
   * CANARY and LINEAR: how long each step runs before the next shift (0 to 1440 minutes).
   * @default Duration.minutes(5)
   */
  readonly stepBakeTime?: Duration;
}

/** The service props the ECS engine writes, from {@link EcsDeploymentOptions} (validated). */
export function ecsStrategyProps(o: EcsDeploymentOptions = {}): Pick<
  ecs.FargateServiceProps,
  'deploymentStrategy' | 'bakeTime' | 'canaryConfiguration' | 'linearConfiguration'
> {
  const shift = o.trafficShift ?? EcsTrafficShift.BLUE_GREEN;
  const bakeTime = o.bakeTime ?? Duration.minutes(5);
  minutesWithin('bakeTime', bakeTime, 0, 1440);
  if (shift === EcsTrafficShift.BLUE_GREEN) {
    if (o.stepPercent !== undefined || o.stepBakeTime !== undefined) {
      throw new Error('ecsDeployment: stepPercent and stepBakeTime apply to CANARY and LINEAR only');
    }
    return { deploymentStrategy: ecs.DeploymentStrategy.BLUE_GREEN, bakeTime };
  }
  const canary = shift === EcsTrafficShift.CANARY;
  const stepPercent = o.stepPercent ?? (canary ? 10 : 20);
  const [low, high] = canary ? [0.1, 100] : [3, 100];
  // Multiples of 0.1 (AWS::ECS::Service CanaryConfiguration / LinearConfiguration).
  if (!(stepPercent >= low && stepPercent <= high) || Math.abs(stepPercent * 10 - Math.round(stepPercent * 10)) > 1e-9) {
    throw new Error(`ecsDeployment.stepPercent: must be a multiple of 0.1 from ${low} to ${high} for ${shift}, got ${stepPercent}`);
  }
  const stepBakeTime = o.stepBakeTime ?? Duration.minutes(5);
  minutesWithin('stepBakeTime', stepBakeTime, 0, 1440);
  const step = { stepPercent, stepBakeTime };
  return canary
    ? { deploymentStrategy: ecs.DeploymentStrategy.CANARY, bakeTime, canaryConfiguration: step }
    : { deploymentStrategy: ecs.DeploymentStrategy.LINEAR, bakeTime, linearConfiguration: step };
}

function minutesWithin(name: string, value: Duration, min: number, max: number): void {
  const minutes = value.toMinutes({ integral: false });
  if (!Number.isInteger(minutes) || minutes < min || minutes > max) {
    throw new Error(`ecsDeployment.${name}: must be whole minutes from ${min} to ${max}, got ${minutes} minutes`);
  }
}
