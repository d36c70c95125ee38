import {
  ArnFormat,
  Aws,
  Duration,
  Fn,
  Names,
  RemovalPolicy,
  Stack,
  Token,
  aws_elasticloadbalancingv2 as elbv2,
  aws_logs as logs,
  aws_wafv2 as wafv2,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * The server's `MAX_BODY_BYTES` default (runtime/chatbot/src/config.rs). The task definition does
 * not set the variable, so this is what the tasks enforce; test/waf.test.ts checks both.
 */
export const SERVER_MAX_BODY_BYTES = 262_144;

/** The routes that start a (paid) model answer: the chat page's and the OpenAI-compatible API. */
export const CHAT_ROUTES = ['/api/chat', '/v1/chat/completions'] as const;

/** Default of `wafChatRateLimit`: requests per client address and evaluation window. */
export const DEFAULT_WAF_CHAT_RATE_LIMIT = 600;

/**
 * The most chat requests one green-light hook run sends through the test listener (the smoke
 * check's `MAX_ROUNDS`, runtime/smoke/src/config.rs: one `POST /api/chat` per round). The hook's
 * Lambda keeps its VPC address between runs, so the rate limit must leave it at least this.
 */
export const HOOK_MAX_CHAT_REQUESTS = 20;

/** The evaluation windows a rate-based rule accepts (AWS::WAFv2::WebACL RateBasedStatement EvaluationWindowSec). */
const EVALUATION_WINDOWS_SECONDS = [60, 120, 300, 600];

/**
 * Managed rules whose default Block is overridden to Count, each with why. All of them inspect
 * the request body, which on the chat routes is a user's prompt: free text that legitimately
 * holds code, markup, paths, URLs and log excerpts. The prompt is data for the model; the server
 * parses it as JSON only, never runs, includes or fetches anything from it. A counted match still
 * labels the request and shows in the WAF logs and metrics (docs/operations.md).
 */
export const COUNTED_MANAGED_RULES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  AWSManagedRulesCommonRuleSet: {
    // Blocks bodies over 8 KB, the most a WAF on an ALB sees of a body (fixed for ALB; AWS WAF
    // developer guide, "Body inspection size limit"). A conversation with a pasted file or a long
    // answer in its history is far above that; the limit is MAX_BODY_BYTES, enforced by the
    // BodySizeLimit rule below and by the server (413).
    SizeRestrictions_BODY: 'chat bodies above 8 KB are normal; BodySizeLimit enforces MAX_BODY_BYTES instead',
    // Prompts about web pages contain <script>, event handlers and HTML; the chat page renders
    // the model's answers as escaped markdown, never a prompt as HTML.
    CrossSiteScripting_BODY: 'prompts quote HTML and JavaScript',
    // Code blocks and shell sessions contain ../ sequences and paths such as /etc/passwd.
    GenericLFI_BODY: 'prompts quote relative paths and system files',
    // Prompts contain URLs with query strings; the server fetches none of them.
    GenericRFI_BODY: 'prompts quote URLs; the server fetches none',
    // Questions about EC2 and containers mention the metadata endpoint's address.
    EC2MetaDataSSRF_BODY: 'prompts mention the instance metadata address; the server fetches no URL from a body',
  },
  AWSManagedRulesKnownBadInputsRuleSet: {
    // A question about Log4Shell quotes `${jndi:...}`; the server is not Java and does no lookups.
    Log4JRCE_BODY: 'prompts quote Log4Shell strings; the server is not Java',
    // Java stack traces and serialized-object dumps pasted into a question match it; nothing
    // here deserializes Java.
    JavaDeserializationRCE_BODY: 'prompts quote Java traces and serialized data; nothing deserializes Java',
  },
};

/** The managed rule groups, in evaluation order (IP reputation first: the cheapest to reject). */
const MANAGED_RULE_GROUPS = [
  'AWSManagedRulesAmazonIpReputationList',
  'AWSManagedRulesCommonRuleSet',
  'AWSManagedRulesKnownBadInputsRuleSet',
] as const;

