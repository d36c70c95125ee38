import { type Duration, aws_cloudwatch as cloudwatch } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { ChatbotMetrics } from './chatbot-metrics';

/** Thresholds of the alarms on the chatbot's own signals. */
export interface ChatAlarmOptions {
  readonly ttftP95Threshold: Duration;
  readonly chatErrorRatePercent: number;
  readonly interruptedStreamsPercent: number;
  readonly minimumChatsPerMinute: number;
}

/** The alarms on the chatbot's own signals; a deployment rolls back on them too. */
export interface ChatAlarms {
  readonly ttft: cloudwatch.Alarm;
  readonly chatErrors: cloudwatch.Alarm;
  readonly interruptedStreams: cloudwatch.Alarm;
}

/**
 * Alarms that see what ALB metrics cannot: answers slow to start, failing at the model, or cut
 * off, all with HTTP 200. They read the service's stable dimension set, so they cover blue and
 * green together: at a 10 % canary, a green whose every answer is slow or failing moves the
 * service's p95 and error rate past the defaults, and the deployment rolls back.
 *
 * Missing data is NOT_BREACHING: a minute with no chats (a quiet canary, a new stack) is fine,
 * never a rollback, and leaves the alarm OK rather than INSUFFICIENT_DATA. A minute with fewer
 * than `minimumChatsPerMinute` chats evaluates to 0 for the same reason: one slow answer of two is
 * no verdict on a build (the green-light hook has already judged green's own chats). Every alarm
 * needs 2 breaching minutes out of 3, like the load balancer latency alarm.
 */
export function createChatAlarms(scope: Construct, metrics: ChatbotMetrics, o: ChatAlarmOptions): ChatAlarms {
  const common = {
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  };
  const ttft = metrics.ttftP95(o.minimumChatsPerMinute).createAlarm(scope, 'TtftAlarm', {
    ...common,
    alarmDescription: 'Greenlight: p95 time to first token of the chats above its budget (the model or retrieval is slow)',
    threshold: o.ttftP95Threshold.toMilliseconds() / 1000,
  });
  const chatErrors = metrics.errorRate(o.minimumChatsPerMinute).createAlarm(scope, 'ChatErrorRateAlarm', {
    ...common,
    alarmDescription: 'Greenlight: percentage of chats that ended with an error event (upstream timeouts, failures)',
    threshold: o.chatErrorRatePercent,
  });
  const interruptedStreams = metrics.interruptedRate(o.minimumChatsPerMinute).createAlarm(scope, 'InterruptedStreamsAlarm', {
    ...common,
    alarmDescription: 'Greenlight: percentage of answers cut after they began (the model stream broke, or a task stopped mid-answer)',
    threshold: o.interruptedStreamsPercent,
  });
  return { ttft, chatErrors, interruptedStreams };
}
