// The chatbot's own signals in the CDK app: the three rollback alarms, the scaling on open streams
// and the dashboard. That they read metrics the server emits is metrics-agreement.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { GreenlightService } from '../lib';
import { INITIAL_DESIRED_COUNT } from '../lib/service';
import { logicalId, resources, synth } from './helpers';

function serviceStack(props: ConstructorParameters<typeof GreenlightService>[2] = {}): { service: GreenlightService; template: Template } {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Shop');
  const service = new GreenlightService(stack, 'Chat', props);
  return { service, template: Template.fromStack(stack) };
}

type Query = { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: unknown[] }; Stat: string } };

function alarm(template: Template, stack: Stack, construct: Parameters<typeof logicalId>[1]): Record<string, unknown> {
  const id = logicalId(stack, construct);
  const [, r] = resources(template, 'AWS::CloudWatch::Alarm').find(([k]) => k === id) ?? [];
  assert.ok(r, `no alarm ${id}`);
  return r.Properties ?? {};
}

describe('the chatbot alarms', () => {
  const { stack, template } = synth({});
  const s = stack.service;

  it('judge the TTFT p95 against 5 s, in minutes with at least 10 chats', () => {
    const p = alarm(template, stack, s.ttftAlarm);
    assert.equal(p.Threshold, 5);
    assert.equal(p.ComparisonOperator, 'GreaterThanThreshold');
    const queries = p.Metrics as Query[];
    assert.equal(queries.find((q) => q.Expression)?.Expression, 'IF(FILL(answered, 0) >= 10, p95, 0)');
    assert.deepEqual(
      queries.filter((q) => q.MetricStat).map((q) => [q.Id, q.MetricStat!.Metric.MetricName, q.MetricStat!.Stat]),
      [['p95', 'greenlight_chat_ttft_seconds', 'p95'], ['answered', 'greenlight_chat_ttft_seconds', 'SampleCount']],
    );
  });

  it('judge the error rate (5 %) and interrupted streams (2 %) of the chats finished', () => {
    const errors = alarm(template, stack, s.chatErrorRateAlarm);
    assert.equal(errors.Threshold, 5);
    const all = '(FILL(ok, 0) + FILL(error, 0) + FILL(cancelled, 0) + FILL(drained, 0))';
    assert.equal((errors.Metrics as Query[])[0].Expression, `IF(${all} >= 10, 100 * FILL(error, 0) / ${all}, 0)`);
    const interrupted = alarm(template, stack, s.interruptedStreamsAlarm);
    assert.equal(interrupted.Threshold, 2);
    assert.equal(
      (interrupted.Metrics as Query[])[0].Expression,
      `IF(${all} >= 10, 100 * (FILL(broken, 0) + FILL(drained, 0)) / ${all}, 0)`,
    );
    const broken = (interrupted.Metrics as Query[]).find((q) => q.Id === 'broken')!.MetricStat!.Metric;
    assert.deepEqual(broken.Dimensions, [{ Name: 'code', Value: 'stream_interrupted' }, { Name: 'service', Value: 'greenlight' }]);
  });

  it('treat a minute without chats as fine (no rollback, no INSUFFICIENT_DATA), 2 of 3 minutes to fire', () => {
    for (const a of [s.ttftAlarm, s.chatErrorRateAlarm, s.interruptedStreamsAlarm]) {
      const p = alarm(template, stack, a);
      assert.equal(p.TreatMissingData, 'notBreaching');
      assert.equal(p.EvaluationPeriods, 3);
      assert.equal(p.DatapointsToAlarm, 2);
    }
  });

  it('are rollback alarms of the deployment, with the load balancer ones', () => {
    assert.deepEqual(s.alarms, [
      s.serverErrorsAlarm, s.unhealthyHostsAlarm, s.latencyAlarm,
      s.ttftAlarm, s.chatErrorRateAlarm, s.interruptedStreamsAlarm,
    ]);
  });

  it('take their thresholds from props, and reject ones that cannot work', () => {
    const { service, template: t } = serviceStack({
      ttftP95Threshold: Duration.millis(2500),
      chatErrorRatePercentThreshold: 1,
      interruptedStreamsPercentThreshold: 0.5,
      chatAlarmsMinimumChatsPerMinute: 3,
    });
    const stack = Stack.of(service);
    assert.equal(alarm(t, stack, service.ttftAlarm).Threshold, 2.5);
    assert.equal(alarm(t, stack, service.chatErrorRateAlarm).Threshold, 1);
    assert.equal(alarm(t, stack, service.interruptedStreamsAlarm).Threshold, 0.5);
    assert.match(String((alarm(t, stack, service.ttftAlarm).Metrics as Query[])[0].Expression), /^IF\(FILL\(answered, 0\) >= 3,/);
    assert.throws(() => serviceStack({ chatErrorRatePercentThreshold: 0 }), /Shop\/Chat: chatErrorRatePercentThreshold: must be above 0 and at most 100 \(percent\), got 0/);
    assert.throws(() => serviceStack({ interruptedStreamsPercentThreshold: 150 }), /interruptedStreamsPercentThreshold: must be above 0 and at most 100/);
    assert.throws(() => serviceStack({ chatAlarmsMinimumChatsPerMinute: 0.5 }), /chatAlarmsMinimumChatsPerMinute: must be an integer of at least 1, got 0.5/);
    assert.throws(() => serviceStack({ ttftP95Threshold: Duration.seconds(0) }), /ttftP95Threshold: must be above 0 seconds/);
    assert.throws(() => serviceStack({ targetStreamsPerTask: -1 }), /targetStreamsPerTask: must be above 0, got -1/);
  });
});

describe('scaling on open streams', () => {
  const { template } = synth({});

  it('tracks 100 open streams per task (the average of the tasks\' gauge), beside CPU and requests', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        CustomizedMetricSpecification: {
          Namespace: 'Greenlight',
          MetricName: 'greenlight_streams_open',
          Dimensions: [{ Name: 'service', Value: 'greenlight' }],
          Statistic: 'Average',
        },
        TargetValue: 100,
        ScaleInCooldown: 300,
        ScaleOutCooldown: 60,
      },
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      }),
    });
    // CPU, requests (a step policy each way) and streams.
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 4);
  });

  it('keeps the desired count constant whatever the target', () => {
    const { template: t } = serviceStack({ targetStreamsPerTask: 40 });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 40 }),
    });
    t.hasResourceProperties('AWS::ECS::Service', { DesiredCount: INITIAL_DESIRED_COUNT });
  });
});

