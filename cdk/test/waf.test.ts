// The web ACL on the load balancer: on by default, off on request, its rules and overrides, the
// body-size rule agreeing with the server's MAX_BODY_BYTES, the chat rate limit and its logs.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { GreenlightService } from '../lib';
import { CHAT_ROUTES, COUNTED_MANAGED_RULES, HOOK_MAX_CHAT_REQUESTS, SERVER_MAX_BODY_BYTES, integerAbove } from '../lib/waf';
import { CONFIGURED, logicalId, resources, synth } from './helpers';

function single<T>(list: T[], what: string): T {
  assert.equal(list.length, 1, `expected one ${what}, found ${list.length}`);
  return list[0];
}

type Rule = {
  Name: string;
  Priority: number;
  Action?: Record<string, unknown>;
  OverrideAction?: Record<string, unknown>;
  Statement: Record<string, unknown>;
};

type RateBased = {
  AggregateKeyType: string;
  Limit: number;
  EvaluationWindowSec: number;
  ScopeDownStatement: { OrStatement: { Statements: Array<{ ByteMatchStatement: Record<string, unknown> }> } };
};

function rulesOf(template: Template): Rule[] {
  const [, acl] = single(resources(template, 'AWS::WAFv2::WebACL'), 'web ACL');
  return acl.Properties?.Rules as Rule[];
}

function rule(rules: Rule[], name: string): Rule {
  const found = rules.find((r) => r.Name === name);
  assert.ok(found, `no rule ${name} in ${rules.map((r) => r.Name).join(', ')}`);
  return found;
}

function serviceStack(props: ConstructorParameters<typeof GreenlightService>[2] = {}): Template {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Shop');
  new GreenlightService(stack, 'Chat', props);
  return Template.fromStack(stack);
}

/** What the task definition gives the server as MAX_BODY_BYTES: its own value, else the server's default. */
function effectiveMaxBodyBytes(template: Template): number {
  const [, taskDef] = single(
    resources(template, 'AWS::ECS::TaskDefinition').filter(([, r]) => r.Properties?.Family === 'greenlight'),
    'application task definition',
  );
  const [container] = taskDef.Properties?.ContainerDefinitions as Array<{ Environment?: Array<{ Name: string; Value: string }> }>;
  const set = container.Environment?.find((e) => e.Name === 'MAX_BODY_BYTES');
  if (set) return Number(set.Value);
  const config = fs.readFileSync(path.join(__dirname, '..', '..', 'runtime', 'chatbot', 'src', 'config.rs'), 'utf8');
  const m = /env = "MAX_BODY_BYTES", default_value_t = ([0-9_]+)\)/.exec(config);
  assert.ok(m, 'the server\'s MAX_BODY_BYTES default is no longer where this test reads it');
  return Number(m[1].replace(/_/g, ''));
}