/** Header names whose values never reach the WAF logs (lower case, as WAF matches them). */
export const REDACTED_HEADERS = ['authorization', 'cookie'] as const;

/** What the web ACL protects and how. */
export interface WebAclOptions {
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** Requests per client address per window on the chat routes. */
  readonly chatRateLimit: number;
  readonly rateLimitWindow: Duration;
  /** The body size the tasks accept (`MAX_BODY_BYTES`). */
  readonly maxBodyBytes: number;
  readonly logRetention: logs.RetentionDays;
  /** The service's construct path, for validation errors. */
  readonly path: string;
}

/** The web ACL, its association with the load balancer and its logs. */
export interface ServiceWebAcl {
  readonly webAcl: wafv2.CfnWebACL;
  readonly association: wafv2.CfnWebACLAssociation;
  readonly logGroup: logs.LogGroup;
  readonly loggingConfiguration: wafv2.CfnLoggingConfiguration;
}

/**
 * An AWS WAF web ACL (REGIONAL) on the service's ALB. A web ACL applies to the whole load
 * balancer, so every listener: production, the port-80 redirect and the test listener the
 * green-light hook checks through. The hook sends GET /health, /ready, /version and small
 * POST /api/chat requests with a `greenlight-smoke` User-Agent from inside the VPC, which none
 * of the rules below blocks. Constructs are created in `scope` (the service).
 */
