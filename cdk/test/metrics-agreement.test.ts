// The chatbot metrics the alarms, the scaling policies and the dashboard read must be metrics the
// server emits: same namespace, same name, one of its exact dimension sets, the task's
// METRICS_EMF_SERVICE as `service`, and a percentile only of a histogram. The server's side is
// docs/metrics.json, which runtime/chatbot/src/metrics/mod.rs keeps equal to its own table.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { GreenlightService } from '../lib';
import { resources, synth } from './helpers';
import { VARIANTS } from './variants';

interface CatalogueMetric {
  readonly name: string;
  readonly kind: 'counter' | 'gauge' | 'histogram';
  readonly dimensionSets: string[][];
}

export interface Catalogue {
  readonly namespace: string;
  readonly serviceDimension: string;
  readonly metrics: CatalogueMetric[];
}

export const CATALOGUE: Catalogue = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'metrics.json'), 'utf8'),
) as Catalogue;

/** Namespaces of AWS's own metrics the app also reads; anything else must be the server's. */
const AWS_NAMESPACES = new Set(['AWS/ApplicationELB', 'AWS/ECS', 'ECS/ContainerInsights']);

/** One metric a template reads: where, and as what. */
interface MetricUse {
  readonly where: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Record<string, unknown>;
  readonly stat?: string;
}

type Json = Record<string, unknown>;

/** A template value as text: strings as they are, anything else (a token) as JSON. */
function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function dimensionsOf(list: unknown): Record<string, unknown> {
  return Object.fromEntries(((list ?? []) as Array<{ Name: string; Value: unknown }>).map((d) => [d.Name, d.Value]));
}

/** Metrics of alarms (single or math) and scaling policies (customized metrics, single or math). */
function templateUses(template: Json): MetricUse[] {
  const uses: MetricUse[] = [];
  const fromQueries = (where: string, queries: unknown) => {
    for (const q of (queries ?? []) as Json[]) {
      const stat = q.MetricStat as Json | undefined;
      if (!stat) continue;
      const metric = stat.Metric as Json;
      uses.push({
        where: `${where} ${text(q.Id)}`,
        namespace: text(metric.Namespace),
        metricName: text(metric.MetricName),
        dimensions: dimensionsOf(metric.Dimensions),
        stat: text(stat.Stat),
      });
    }
  };
  for (const [id, r] of Object.entries((template.Resources ?? {}) as Record<string, { Type: string; Properties?: Json }>)) {
    const p = r.Properties ?? {};
    if (r.Type === 'AWS::CloudWatch::Alarm') {
      if (p.MetricName) {
        uses.push({
          where: id,
          namespace: text(p.Namespace),
          metricName: text(p.MetricName),
          dimensions: dimensionsOf(p.Dimensions),
          stat: text(p.ExtendedStatistic ?? p.Statistic),
        });
      }
      fromQueries(id, p.Metrics);
    }
    if (r.Type === 'AWS::ApplicationAutoScaling::ScalingPolicy') {
      const custom = (p.TargetTrackingScalingPolicyConfiguration as Json | undefined)?.CustomizedMetricSpecification as Json | undefined;
      if (custom?.MetricName) {
        uses.push({
          where: id,
          namespace: text(custom.Namespace),
          metricName: text(custom.MetricName),
          dimensions: dimensionsOf(custom.Dimensions),
          stat: text(custom.Statistic),
        });
      }
      fromQueries(id, custom?.Metrics);
    }
  }
  return uses;
}

