import { Token } from 'aws-cdk-lib';
import { EgressMode, LlmProvider } from './service-props';

/** The resolved settings of a GreenlightService that must agree with each other. */
export interface ServiceSettings {
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly egress: EgressMode;
  readonly provider: LlmProvider;
  readonly model: string;
  readonly taskFamily: string;
  readonly natGateways?: number;
}

/** A settled value: validation skips tokens (they resolve at deploy time), as aws-ecs-patterns does. */
function known(value: string | number | undefined): boolean {
  return value !== undefined && !Token.isUnresolved(value);
}

/** Rejects settings that cannot work, naming the construct (its path) and the property. */
export function validateServiceSettings(v: ServiceSettings, path: string): void {
  const fail = (message: string): never => {
    throw new Error(`${path}: ${message}`);
  };
  if (known(v.minCapacity) && (!Number.isInteger(v.minCapacity) || v.minCapacity < 1)) {
    fail(`minCapacity: must be an integer of at least 1, got ${v.minCapacity}`);
  }
  if (known(v.maxCapacity) && known(v.minCapacity) && (!Number.isInteger(v.maxCapacity) || v.maxCapacity < v.minCapacity)) {
    fail(`maxCapacity: must be an integer of at least minCapacity (${v.minCapacity}), got ${v.maxCapacity}`);
  }
  if (known(v.natGateways) && (!Number.isInteger(v.natGateways) || v.natGateways! < 1 || v.natGateways! > 2)) {
    fail(`natGateways: must be 1 or 2, got ${v.natGateways}`);
  }
  if (v.egress === EgressMode.VPC_ENDPOINTS && v.provider === LlmProvider.OPENAI) {
    fail('egress: VPC_ENDPOINTS has no route to an external provider; use NAT_GATEWAY with llmProvider openai');
  }
  if (v.provider === LlmProvider.BEDROCK && !v.model) {
    fail('llmModel: required for the bedrock provider (the task role may invoke this model only)');
  }
  if (known(v.taskFamily) && !/^[A-Za-z0-9_-]{1,200}$/.test(v.taskFamily)) {
    fail(`taskFamily: '${v.taskFamily}' must be 1 to 200 letters, digits, _ or -`);
  }
}

/** The thresholds of the chat alarms and the streams scaling target. */
export interface ChatSettings {
  readonly chatErrorRatePercent: number;
  readonly interruptedStreamsPercent: number;
  readonly minimumChatsPerMinute: number;
  readonly targetStreamsPerTask: number;
  readonly ttftP95Seconds: number;
}

/** Rejects chat alarm thresholds and scaling targets that cannot work, naming the property. */
export function validateChatSettings(v: ChatSettings, path: string): void {
  const fail = (message: string): never => {
    throw new Error(`${path}: ${message}`);
  };
  const percent = (name: string, value: number) => {
    if (known(value) && !(value > 0 && value <= 100)) fail(`${name}: must be above 0 and at most 100 (percent), got ${value}`);
  };
  percent('chatErrorRatePercentThreshold', v.chatErrorRatePercent);
  percent('interruptedStreamsPercentThreshold', v.interruptedStreamsPercent);
  if (known(v.minimumChatsPerMinute) && (!Number.isInteger(v.minimumChatsPerMinute) || v.minimumChatsPerMinute < 1)) {
    fail(`chatAlarmsMinimumChatsPerMinute: must be an integer of at least 1, got ${v.minimumChatsPerMinute}`);
  }
  if (known(v.targetStreamsPerTask) && !(v.targetStreamsPerTask > 0)) {
    fail(`targetStreamsPerTask: must be above 0, got ${v.targetStreamsPerTask}`);
  }
  if (known(v.ttftP95Seconds) && !(v.ttftP95Seconds > 0)) {
    fail(`ttftP95Threshold: must be above 0 seconds, got ${v.ttftP95Seconds}`);
  }
}

/** Checks an ECR pull-through cache repository prefix (unresolved tokens pass). */
export function validateCachePrefix(prefix: string, path: string): void {
  if (!Token.isUnresolved(prefix) && !/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(prefix)) {
    throw new Error(`${path}: bootstrapCachePrefix: '${prefix}' must be lower-case letters, digits and . _ - (2 to 30 characters)`);
  }
  if (!Token.isUnresolved(prefix) && (prefix.length < 2 || prefix.length > 30)) {
    throw new Error(`${path}: bootstrapCachePrefix: '${prefix}' must be 2 to 30 characters long, got ${prefix.length}`);
  }
}

/** Rejects a test-listener CIDR that would open the listener to the internet. */
export function validateTestListenerCidr(cidr: string, path: string): void {
  if (!Token.isUnresolved(cidr) && (cidr === '0.0.0.0/0' || cidr === '::/0')) {
    throw new Error(`${path}: testListenerAllowedCidrs: '${cidr}' would open the test listener to the internet`);
  }
}

/** The default pull-through-cache prefix: the stack name, cut to fit. */
export function defaultCachePrefix(stackName: string): string {
  const base = stackName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'greenlight';
  return `${base.slice(0, 20).replace(/-+$/, '')}-bootstrap`;
}

/** Security group descriptions must be plain ASCII (EC2 rejects the rest). */
export function asciiOnly(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}
