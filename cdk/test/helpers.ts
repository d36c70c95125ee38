import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { hookCodeFromSource } from '../bin/hook-from-source';
import { type GreenlightDeployment, type GreenlightEcsDeployment, GreenlightStack } from '../lib';

/** Context that a test adds to the app's (the keys of cdk.json / `-c`). */
export type Context = Record<string, unknown>;

/** The app's stack synthesized from `context`, without bundling the hook (no cargo lambda). */
export function synth(context: Context = {}): { app: App; stack: GreenlightStack; template: Template } {
  const app = new App({
    context: {
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
      ...context,
    },
  });
  const stack = new GreenlightStack(app, 'Greenlight', {
    settings: GreenlightStack.settingsFromContext(app),
    hookCode: hookCodeFromSource(),
  });
  return { app, stack, template: Template.fromStack(stack) };
}

/** The stack's CodeDeploy deployment (the default engine); throws in ECS mode. */
export function codeDeployOf(stack: GreenlightStack): GreenlightDeployment {
  if (!stack.deployment) throw new Error('the stack has no CodeDeploy deployment (deploymentEngine ecs?)');
  return stack.deployment;
}

/** The stack's ECS deployment; throws in CodeDeploy mode. */
export function ecsDeploymentOf(stack: GreenlightStack): GreenlightEcsDeployment {
  if (!stack.ecsDeployment) throw new Error('the stack has no ECS deployment (deploymentEngine codedeploy?)');
  return stack.ecsDeployment;
}

type HasDefaultChild = { node: { defaultChild?: unknown } };

/** The logical id of a construct's CloudFormation resource in `stack`. */
export function logicalId(stack: Stack, construct: HasDefaultChild): string {
  return stack.getLogicalId(construct.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
}

/** How the template refers to a security group's id. */
export function groupIdOf(stack: Stack, securityGroup: HasDefaultChild): { 'Fn::GetAtt': [string, 'GroupId'] } {
  return { 'Fn::GetAtt': [logicalId(stack, securityGroup), 'GroupId'] };
}

export const CONFIGURED: Context = {
  connectionArn: 'arn:aws:codeconnections:eu-west-1:123456789012:connection/0123abcd-0123-4567-89ab-0123456789ab',
  repository: 'example-org/greenlight',
  branch: 'main',
};

type Resource = { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] };

export function resources(template: Template, type?: string): Array<[string, Resource]> {
  const all = template.toJSON() as { Resources: Record<string, Resource> };
  return Object.entries(all.Resources).filter(([, r]) => !type || r.Type === type);
}

export function only(template: Template, type: string): [string, Resource] {
  const found = resources(template, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

/** Every IAM statement of the template's policies and roles, with where it is. */
export function statements(template: Template): Array<{ where: string; Effect: string; Action: string[]; Resource: unknown[] }> {
  const out: Array<{ where: string; Effect: string; Action: string[]; Resource: unknown[] }> = [];
  const collect = (where: string, doc: unknown) => {
    const list = (doc as { Statement?: Array<Record<string, unknown>> } | undefined)?.Statement ?? [];
    for (const s of list) {
      const action = s.Action as string | string[] | undefined;
      const resource = s.Resource;
      out.push({
        where,
        Effect: String(s.Effect),
        Action: action === undefined ? [] : Array.isArray(action) ? action : [action],
        Resource: resource === undefined ? [] : Array.isArray(resource) ? resource : [resource],
      });
    }
  };
  for (const [id, r] of resources(template)) {
    if (r.Type === 'AWS::IAM::Policy') collect(id, r.Properties?.PolicyDocument);
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of (r.Properties?.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? []) collect(id, p.PolicyDocument);
    }
  }
  return out;
}

/** Every security group ingress rule, standalone or inline, with the group it belongs to. */
export function ingressRules(template: Template): Array<Record<string, unknown>> {
  return rulesOf(template, 'Ingress');
}

/** Every security group egress rule, standalone or inline, with the group it belongs to. */
export function egressRules(template: Template): Array<Record<string, unknown>> {
  return rulesOf(template, 'Egress');
}

function rulesOf(template: Template, kind: 'Ingress' | 'Egress'): Array<Record<string, unknown>> {
  return resources(template, `AWS::EC2::SecurityGroup${kind}`)
    .map(([, r]) => r.Properties ?? {})
    .concat(
      resources(template, 'AWS::EC2::SecurityGroup').flatMap(([id, r]) =>
        ((r.Properties?.[`SecurityGroup${kind}`] as Array<Record<string, unknown>> | undefined) ?? []).map((rule) => ({
          ...rule,
          GroupId: { 'Fn::GetAtt': [id, 'GroupId'] },
        })),
      ),
    );
}