describe('WAF', () => {
  const { stack, template } = synth(CONFIGURED);
  const rules = rulesOf(template);

  it('is on by default: one REGIONAL web ACL associated with the load balancer (all its listeners)', () => {
    const [, acl] = single(resources(template, 'AWS::WAFv2::WebACL'), 'web ACL');
    assert.equal(acl.Properties?.Scope, 'REGIONAL');
    assert.deepEqual(acl.Properties?.DefaultAction, { Allow: {} });
    const [, association] = single(resources(template, 'AWS::WAFv2::WebACLAssociation'), 'association');
    assert.deepEqual(association.Properties?.ResourceArn, { Ref: logicalId(stack, stack.service.loadBalancer) });
    assert.ok(stack.service.webAcl);
    assert.deepEqual(association.Properties?.WebACLArn, { 'Fn::GetAtt': [stack.getLogicalId(stack.service.webAcl), 'Arn'] });
  });

  it('runs the three AWS managed rule groups, blocking except the documented body rules', () => {
    for (const name of ['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet', 'AWSManagedRulesAmazonIpReputationList']) {
      const r = rule(rules, name);
      assert.deepEqual(r.OverrideAction, { None: {} }, `${name} keeps its rules' own actions`);
      const group = r.Statement.ManagedRuleGroupStatement as { VendorName: string; Name: string; RuleActionOverrides?: Array<{ Name: string; ActionToUse: unknown }> };
      assert.equal(group.VendorName, 'AWS');
      assert.equal(group.Name, name);
      const overridden = (group.RuleActionOverrides ?? []).map((o) => {
        assert.deepEqual(o.ActionToUse, { Count: {} }, `${name}/${o.Name} counts`);
        return o.Name;
      });
      assert.deepEqual(overridden.sort(), Object.keys(COUNTED_MANAGED_RULES[name] ?? {}).sort());
    }
    // The rules the chat page's own requests would trip (bodies over 8 KB, code in prompts).
    const crs = Object.keys(COUNTED_MANAGED_RULES.AWSManagedRulesCommonRuleSet);
    for (const needed of ['SizeRestrictions_BODY', 'CrossSiteScripting_BODY', 'GenericLFI_BODY']) assert.ok(crs.includes(needed), needed);
    // Only body rules are relaxed: URI, query string, header and cookie rules still block.
    for (const names of Object.values(COUNTED_MANAGED_RULES)) for (const name of Object.keys(names)) assert.match(name, /_BODY$/);
  });

  it('limits the rate per client address on the chat routes only', () => {
    const r = rule(rules, 'ChatRateLimit');
    assert.deepEqual(r.Action, { Block: {} });
    const rate = r.Statement.RateBasedStatement as RateBased;
    assert.equal(rate.AggregateKeyType, 'IP');
    assert.equal(rate.Limit, 600);
    assert.equal(rate.EvaluationWindowSec, 300);
    const matches = rate.ScopeDownStatement.OrStatement.Statements.map((s) => s.ByteMatchStatement);
    assert.deepEqual(matches.map((m) => m.SearchString).sort(), [...CHAT_ROUTES].sort());
    for (const m of matches) {
      assert.deepEqual(m.FieldToMatch, { UriPath: {} });
      assert.equal(m.PositionalConstraint, 'EXACTLY');
    }
  });

  it('blocks bodies over the MAX_BODY_BYTES the task definition gives the server', () => {
    const limit = effectiveMaxBodyBytes(template);
    assert.equal(limit, SERVER_MAX_BODY_BYTES);
    const r = rule(rules, 'BodySizeLimit');
    assert.deepEqual(r.Action, { Block: {} });
    const regex = r.Statement.RegexMatchStatement as { FieldToMatch: unknown; RegexString: string };
    assert.deepEqual(regex.FieldToMatch, { SingleHeader: { Name: 'content-length' } });
    const re = new RegExp(regex.RegexString);
    for (const ok of [0, 1, 8192, 65_536, limit - 1, limit]) assert.ok(!re.test(String(ok)), `${ok} passes`);
    for (const tooBig of [limit + 1, limit * 2, 10 * limit, 1e12]) assert.ok(re.test(String(tooBig)), `${tooBig} is blocked`);
  });

  it('logs to an aws-waf-logs- group with the retention of the other log groups, redacting credentials', () => {
    const [logsId, group] = single(resources(template, 'AWS::Logs::LogGroup').filter(([id]) => id.includes('WafLogs')), 'WAF log group');
    const name = group.Properties?.LogGroupName as { 'Fn::Join': [string, unknown[]] };
    assert.match(String(name['Fn::Join'][1][0]), /^aws-waf-logs-/);
    const [, serviceLogs] = single(resources(template, 'AWS::Logs::LogGroup').filter(([id]) => id === logicalId(stack, stack.service.logGroup)), 'service log group');
    assert.equal(group.Properties?.RetentionInDays, serviceLogs.Properties?.RetentionInDays);
    const [, logging] = single(resources(template, 'AWS::WAFv2::LoggingConfiguration'), 'logging configuration');
    assert.deepEqual(logging.Properties?.RedactedFields, [{ SingleHeader: { Name: 'authorization' } }, { SingleHeader: { Name: 'cookie' } }]);
    const destination = JSON.stringify(logging.Properties?.LogDestinationConfigs);
    assert.ok(destination.includes(`"Ref":"${logsId}"`), destination);
    assert.ok(!destination.includes(':*'), 'WAF takes the log group ARN without the :* suffix');
  });

  it('validates the rate settings, naming the property', () => {
    assert.throws(() => serviceStack({ wafChatRateLimit: 19 }), /Chat: wafChatRateLimit: must be an integer from 20 \(the green-light hook's chat requests per run\)/);
    assert.throws(() => serviceStack({ wafChatRateLimit: 100.5 }), /wafChatRateLimit: must be an integer/);
    assert.throws(() => serviceStack({ wafRateLimitWindow: Duration.minutes(3) }), /Chat: wafRateLimitWindow: must be 1, 2, 5 or 10 minutes, got 180 seconds/);
    assert.throws(() => serviceStack({ waf: false, wafChatRateLimit: 100 }), /apply only when waf is true/);
    const custom = rule(rulesOf(serviceStack({ wafChatRateLimit: 100, wafRateLimitWindow: Duration.minutes(1) })), 'ChatRateLimit');
    const rate = custom.Statement.RateBasedStatement as RateBased;
    assert.equal(rate.Limit, 100);
    assert.equal(rate.EvaluationWindowSec, 60);
  });

  it('lets the green-light hook through: a User-Agent on every request, fewer chats than any allowed limit', () => {
    const runtime = path.join(__dirname, '..', '..', 'runtime', 'smoke', 'src');
    // The core rule set's NoUserAgent_HEADER blocks requests without one; smoke's one client sets it.
    const http = fs.readFileSync(path.join(runtime, 'http.rs'), 'utf8');
    assert.match(http, /Client::builder\(\)\s*\.user_agent\(concat!\("greenlight-smoke\/"/);
    const config = fs.readFileSync(path.join(runtime, 'config.rs'), 'utf8');
    const m = /pub const MAX_ROUNDS: u32 = (\d+);/.exec(config);
    assert.ok(m, 'smoke\'s MAX_ROUNDS is no longer where this test reads it');
    assert.equal(HOOK_MAX_CHAT_REQUESTS, Number(m[1]));
  });

  it('is off with waf: false: no web ACL, association, logging or log group', () => {
    const off = serviceStack({ waf: false });
    for (const type of ['AWS::WAFv2::WebACL', 'AWS::WAFv2::WebACLAssociation', 'AWS::WAFv2::LoggingConfiguration']) off.resourceCountIs(type, 0);
    assert.equal(resources(off, 'AWS::Logs::LogGroup').filter(([id]) => id.includes('WafLogs')).length, 0);
  });

  it('gives a second service in the stack its own web ACL and log group', () => {
    const shop = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Shop');
    new GreenlightService(shop, 'Chat');
    new GreenlightService(shop, 'Support');
    const t = Template.fromStack(shop);
    const acls = resources(t, 'AWS::WAFv2::WebACL').map(([, r]) => r.Properties?.Name);
    assert.equal(acls.length, 2);
    assert.notEqual(acls[0], acls[1]);
    const groups = resources(t, 'AWS::Logs::LogGroup').filter(([id]) => id.includes('WafLogs')).map(([, r]) => JSON.stringify(r.Properties?.LogGroupName));
    assert.equal(groups.length, 2);
    assert.notEqual(groups[0], groups[1]);
    const associated = resources(t, 'AWS::WAFv2::WebACLAssociation').map(([, r]) => JSON.stringify(r.Properties?.ResourceArn));
    assert.equal(new Set(associated).size, 2);
  });
});

describe('integerAbove', () => {
  it('matches exactly the integers above the limit, leading zeros included', () => {
    for (const n of [0, 7, 9, 10, 99, 100, 190, 8192, 262_144, 999_999, 1_000_000]) {
      const re = new RegExp(integerAbove(n));
      const probes = new Set([0, 1, n - 1, n, n + 1, n + 9, n + 10, n * 10, n * 10 + 9]);
      for (let k = 0; k < 200; k++) probes.add(Math.floor(Math.random() * (n * 3 + 20)));
      for (const p of probes) {
        if (p < 0) continue;
        assert.equal(re.test(String(p)), p > n, `${p} against ${n}`);
        assert.equal(re.test(`00${p}`), p > n, `00${p} against ${n}`);
      }
      for (const junk of ['', '-1', '1e9', ' 300000', '300000 ', 'abc']) assert.equal(re.test(junk), false, junk);
    }
  });

  it('rejects a limit that is not a non-negative integer', () => {
    assert.throws(() => integerAbove(-1), /non-negative integer/);
    assert.throws(() => integerAbove(1.5), /non-negative integer/);
  });
});