export function createWebAcl(scope: Construct, o: WebAclOptions): ServiceWebAcl {
  validateWafSettings(o);
  const metric = (name: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
    cloudWatchMetricsEnabled: true,
    metricName: name,
    sampledRequestsEnabled: true,
  });
  const rules: wafv2.CfnWebACL.RuleProperty[] = MANAGED_RULE_GROUPS.map((name, i) => {
    const counted = Object.keys(COUNTED_MANAGED_RULES[name] ?? {});
    return {
      name,
      priority: i,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          ruleActionOverrides: counted.length > 0 ? counted.map((rule) => ({ name: rule, actionToUse: { count: {} } })) : undefined,
        },
      },
      visibilityConfig: metric(name),
    };
  });
  rules.push({
    name: 'BodySizeLimit',
    priority: rules.length,
    action: { block: {} },
    // WAF sees at most the first 8 KB of a body on an ALB, so it cannot measure a 256 KB limit in
    // the body itself (a size constraint with OversizeHandling MATCH would block every body over
    // 8 KB). The declared Content-Length is the body's length when present (a longer body is
    // malformed HTTP: RFC 9112 section 6, RFC 9113 section 8.1.1); a chunked body without one
    // still meets the server's own limit (413).
    statement: {
      regexMatchStatement: {
        fieldToMatch: { singleHeader: { Name: 'content-length' } },
        regexString: integerAbove(o.maxBodyBytes),
        textTransformations: [{ priority: 0, type: 'NONE' }],
      },
    },
    visibilityConfig: metric('BodySizeLimit'),
  });
  rules.push({
    name: 'ChatRateLimit',
    priority: rules.length,
    action: { block: {} },
    // Across all tasks (the server's RATE_LIMIT_PER_MINUTE is per task): a client rotating
    // nothing but hammering the paid routes is stopped at the edge.
    statement: {
      rateBasedStatement: {
        aggregateKeyType: 'IP',
        limit: o.chatRateLimit,
        evaluationWindowSec: o.rateLimitWindow.toSeconds(),
        scopeDownStatement: {
          orStatement: {
            statements: CHAT_ROUTES.map((route) => ({
              byteMatchStatement: {
                fieldToMatch: { uriPath: {} },
                positionalConstraint: 'EXACTLY',
                searchString: route,
                textTransformations: [{ priority: 0, type: 'NONE' }],
              },
            })),
          },
        },
      },
    },
    visibilityConfig: metric('ChatRateLimit'),
  });

  const uniqueName = Names.uniqueResourceName(scope, { maxLength: 100, separator: '-' });
  const webAcl = new wafv2.CfnWebACL(scope, 'WebAcl', {
    // Unique per stack and construct path: a second service in the stack gets its own.
    name: uniqueName,
    description: 'Greenlight ALB: AWS managed rules, body size and chat rate limits',
    scope: 'REGIONAL',
    defaultAction: { allow: {} },
    rules,
    visibilityConfig: metric(uniqueName),
  });
  const association = new wafv2.CfnWebACLAssociation(scope, 'WebAclAssociation', {
    resourceArn: o.loadBalancer.loadBalancerArn,
    webAclArn: webAcl.attrArn,
  });

  const logGroup = new logs.LogGroup(scope, 'WafLogs', {
    // WAF delivers only to log groups named aws-waf-logs-*. The stack id's UUID keeps the name of
    // a retained group from colliding with a later stack of the same name.
    logGroupName: Fn.join('-', ['aws-waf-logs', uniqueName, Fn.select(2, Fn.split('/', Aws.STACK_ID))]),
    retention: o.logRetention,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const loggingConfiguration = new wafv2.CfnLoggingConfiguration(scope, 'WafLogging', {
    resourceArn: webAcl.attrArn,
    // The log group's ARN without the `:*` suffix of its Arn attribute, as WAF requires. WAF adds
    // the CloudWatch Logs resource policy for delivery itself (CloudWatch Logs user guide,
    // "Logs sent to CloudWatch Logs"; the deploying role needs logs:PutResourcePolicy and
    // logs:DescribeResourcePolicies, which the CDK's CloudFormation execution role has).
    logDestinationConfigs: [
      Stack.of(scope).formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: logGroup.logGroupName,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    ],
    // Only UriPath, QueryString, SingleHeader and Method can be redacted (WAF API reference,
    // LoggingConfiguration RedactedFields): the cookie header is a SingleHeader.
    redactedFields: REDACTED_HEADERS.map((name) => ({ singleHeader: { Name: name } })),
  });
  return { webAcl, association, logGroup, loggingConfiguration };
}

/** Rejects WAF settings CloudFormation would reject at deploy time, naming the property. */
export function validateWafSettings(o: Pick<WebAclOptions, 'chatRateLimit' | 'rateLimitWindow' | 'maxBodyBytes' | 'path'>): void {
  // WAF's own floor is 10; a limit below one hook run's requests would fail deployments.
  const floor = HOOK_MAX_CHAT_REQUESTS;
  if (!Token.isUnresolved(o.chatRateLimit) && (!Number.isInteger(o.chatRateLimit) || o.chatRateLimit < floor || o.chatRateLimit > 2_000_000_000)) {
    throw new Error(
      `${o.path}: wafChatRateLimit: must be an integer from ${floor} (the green-light hook's chat requests per run) to 2000000000, got ${o.chatRateLimit}`,
    );
  }
  const window = o.rateLimitWindow.toSeconds();
  if (!EVALUATION_WINDOWS_SECONDS.includes(window)) {
    throw new Error(`${o.path}: wafRateLimitWindow: must be 1, 2, 5 or 10 minutes, got ${window} seconds`);
  }
  if (!Number.isInteger(o.maxBodyBytes) || o.maxBodyBytes < 1) {
    throw new Error(`${o.path}: maxBodyBytes: must be a positive integer, got ${o.maxBodyBytes}`);
  }
}

/**
 * A regular expression matching exactly the decimal integers (leading zeros allowed) greater
 * than `n`: any number with more significant digits, or as many digits and larger at the first
 * digit where it differs. Hand-written: WAF has no numeric comparison of a header's value.
 */
export function integerAbove(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`integerAbove: expected a non-negative integer, got ${n}`);
  const digits = String(n);
  const alternatives = [`[1-9][0-9]{${digits.length},}`];
  for (let i = 0; i < digits.length; i++) {
    const d = Number(digits[i]);
    if (d === 9) continue;
    const rest = digits.length - i - 1;
    alternatives.push(`${digits.slice(0, i)}[${d + 1}-9]${rest > 0 ? `[0-9]{${rest}}` : ''}`);
  }
  return `^0*(${alternatives.join('|')})$`;
}
