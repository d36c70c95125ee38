// The hook Lambda as `cdk synth` really bundles it (bin/hook-from-source.ts running cargo for the
// static musl target). The unit tests skip bundling; scripts/ci/cdk.sh runs a bundling synth and
// then this file on its cloud assembly (GREENLIGHT_CDK_OUT).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const out = process.env.GREENLIGHT_CDK_OUT ?? path.join(__dirname, '..', '..', 'cdk.out');
/**
 * The bootstrap's size bound. Cold starts load the whole zip, so it must stay small; the measured
 * size is in BENCHMARKS.md, and this bound is there to catch a dependency that balloons it.
 */
const MAX_BOOTSTRAP_BYTES = 16 * 1024 * 1024;

type Resource = { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, string> };

describe('the bundled green-light hook', () => {
  const template = JSON.parse(fs.readFileSync(path.join(out, 'Greenlight.template.json'), 'utf8')) as {
    Resources: Record<string, Resource>;
  };
  const hooks = Object.values(template.Resources).filter(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Runtime === 'provided.al2023',
  );
  assert.equal(hooks.length, 1, 'one Rust Lambda in the template');
  const [hook] = hooks;
  const assetPath = hook.Metadata?.['aws:asset:path'];
  assert.ok(assetPath, 'the hook has an asset');
  const bootstrap = path.join(out, assetPath, 'bootstrap');

  it('is what the template deploys', () => {
    const code = hook.Properties.Code as { S3Key: unknown };
    const hash = assetPath.replace(/^asset\./, '');
    assert.equal(code.S3Key, `${hash}.zip`);
    assert.deepEqual(fs.readdirSync(path.join(out, assetPath)), ['bootstrap']);
  });

  it('is an x86-64 ELF executable of bounded size', (t) => {
    const stat = fs.statSync(bootstrap);
    assert.ok(stat.mode & 0o111, 'bootstrap is executable');
    assert.ok(stat.size < MAX_BOOTSTRAP_BYTES, `bootstrap is ${stat.size} bytes`);
    const header = Buffer.alloc(20);
    const fd = fs.openSync(bootstrap, 'r');
    fs.readSync(fd, header, 0, header.length, 0);
    fs.closeSync(fd);
    assert.deepEqual([...header.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'ELF magic');
    assert.equal(header[4], 2, '64-bit');
    assert.equal(header.readUInt16LE(18), 62, 'e_machine x86-64 (the function is x86_64)');
    t.diagnostic(`bootstrap: ${stat.size} bytes`);
  });

  it('is statically linked: no dynamic loader, so no glibc to match with provided.al2023', () => {
    const headers = execFileSync('readelf', ['-lW', bootstrap], { encoding: 'utf8' });
    assert.ok(!headers.includes('program interpreter'), 'bootstrap asks for a dynamic loader');
  });
});
