import { Duration, aws_cloudwatch as cloudwatch } from 'aws-cdk-lib';

/**
 * The chatbot server's own metrics, as its CloudWatch Embedded Metric Format records publish them
 * (runtime/chatbot/src/metrics; docs/metrics.json lists them, and cdk/test/metrics-agreement.test.ts
 * fails when a name, namespace or dimension here is not one the server emits).
 *
 * Every metric is read through the server's stable dimension set: `service` (METRICS_EMF_SERVICE,
 * which the task definition sets to the task family) plus the metric's labels other than `route`.
 * The per-version set (`service`, `provider`, `model`, `version`, labels) changes with every
 * deployment, so an alarm or a scaling policy on it would stop seeing the new build.
 */
export const CHATBOT_NAMESPACE = 'Greenlight';
/** The dimension of the server's stable set. */
export const SERVICE_DIMENSION = 'service';

/** The metric names the CDK app reads (the server's `*_total`, `*_seconds` names). */
export const ChatbotMetricName = {
  CHATS_STARTED: 'greenlight_chats_started_total',
  CHATS_FINISHED: 'greenlight_chats_finished_total',
  CHAT_ERRORS: 'greenlight_chat_errors_total',
  RATE_LIMITED: 'greenlight_rate_limited_total',
  TTFT: 'greenlight_chat_ttft_seconds',
  CHAT_DURATION: 'greenlight_chat_duration_seconds',
  PROMPT_TOKENS: 'greenlight_prompt_tokens_total',
  COMPLETION_TOKENS: 'greenlight_completion_tokens_total',
  STREAMS_OPEN: 'greenlight_streams_open',
  UPSTREAM_RETRIES: 'greenlight_upstream_retries_total',
  DRAIN_EVENTS: 'greenlight_drain_events_total',
} as const;

/** How a chat ended (the `outcome` label of greenlight_chats_finished_total). */
export const ChatOutcome = {
  OK: 'ok',
  ERROR: 'error',
  CANCELLED: 'cancelled',
  DRAINED: 'drained',
} as const;

/** The code of a stream that broke after the answer began (the `code` label). */
export const STREAM_INTERRUPTED_CODE = 'stream_interrupted';

const PERIOD = Duration.minutes(1);

/** One service's chatbot metrics (its `service` dimension value). */
export class ChatbotMetrics {
  constructor(private readonly service: string) {}

  /** A metric of the stable set; `labels` are the metric's labels other than `route`. */
  public metric(metricName: string, statistic: string, labels: Record<string, string> = {}, label?: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: CHATBOT_NAMESPACE,
      metricName,
      dimensionsMap: { [SERVICE_DIMENSION]: this.service, ...labels },
      statistic,
      period: PERIOD,
      label,
    });
  }

  public chatsStarted(): cloudwatch.Metric {
    return this.metric(ChatbotMetricName.CHATS_STARTED, 'Sum', {}, 'Chats started');
  }

  public chatsFinished(outcome: string): cloudwatch.Metric {
    return this.metric(ChatbotMetricName.CHATS_FINISHED, 'Sum', { outcome }, `Chats ${outcome}`);
  }

  public chatErrors(code: string): cloudwatch.Metric {
    return this.metric(ChatbotMetricName.CHAT_ERRORS, 'Sum', { code }, code);
  }

  public ttft(statistic: string): cloudwatch.Metric {
    return this.metric(ChatbotMetricName.TTFT, statistic, {}, `TTFT ${statistic}`);
  }

  public streamsOpen(statistic: string): cloudwatch.Metric {
    return this.metric(ChatbotMetricName.STREAMS_OPEN, statistic, {}, `Streams open (${statistic} per task)`);
  }

  /**
   * Chats finished with an error event, in percent of the chats finished in the minute; 0 in a
   * minute with fewer than `minimumChats` (too few to judge a build by).
   */
  public errorRate(minimumChats: number): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `IF(${this.allFinished} >= ${minimumChats}, 100 * FILL(error, 0) / ${this.allFinished}, 0)`,
      usingMetrics: this.finishedByOutcome(),
      period: PERIOD,
      label: 'Chats ended by an error (%)',
    });
  }

  /**
   * Streams cut after the answer began, not by the client: the model's stream broke
   * (`stream_interrupted`) or the task stopped with the answer open (`drained`), in percent of
   * the chats finished; 0 below `minimumChats`.
   */
  public interruptedRate(minimumChats: number): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `IF(${this.allFinished} >= ${minimumChats}, 100 * (FILL(broken, 0) + FILL(drained, 0)) / ${this.allFinished}, 0)`,
      usingMetrics: {
        ...this.finishedByOutcome(),
        broken: this.chatErrors(STREAM_INTERRUPTED_CODE),
      },
      period: PERIOD,
      label: 'Streams interrupted (%)',
    });
  }

  /** p95 time to first token; 0 in a minute with fewer than `minimumChats` first tokens. */
  public ttftP95(minimumChats: number): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `IF(FILL(answered, 0) >= ${minimumChats}, p95, 0)`,
      usingMetrics: { p95: this.ttft('p95'), answered: this.ttft('SampleCount') },
      period: PERIOD,
      label: 'TTFT p95 (s)',
    });
  }

  private finishedByOutcome(): Record<string, cloudwatch.IMetric> {
    return {
      ok: this.chatsFinished(ChatOutcome.OK),
      error: this.chatsFinished(ChatOutcome.ERROR),
      cancelled: this.chatsFinished(ChatOutcome.CANCELLED),
      drained: this.chatsFinished(ChatOutcome.DRAINED),
    };
  }

  private get allFinished(): string {
    return '(FILL(ok, 0) + FILL(error, 0) + FILL(cancelled, 0) + FILL(drained, 0))';
  }
}
