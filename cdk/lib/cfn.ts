import { CfnResource, Lazy, Stack } from 'aws-cdk-lib';

/**
 * Drops each of `redundant` from the DependsOn of `resource`. CDK adds construct-level dependencies on a
 * role (the role and its default policy) where a GetAtt of the role already orders the two, and
 * cfn-lint rightly flags the duplicate (W3005). Computed at synthesis, after CDK has resolved
 * every dependency, so the others stay.
 */
export function dropRedundantDependsOn(resource: CfnResource, ...redundant: CfnResource[]): void {
  const stack = Stack.of(resource);
  resource.addOverride(
    'DependsOn',
    Lazy.list(
      {
        produce: () =>
          resource
            .obtainDependencies()
            .filter((dep): dep is CfnResource => dep instanceof CfnResource && !redundant.includes(dep) && Stack.of(dep) === stack)
            .map((dep) => dep.logicalId)
            .sort(),
      },
      { omitEmpty: true },
    ),
  );
}
