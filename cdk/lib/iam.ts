import { Lazy, Stack, type IAspect, aws_iam as iam } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * The explicit actions each wildcard action that CDK's own grants write (bucket grants of the
 * pipeline and CodeBuild) stands for, cut down to what CodePipeline, its actions and CodeBuild
 * use on the artifact bucket. Deleting artifacts is never needed, so `s3:DeleteObject*` maps to
 * nothing.
 */
const EXPANSIONS: Readonly<Record<string, readonly string[]>> = {
  's3:GetObject*': ['s3:GetObject', 's3:GetObjectVersion'],
  's3:GetBucket*': ['s3:GetBucketLocation', 's3:GetBucketVersioning', 's3:GetBucketAcl'],
  's3:List*': ['s3:ListBucket'],
  's3:DeleteObject*': [],
  's3:Abort*': ['s3:AbortMultipartUpload'],
};

type Statement = { Effect?: string; Action?: string | string[]; [key: string]: unknown };

/** Rewrites the Allow statements of a resolved policy document to explicit actions only. */
export function explicitActions(document: unknown, where: string): unknown {
  if (!document || typeof document !== 'object') return document;
  const doc = document as { Statement?: Statement[] };
  if (!Array.isArray(doc.Statement)) return document;
  const statements: Statement[] = [];
  for (const statement of doc.Statement) {
    if (statement.Effect !== 'Allow' || statement.Action === undefined) {
      statements.push(statement);
      continue;
    }
    const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
    const explicit: string[] = [];
    for (const action of actions) {
      if (typeof action !== 'string' || !action.includes('*')) {
        explicit.push(action);
        continue;
      }
      const expansion = EXPANSIONS[action];
      if (!expansion) {
        throw new Error(`${where}: wildcard action '${action}' has no explicit expansion (lib/iam.ts); grant explicit actions instead`);
      }
      explicit.push(...expansion);
    }
    const unique = [...new Set(explicit)];
    if (unique.length === 0) continue;
    statements.push({ ...statement, Action: unique.length === 1 ? unique[0] : unique });
  }
  return { ...doc, Statement: statements };
}

/**
 * Replaces every wildcard action (e.g. `s3:GetObject*`) in the IAM policies under the scope it
 * is applied to with explicit actions. It rewrites the final, resolved document, so statements
 * that constructs add late (during synthesis) are covered too; an unknown wildcard fails synth.
 */
export class ExplicitIamActions implements IAspect {
  /**
   * @param userOwned roles whose policies are left as written: the roles a construct exposes for
   *        its users' grants (a user's `grant*` must never be rewritten or fail the synth)
   */
  constructor(private readonly userOwned: readonly IConstruct[] = []) {}

  public visit(node: IConstruct): void {
    if (!(node instanceof iam.CfnPolicy)) return;
    if (this.userOwned.some((owner) => node.node.path.startsWith(`${owner.node.path}/`))) return;
    if ((node as { __greenlightExplicit?: boolean }).__greenlightExplicit) return;
    (node as { __greenlightExplicit?: boolean }).__greenlightExplicit = true;
    const original: unknown = node.policyDocument;
    const stack = Stack.of(node);
    node.policyDocument = Lazy.any({
      produce: () => explicitActions(stack.resolve(original), node.node.path),
    });
  }
}

/**
 * The resource of an IAM statement as cdk-nag names it in a finding id
 * (`AwsSolutions-IAM5[Resource::<this>]`): intrinsics become `<LogicalId>` / `<LogicalId.Attr>`.
 */
export function nagResource(scope: IConstruct, value: string): string {
  return render(Stack.of(scope).resolve(value));
}

function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.Ref === 'string') return `<${o.Ref}>`;
    const getAtt = o['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${String(getAtt[0])}.${String(getAtt[1])}>`;
    const join = o['Fn::Join'];
    if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
      return (join[1] as unknown[]).map(render).join(join[0]);
    }
  }
  throw new Error(`nagResource: cannot name ${JSON.stringify(value)}`);
}