describe('the dashboard', () => {
  const { stack, template } = synth({});
  const body = () => {
    const [, r] = resources(template, 'AWS::CloudWatch::Dashboard')[0];
    const join = (r.Properties?.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    return join[1].map((part) => (typeof part === 'string' ? part : '<token>')).join('');
  };

  it('has the chats, TTFT, errors by code, streams, tokens, tasks by colour and deployments', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const widgets = (JSON.parse(body()) as { widgets: Array<{ properties: { title: string } }> }).widgets;
    assert.deepEqual(widgets.map((w) => w.properties.title), [
      'Rollback alarms (both engines roll a deployment back on these)',
      'Requests (load balancer) and chats',
      'Chats started by version (deployments)',
      'Time to first token (s)',
      'Chat error rate and interrupted streams (%)',
      'Errors by code (per minute)',
      'Chats by outcome (per minute)',
      'Streams open per task',
      'Tokens per minute',
      'Tasks by colour, task sets and deployments',
    ]);
    const text = body();
    for (const needle of ['"stat":"p50"', '"stat":"p95"', '"stat":"p99"', 'HealthyHostCount', 'TaskSetCount', 'DeploymentCount', 'RunningTaskCount', 'greenlight_completion_tokens_total']) {
      assert.ok(text.includes(needle), needle);
    }
  });

  it('is a stack output', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const url = JSON.stringify(outputs.DashboardUrl.Value);
    assert.match(url, /cloudwatch\/home\?region=/);
    assert.ok(url.includes(logicalId(stack, stack.service.dashboard)), url);
  });
});
