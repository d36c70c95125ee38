import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explicitActions } from '../lib/iam';

describe('explicitActions', () => {
  it('expands the bucket-grant wildcards to explicit actions and drops deletes', () => {
    const doc = explicitActions(
      {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['s3:GetObject*', 's3:List*', 's3:DeleteObject*', 's3:PutObject'], Resource: 'arn:aws:s3:::b/*' },
          { Effect: 'Allow', Action: 's3:DeleteObject*', Resource: 'arn:aws:s3:::b/*' },
        ],
      },
      'test',
    ) as { Statement: Array<{ Action: string | string[] }> };
    assert.deepEqual(doc.Statement, [
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket', 's3:PutObject'], Resource: 'arn:aws:s3:::b/*' },
    ]);
  });

  it('leaves Deny statements (e.g. the SSL-only s3:*) alone', () => {
    const deny = { Effect: 'Deny', Action: 's3:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } };
    assert.deepEqual(explicitActions({ Statement: [deny] }, 'test'), { Statement: [deny] });
  });

  it('fails on a wildcard it has no expansion for, naming the policy', () => {
    assert.throws(
      () => explicitActions({ Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }] }, 'Stack/Role/Policy'),
      /Stack\/Role\/Policy: wildcard action 'ec2:\*' has no explicit expansion/,
    );
  });
});
