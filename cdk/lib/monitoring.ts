import {
  Duration,
  aws_applicationautoscaling as appscaling,
  aws_cloudwatch as cloudwatch,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** How the service scales. */
export interface ScalingOptions {
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly targetCpuUtilizationPercent: number;
  readonly requestsPerTaskPerMinute: number;
  /** The average of the tasks' open streams (the server's gauge, per minute). */
  readonly streamsPerTask: cloudwatch.IMetric;
  readonly targetStreamsPerTask: number;
}

/**
 * Scales the service on concurrent chat streams per task (the load of a task that mostly waits
 * on the model), with CPU and requests per task as guards. Application Auto Scaling scales out
 * when any policy asks and in only when every target-tracking policy agrees.
 */
export function configureScaling(
  service: ecs.FargateService,
  cluster: ecs.ICluster,
  loadBalancer: elbv2.IApplicationLoadBalancer,
  o: ScalingOptions,
): ecs.ScalableTaskCount {
  const scaling = service.autoScaleTaskCount({ minCapacity: o.minCapacity, maxCapacity: o.maxCapacity });
  scaling.scaleOnCpuUtilization('CpuScaling', {
    targetUtilizationPercent: o.targetCpuUtilizationPercent,
    scaleInCooldown: Duration.seconds(120),
    scaleOutCooldown: Duration.seconds(60),
  });
  scaleOnRequests(scaling, service, cluster, loadBalancer, o.requestsPerTaskPerMinute);
  // Every task writes its greenlight_streams_open once a minute under the same stable dimension
  // set, so the metric's Average is the mean per task: it falls in proportion as tasks are added,
  // which target tracking needs (Application Auto Scaling, CustomizedMetricSpecification).
  scaling.scaleToTrackCustomMetric('StreamScaling', {
    metric: o.streamsPerTask,
    targetValue: o.targetStreamsPerTask,
    scaleInCooldown: Duration.seconds(300),
    scaleOutCooldown: Duration.seconds(60),
  });
  return scaling;
}

/**
 * Scales on requests per task. A target-group metric (ALBRequestCountPerTarget) would follow
 * the blue target group only and go blind after the first blue/green swap, so this divides the
 * load balancer's request count by the running tasks (Container Insights).
 */
function scaleOnRequests(
  scaling: ecs.ScalableTaskCount,
  service: ecs.IService,
  cluster: ecs.ICluster,
  loadBalancer: elbv2.IApplicationLoadBalancer,
  requestsPerTaskPerMinute: number,
): void {
  const requests = loadBalancer.metrics.requestCount({ period: Duration.minutes(1), statistic: 'Sum' });
  const tasks = new cloudwatch.Metric({
    namespace: 'ECS/ContainerInsights',
    metricName: 'RunningTaskCount',
    dimensionsMap: { ClusterName: cluster.clusterName, ServiceName: service.serviceName },
    period: Duration.minutes(1),
    statistic: 'Average',
  });
  const perTask = new cloudwatch.MathExpression({
    expression: 'FILL(requests, 0) / MAX([FILL(tasks, 1), 1])',
    usingMetrics: { requests, tasks },
    period: Duration.minutes(1),
    label: 'Requests per task per minute',
  });
  scaling.scaleOnMetric('RequestScaling', {
    metric: perTask,
    adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
    scalingSteps: [
      { upper: requestsPerTaskPerMinute / 3, change: -1 },
      { lower: requestsPerTaskPerMinute, change: +1 },
      { lower: requestsPerTaskPerMinute * 2, change: +2 },
    ],
    evaluationPeriods: 3,
    cooldown: Duration.seconds(120),
  });
}

/** Thresholds of the alarms a deployment rolls back on. */
export interface AlarmOptions {
  readonly latencyP95Threshold: Duration;
  readonly serverErrorsPerMinuteThreshold: number;
}

/** The alarms a deployment rolls back on. */
export interface ServiceAlarms {
  readonly serverErrors: cloudwatch.Alarm;
  readonly unhealthyHosts: cloudwatch.Alarm;
  readonly latency: cloudwatch.Alarm;
}

/**
 * 5xx responses, unhealthy targets of either colour, and p95 latency: load-balancer-wide
 * metrics, since target-group metrics would follow one colour only. Alarms are created in
 * `scope` (the service), so their logical ids do not depend on this file.
 */
export function createAlarms(
  scope: Construct,
  loadBalancer: elbv2.IApplicationLoadBalancer,
  blueTargetGroup: elbv2.IApplicationTargetGroup,
  greenTargetGroup: elbv2.IApplicationTargetGroup,
  o: AlarmOptions,
): ServiceAlarms {
  const lbMetrics = loadBalancer.metrics;
  const period = Duration.minutes(1);
  const serverErrors = new cloudwatch.MathExpression({
    expression: 'FILL(target5xx, 0) + FILL(elb5xx, 0)',
    usingMetrics: {
      target5xx: lbMetrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period, statistic: 'Sum' }),
      elb5xx: lbMetrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period, statistic: 'Sum' }),
    },
    period,
    label: '5xx responses per minute',
  }).createAlarm(scope, 'ServerErrorsAlarm', {
    alarmDescription: 'Greenlight: 5xx responses from the tasks or the load balancer',
    threshold: o.serverErrorsPerMinuteThreshold,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  const unhealthy = (tg: elbv2.IApplicationTargetGroup) => tg.metrics.unhealthyHostCount({ period, statistic: 'Maximum' });
  const unhealthyHosts = new cloudwatch.MathExpression({
    expression: 'MAX([FILL(blue, 0), FILL(green, 0)])',
    usingMetrics: { blue: unhealthy(blueTargetGroup), green: unhealthy(greenTargetGroup) },
    period,
    label: 'Unhealthy targets (blue or green)',
  }).createAlarm(scope, 'UnhealthyHostsAlarm', {
    alarmDescription: 'Greenlight: a target failed its /health checks',
    threshold: 1,
    evaluationPeriods: 2,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  const latency = lbMetrics.targetResponseTime({ period, statistic: 'p95' }).createAlarm(scope, 'LatencyAlarm', {
    alarmDescription: 'Greenlight: p95 target response time (time to the response headers)',
    threshold: o.latencyP95Threshold.toMilliseconds() / 1000,
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  return { serverErrors, unhealthyHosts, latency };
}