/** The dashboard body with every CloudFormation token replaced by a placeholder string. */
function dashboardBody(body: unknown): Json {
  const join = (body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  const joined = join ? join[1].map((part) => (typeof part === 'string' ? part : 'TOKEN')).join(join[0]) : text(body);
  return JSON.parse(joined) as Json;
}

/** Metrics of dashboard graphs: metric arrays, and the schema and name of SEARCH expressions. */
function dashboardUses(template: Json): MetricUse[] {
  const uses: MetricUse[] = [];
  for (const [id, r] of resources(Template.fromJSON(template), 'AWS::CloudWatch::Dashboard')) {
    const widgets = (dashboardBody(r.Properties?.DashboardBody).widgets ?? []) as Json[];
    for (const widget of widgets) {
      const title = text((widget.properties as Json | undefined)?.title);
      for (const entry of ((widget.properties as Json | undefined)?.metrics ?? []) as unknown[][]) {
        const options = (entry.find((e) => typeof e === 'object') ?? {}) as Json;
        const values = entry.filter((e): e is string => typeof e === 'string');
        if (values.length >= 2) {
          const dimensions: Record<string, unknown> = {};
          for (let i = 2; i + 1 < values.length; i += 2) dimensions[values[i]] = values[i + 1];
          uses.push({ where: `${id} '${title}'`, namespace: values[0], metricName: values[1], dimensions, stat: text(options.stat) });
        }
        const search = /SEARCH\('\{([^}]*)\}\s+MetricName="([^"]+)"(.*?)'/.exec(text(options.expression ?? ''));
        if (search) {
          const [namespace, ...keys] = search[1].split(',');
          const values = Object.fromEntries([...search[3].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
          const dimensions = Object.fromEntries(keys.map((k) => [k, values[k] ?? '*']));
          uses.push({ where: `${id} '${title}' SEARCH`, namespace, metricName: search[2], dimensions });
        }
      }
    }
  }
  return uses;
}

/** Where `template` reads a chatbot metric the server does not emit that way. */
export function disagreements(template: Json, catalogue: Catalogue = CATALOGUE): { problems: string[]; checked: number } {
  const problems: string[] = [];
  const families = new Set(
    resources(Template.fromJSON(template), 'AWS::ECS::TaskDefinition').flatMap(([, r]) =>
      ((r.Properties?.ContainerDefinitions ?? []) as Json[]).flatMap((c) =>
        ((c.Environment ?? []) as Array<{ Name: string; Value: unknown }>)
          .filter((e) => e.Name === 'METRICS_EMF_SERVICE')
          .map((e) => JSON.stringify(e.Value)),
      ),
    ),
  );
  let checked = 0;
  for (const use of [...templateUses(template), ...dashboardUses(template)]) {
    if (AWS_NAMESPACES.has(use.namespace)) continue;
    checked += 1;
    const at = `${use.where}: ${use.namespace} ${use.metricName}`;
    if (use.namespace !== catalogue.namespace) {
      problems.push(`${at}: namespace '${use.namespace}' is not the server's '${catalogue.namespace}'`);
      continue;
    }
    const metric = catalogue.metrics.find((m) => m.name === use.metricName);
    if (!metric) {
      problems.push(`${at}: the server emits no metric '${use.metricName}'`);
      continue;
    }
    const keys = Object.keys(use.dimensions).sort();
    if (!metric.dimensionSets.some((set) => JSON.stringify([...set].sort()) === JSON.stringify(keys))) {
      problems.push(`${at}: dimensions [${keys.join(', ')}] are none of the server's sets ${JSON.stringify(metric.dimensionSets)}`);
    }
    const service = use.dimensions[catalogue.serviceDimension];
    if (service !== undefined && !families.has(JSON.stringify(service))) {
      problems.push(`${at}: ${catalogue.serviceDimension}=${JSON.stringify(service)} is no task definition's METRICS_EMF_SERVICE (${[...families].join(', ')})`);
    }
    if (use.stat && /^(p|tm|wm|tc|ts|pr)\d/i.test(use.stat) && metric.kind !== 'histogram') {
      problems.push(`${at}: statistic ${use.stat} of a ${metric.kind}; percentiles need a histogram`);
    }
  }
  return { problems, checked };
}

describe('the CDK app reads the metrics the server emits (docs/metrics.json)', () => {
  for (const [variant, context] of Object.entries(VARIANTS)) {
    it(`${variant}: alarms, scaling and dashboard`, () => {
      const { problems, checked } = disagreements(synth(context).template.toJSON());
      assert.deepEqual(problems, []);
      assert.ok(checked >= 20, `only ${checked} chatbot metric uses found: the walk misses some`);
    });
  }

  it('two services in one stack: each reads its own service dimension', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Shop');
    const chat = new GreenlightService(stack, 'Chat');
    const support = new GreenlightService(stack, 'Support');
    assert.notEqual(chat.metricsServiceDimension, support.metricsServiceDimension);
    const template = Template.fromStack(stack).toJSON();
    assert.deepEqual(disagreements(template).problems, []);
    for (const use of templateUses(template).filter((u) => u.namespace === CATALOGUE.namespace)) {
      const owner = use.where.startsWith('Support') ? support : chat;
      assert.equal(use.dimensions.service, owner.metricsServiceDimension, use.where);
    }
  });

  // The test must fail when one side renames: rename each side in turn.
  const template = synth({}).template.toJSON();
  const renamed = (from: string, to: string) => JSON.parse(JSON.stringify(template).split(from).join(to)) as Json;

  it('fails when the CDK side reads a name, namespace or dimension the server does not emit', () => {
    const name = disagreements(renamed('greenlight_streams_open', 'greenlight_open_streams')).problems;
    assert.ok(name.some((p) => p.includes("the server emits no metric 'greenlight_open_streams'")), name.join('\n'));
    const namespace = disagreements(renamed('"Namespace":"Greenlight"', '"Namespace":"GreenLight"')).problems;
    assert.ok(namespace.some((p) => p.includes("namespace 'GreenLight' is not the server's 'Greenlight'")), namespace.join('\n'));
    const dimension = disagreements(renamed('"Name":"outcome"', '"Name":"result"')).problems;
    assert.ok(dimension.some((p) => p.includes('dimensions [result, service] are none')), dimension.join('\n'));
    const service = disagreements(renamed('"Name":"METRICS_EMF_SERVICE","Value":"greenlight"', '"Name":"METRICS_EMF_SERVICE","Value":"chat"')).problems;
    assert.ok(service.some((p) => p.includes('service="greenlight" is no task definition')), service.join('\n'));
  });

  it('fails when the server side renames a metric or a dimension', () => {
    const rename = (change: (m: CatalogueMetric) => CatalogueMetric): Catalogue => ({ ...CATALOGUE, metrics: CATALOGUE.metrics.map(change) });
    const name = disagreements(template, rename((m) => (m.name === 'greenlight_chat_ttft_seconds' ? { ...m, name: 'greenlight_ttft_seconds' } : m))).problems;
    assert.ok(name.some((p) => p.includes("the server emits no metric 'greenlight_chat_ttft_seconds'")), name.join('\n'));
    const dims = disagreements(template, rename((m) => ({ ...m, dimensionSets: m.dimensionSets.map((s) => s.map((d) => (d === 'service' ? 'task_family' : d))) }))).problems;
    assert.ok(dims.some((p) => p.includes('are none of the server')), dims.join('\n'));
    const kind = disagreements(template, rename((m) => (m.name === 'greenlight_chat_ttft_seconds' ? { ...m, kind: 'gauge' } : m))).problems;
    assert.ok(kind.some((p) => p.includes('percentiles need a histogram')), kind.join('\n'));
    const namespace = disagreements(template, { ...CATALOGUE, namespace: 'GreenlightChat' }).problems;
    assert.ok(namespace.some((p) => p.includes("is not the server's 'GreenlightChat'")), namespace.join('\n'));
  });
});
