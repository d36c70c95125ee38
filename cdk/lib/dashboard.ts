import {
  Aws,
  Duration,
  aws_cloudwatch as cloudwatch,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { ChatAlarmOptions, ChatAlarms } from './chat-alarms';
import { CHATBOT_NAMESPACE, ChatbotMetricName, type ChatbotMetrics, ChatOutcome, SERVICE_DIMENSION } from './chatbot-metrics';

/** What the dashboard shows. */
export interface DashboardOptions {
  readonly serviceDimension: string;
  readonly metrics: ChatbotMetrics;
  readonly chatAlarms: ChatAlarms;
  readonly thresholds: ChatAlarmOptions;
  readonly loadBalancerAlarms: cloudwatch.IAlarm[];
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  readonly blueTargetGroup: elbv2.IApplicationTargetGroup;
  readonly greenTargetGroup: elbv2.IApplicationTargetGroup;
  readonly cluster: ecs.ICluster;
  readonly service: ecs.IBaseService;
  readonly targetStreamsPerTask: number;
}

const PERIOD = Duration.minutes(1);

/**
 * The service's CloudWatch dashboard: the chatbot's own signals (from its EMF records), the load
 * balancer's, the tasks by colour, and the deployments. CloudWatch dashboards have no event
 * annotations, so a deployment shows as what it changes: the version lines of the chats (a new
 * `version` appears, the old one fades), the ECS service's task sets and deployments (Container
 * Insights), and green's healthy targets.
 */
export function createDashboard(scope: Construct, o: DashboardOptions): cloudwatch.Dashboard {
  const m = o.metrics;
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
    defaultInterval: Duration.hours(3),
    periodOverride: cloudwatch.PeriodOverride.INHERIT,
  });
  const graph = (title: string, left: cloudwatch.IMetric[], extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
    new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, period: PERIOD, ...extra });
  const alarmLine = (value: number, label: string): cloudwatch.HorizontalAnnotation => ({ value, label, color: cloudwatch.Color.RED });

  // Chats of every version of this service: the per-version dimension set, found by SEARCH (the
  // versions are not known when the stack is synthesized). Dashboards may SEARCH; alarms may not.
  const byVersion = new cloudwatch.MathExpression({
    expression:
      `SEARCH('{${CHATBOT_NAMESPACE},${SERVICE_DIMENSION},provider,model,version,route} ` +
      `MetricName="${ChatbotMetricName.CHATS_STARTED}" ${SERVICE_DIMENSION}="${o.serviceDimension}"', 'Sum', 60)`,
    label: 'Chats started',
    period: PERIOD,
  });
  const errorsByCode = new cloudwatch.MathExpression({
    expression:
      `SEARCH('{${CHATBOT_NAMESPACE},${SERVICE_DIMENSION},code} ` +
      `MetricName="${ChatbotMetricName.CHAT_ERRORS}" ${SERVICE_DIMENSION}="${o.serviceDimension}"', 'Sum', 60)`,
    label: 'Errors',
    period: PERIOD,
  });
  const tokensPerMinute = (metricName: string, label: string) => m.metric(metricName, 'Sum', {}, label);
  const containerInsights = (metricName: string, label: string) =>
    new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName,
      dimensionsMap: { ClusterName: o.cluster.clusterName, ServiceName: o.service.serviceName },
      statistic: 'Maximum',
      period: PERIOD,
      label,
    });

  dashboard.addWidgets(
    new cloudwatch.AlarmStatusWidget({
      title: 'Rollback alarms (both engines roll a deployment back on these)',
      alarms: [o.chatAlarms.ttft, o.chatAlarms.chatErrors, o.chatAlarms.interruptedStreams, ...o.loadBalancerAlarms],
      width: 24,
      height: 3,
    }),
  );
  dashboard.addWidgets(
    graph('Requests (load balancer) and chats', [
      o.loadBalancer.metrics.requestCount({ period: PERIOD, statistic: 'Sum', label: 'Requests' }),
      m.chatsStarted(),
      m.chatsFinished(ChatOutcome.OK),
    ]),
    graph('Chats started by version (deployments)', [byVersion]),
    graph('Time to first token (s)', [m.ttft('p50'), m.ttft('p95'), m.ttft('p99')], {
      leftAnnotations: [alarmLine(o.thresholds.ttftP95Threshold.toMilliseconds() / 1000, 'p95 alarm')],
    }),
  );
  dashboard.addWidgets(
    graph('Chat error rate and interrupted streams (%)', [
      m.errorRate(1),
      m.interruptedRate(1),
    ], {
      leftAnnotations: [
        alarmLine(o.thresholds.chatErrorRatePercent, 'error rate alarm'),
        alarmLine(o.thresholds.interruptedStreamsPercent, 'interrupted alarm'),
      ],
    }),
    graph('Errors by code (per minute)', [errorsByCode]),
    graph('Chats by outcome (per minute)', [
      m.chatsFinished(ChatOutcome.OK),
      m.chatsFinished(ChatOutcome.ERROR),
      m.chatsFinished(ChatOutcome.CANCELLED),
      m.chatsFinished(ChatOutcome.DRAINED),
    ]),
  );
  dashboard.addWidgets(
    graph('Streams open per task', [m.streamsOpen('Average'), m.streamsOpen('Maximum')], {
      leftAnnotations: [{ value: o.targetStreamsPerTask, label: 'scaling target', color: cloudwatch.Color.ORANGE }],
    }),
    graph('Tokens per minute', [
      tokensPerMinute(ChatbotMetricName.PROMPT_TOKENS, 'Prompt tokens'),
      tokensPerMinute(ChatbotMetricName.COMPLETION_TOKENS, 'Completion tokens'),
    ]),
    graph('Tasks by colour, task sets and deployments', [
      o.blueTargetGroup.metrics.healthyHostCount({ period: PERIOD, statistic: 'Maximum', label: 'Blue healthy targets' }),
      o.greenTargetGroup.metrics.healthyHostCount({ period: PERIOD, statistic: 'Maximum', label: 'Green healthy targets' }),
      containerInsights('RunningTaskCount', 'Running tasks'),
      containerInsights('TaskSetCount', 'Task sets (2 during a CodeDeploy deployment)'),
      containerInsights('DeploymentCount', 'Deployments (2 or more while one rolls out)'),
    ]),
  );
  return dashboard;
}

/** The console URL of `dashboard` (the standard AWS partition's console). */
export function dashboardUrl(dashboard: cloudwatch.Dashboard): string {
  return `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards/dashboard/${dashboard.dashboardName}`;
}
