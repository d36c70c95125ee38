import { type CfnResource, aws_ecs as ecs, aws_elasticloadbalancingv2 as elbv2, aws_iam as iam } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { dropRedundantDependsOn } from './cfn';
import { CONTRACT } from './names';

/** What ECS blue/green shifts traffic between. */
export interface EcsTrafficOptions {
  readonly service: ecs.FargateService;
  readonly blueTargetGroup: elbv2.ApplicationTargetGroup;
  readonly greenTargetGroup: elbv2.ApplicationTargetGroup;
  readonly productionListener: elbv2.ApplicationListener;
  readonly testListener: elbv2.ApplicationListener;
}

/** The rules ECS moves traffic with, and the role it does that with. */
export interface EcsTraffic {
  readonly productionRule: elbv2.ApplicationListenerRule;
  readonly testRule: elbv2.ApplicationListenerRule;
  /** The ECS infrastructure role for load balancers (scoped to these rules and groups). */
  readonly loadBalancerRole: iam.Role;
}

/**
 * ECS-engine traffic: a rule on each listener forwarding to both target groups (blue 100, green
 * 0; ECS changes the weights), the service registered in blue with green as its alternate target
 * group, and the infrastructure role ECS changes them with.
 *
 * ECS requires both target groups in each rule's forward action (AdvancedConfiguration of
 * AWS::ECS::Service LoadBalancers: AlternateTargetGroupArn, ProductionListenerRule,
 * TestListenerRule, RoleArn). The listeners' default actions stay as they are and are never
 * reached: the rules match every path. Constructs are created in `scope` (the service).
 */
export function configureEcsTraffic(scope: Construct, o: EcsTrafficOptions): EcsTraffic {
  const rule = (id: string, listener: elbv2.ApplicationListener) =>
    new elbv2.ApplicationListenerRule(scope, id, {
      listener,
      priority: 1,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/*'])],
      action: elbv2.ListenerAction.weightedForward([
        { targetGroup: o.blueTargetGroup, weight: 100 },
        { targetGroup: o.greenTargetGroup, weight: 0 },
      ]),
    });
  const productionRule = rule('ProductionListenerRule', o.productionListener);
  const testRule = rule('TestListenerRule', o.testListener);

  // What AmazonECSInfrastructureRolePolicyForLoadBalancers grants, each write action scoped to
  // this service's two target groups, two listeners and two rules (the managed policy allows
  // every target group, listener and rule of the account).
  const loadBalancerRole = new iam.Role(scope, 'LoadBalancerRole', {
    assumedBy: new iam.ServicePrincipal('ecs.amazonaws.com'),
    description: 'Greenlight ECS blue/green: move traffic between this service\'s target groups',
  });
  loadBalancerRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      // Describe* have no resource-level permissions (Service Authorization Reference, ELB v2).
      actions: [
        'elasticloadbalancing:DescribeListeners',
        'elasticloadbalancing:DescribeRules',
        'elasticloadbalancing:DescribeTargetGroups',
        'elasticloadbalancing:DescribeTargetHealth',
      ],
      resources: ['*'],
    }),
  );
  loadBalancerRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
      resources: [o.blueTargetGroup.targetGroupArn, o.greenTargetGroup.targetGroupArn],
    }),
  );
  loadBalancerRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['elasticloadbalancing:ModifyListener'],
      resources: [o.productionListener.listenerArn, o.testListener.listenerArn],
    }),
  );
  loadBalancerRole.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['elasticloadbalancing:ModifyRule'],
      resources: [productionRule.listenerRuleArn, testRule.listenerRuleArn],
    }),
  );

  o.service
    .loadBalancerTarget({
      containerName: CONTRACT.containerName,
      containerPort: CONTRACT.containerPort,
      alternateTarget: new ecs.AlternateTarget('Green', {
        alternateTargetGroup: o.greenTargetGroup,
        productionListener: ecs.ListenerRuleConfiguration.applicationListenerRule(productionRule),
        testListener: ecs.ListenerRuleConfiguration.applicationListenerRule(testRule),
        role: loadBalancerRole,
      }),
    })
    .attachToApplicationTargetGroup(o.blueTargetGroup);
  // ECS checks the role when the service is created or updated: wait for its policy.
  const policy = loadBalancerRole.node.tryFindChild('DefaultPolicy');
  if (policy) o.service.node.addDependency(policy);
  // The service refers to both rules (AdvancedConfiguration); CDK's DependsOn on them, from
  // the target group's attachment, duplicates that (cfn-lint W3005).
  dropRedundantDependsOn(
    o.service.node.defaultChild as CfnResource,
    productionRule.node.defaultChild as CfnResource,
    testRule.node.defaultChild as CfnResource,
  );
  return { productionRule, testRule, loadBalancerRole };
}
