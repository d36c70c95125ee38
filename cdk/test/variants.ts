import type { Template } from 'aws-cdk-lib/assertions';
import { CONFIGURED, type Context, synth } from './helpers';

/**
 * The app variants scripts/ci/cdk.sh synthesizes: the default (no context at all), HTTPS with
 * Bedrock, VPC endpoints, an alarm e-mail and ARM64 tasks, and the ECS deployment engine.
 */
export const VARIANTS: Readonly<Record<string, Context>> = {
  default: {},
  'https-vpc-endpoints': {
    ...CONFIGURED,
    llmProvider: 'bedrock',
    llmModel: 'eu.anthropic.claude-3-haiku-20240307-v1:0',
    egress: 'vpc-endpoints',
    certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab',
    domainName: 'chat.example.com',
    alarmEmail: 'ops@example.com',
    cpuArchitecture: 'ARM64',
  },
  ecs: {
    ...CONFIGURED,
    deploymentEngine: 'ecs',
    ecsTrafficShift: 'CANARY',
  },
};

/** The template's logical ids grouped by resource type, each list sorted. */
export function logicalIdsByType(template: Template): Record<string, string[]> {
  const { Resources } = template.toJSON() as { Resources: Record<string, { Type: string }> };
  const byType: Record<string, string[]> = {};
  for (const [id, resource] of Object.entries(Resources)) (byType[resource.Type] ??= []).push(id);
  return Object.fromEntries(Object.entries(byType).sort(([a], [b]) => a.localeCompare(b)).map(([t, ids]) => [t, ids.sort()]));
}

/** Logical ids per resource type of every variant, as synthesized now. */
export function currentLogicalIds(): Record<string, Record<string, string[]>> {
  return Object.fromEntries(Object.entries(VARIANTS).map(([name, context]) => [name, logicalIdsByType(synth(context).template)]));
}
