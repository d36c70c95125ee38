// A deployed stack must see no replacement from a refactoring: every logical id of the baseline
// (test/snapshots/logical-ids.json, synthesized before lib/service.ts was split into focused
// files) must still be there with the same resource type, and every new one must be listed here.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { VARIANTS, currentLogicalIds } from './variants';

type ById = Record<string, string[]>;

/**
 * Logical ids added since the baseline, per variant: new resources, which CloudFormation creates
 * without touching the others. A renamed construct shows up as a missing id instead.
 */
const PIPELINE_RELEASE_STAGE_AND_CACHE_BUCKET: ById = {
    'AWS::CodeBuild::Project': ['GreenlightPipelineMarkDeployed18DCC9AA'],
    'AWS::IAM::Policy': [
      'GreenlightPipelineMarkDeployedRoleDefaultPolicy37FAF703',
      'GreenlightPipelineReleaseMarkDeployedCodePipelineActionRoleDefaultPolicy93EA3C1F',
    ],
    'AWS::IAM::Role': ['GreenlightPipelineMarkDeployedRoleEAFDB64A', 'GreenlightPipelineReleaseMarkDeployedCodePipelineActionRoleF40574AC'],
    'AWS::S3::Bucket': ['GreenlightPipelineBuildCache5A4AB124'],
    'AWS::S3::BucketPolicy': ['GreenlightPipelineBuildCachePolicyCFFBBE6D'],
  };

/** The chatbot's alarms, its dashboard and the scaling on open streams (issue #15). */
const CHATBOT_METRICS: ById = {
  'AWS::ApplicationAutoScaling::ScalingPolicy': ['GreenlightServiceTaskCountTargetStreamScaling9266CF45'],
  'AWS::CloudWatch::Alarm': [
    'GreenlightServiceChatErrorRateAlarm93C4DA9F',
    'GreenlightServiceInterruptedStreamsAlarm195D98A0',
    'GreenlightServiceTtftAlarm587F15C6',
  ],
  'AWS::CloudWatch::Dashboard': ['GreenlightServiceDashboard2E76576F'],
};

/** The web ACL on the load balancer, its association and its logs (issue #17, WAF). */
const WAF: ById = {
  'AWS::Logs::LogGroup': ['GreenlightServiceWafLogs98644575'],
  'AWS::WAFv2::LoggingConfiguration': ['GreenlightServiceWafLogging329C3962'],
  'AWS::WAFv2::WebACL': ['GreenlightServiceWebAcl5CE97D97'],
  'AWS::WAFv2::WebACLAssociation': ['GreenlightServiceWebAclAssociation6891980B'],
};

const ADDED_GROUPS = [PIPELINE_RELEASE_STAGE_AND_CACHE_BUCKET, CHATBOT_METRICS, WAF];

const ADDED_EVERYWHERE: ById = Object.fromEntries(
  [...new Set(ADDED_GROUPS.flatMap((group) => Object.keys(group)))].map((type) => [
    type,
    ADDED_GROUPS.flatMap((group) => group[type] ?? []),
  ]),
);

const ADDED: Readonly<Record<string, ById>> = {
  default: ADDED_EVERYWHERE,
  'https-vpc-endpoints': ADDED_EVERYWHERE,
  ecs: ADDED_EVERYWHERE,
};

function pairs(byType: ById): Set<string> {
  return new Set(Object.entries(byType).flatMap(([type, ids]) => ids.map((id) => `${type} ${id}`)));
}

describe('logical ids', () => {
  const baseline = JSON.parse(fs.readFileSync(path.join(__dirname, 'snapshots', 'logical-ids.json'), 'utf8')) as Record<string, ById>;
  const current = currentLogicalIds();

  it('covers every variant scripts/ci/cdk.sh synthesizes', () => {
    assert.deepEqual(Object.keys(baseline).sort(), Object.keys(VARIANTS).sort());
  });

  for (const variant of Object.keys(VARIANTS)) {
    it(`${variant}: keeps every baseline resource under its logical id and type`, () => {
      const now = pairs(current[variant]);
      const missing = [...pairs(baseline[variant])].filter((p) => !now.has(p));
      assert.deepEqual(missing, [], 'these resources would be replaced or deleted on the next deploy');
    });

    it(`${variant}: adds only the resources listed in ADDED`, () => {
      const before = pairs(baseline[variant]);
      const added = [...pairs(current[variant])].filter((p) => !before.has(p)).sort();
      assert.deepEqual(added, [...pairs(ADDED[variant] ?? {})].sort());
    });
  }
});
