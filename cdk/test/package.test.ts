// The package's metadata: versioned with the project, shipping what the constructs load.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const CDK = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(CDK, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  main: string;
  types: string;
  files: string[];
  peerDependencies: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies: Record<string, string>;
  jsii: { targets: { python: { distName: string; module: string } } };
};

describe('the greenlight-cdk package', () => {
  it('has the version of the Cargo workspace, with a changelog entry', () => {
    const cargo = fs.readFileSync(path.join(CDK, '..', 'Cargo.toml'), 'utf8');
    const version = /^\[workspace\.package\][^[]*?^version = "([^"]+)"/ms.exec(cargo)?.[1];
    assert.equal(pkg.version, version);
    assert.match(fs.readFileSync(path.join(CDK, 'CHANGELOG.md'), 'utf8'), new RegExp(`^## ${pkg.version.replace(/\./g, '\\.')}\\b`, 'm'));
  });

  it('ships the compiled library, the assembly and the prebuilt hook', () => {
    assert.equal(pkg.main, 'build/lib/index.js');
    assert.equal(pkg.types, 'build/lib/index.d.ts');
    for (const file of ['.jsii', 'assets/hook/bootstrap', 'CHANGELOG.md', 'README.md']) assert.ok(pkg.files.includes(file), file);
    // lib/hook-code.ts finds the package root by this name.
    assert.match(fs.readFileSync(path.join(CDK, 'lib', 'hook-code.ts'), 'utf8'), new RegExp(`PACKAGE_NAME = '${pkg.name}'`));
  });

  it('takes aws-cdk-lib and constructs as peers, and nothing at run time besides', () => {
    assert.deepEqual(Object.keys(pkg.peerDependencies).sort(), ['aws-cdk-lib', 'constructs']);
    assert.equal(pkg.dependencies, undefined);
    for (const [name, range] of Object.entries(pkg.peerDependencies)) {
      const dev = pkg.devDependencies[name];
      assert.ok(dev && range.startsWith('^') && dev.split('.')[0] === range.slice(1).split('.')[0], `${name}: dev ${dev} within ${range}`);
    }
    assert.deepEqual(pkg.jsii.targets.python, { distName: 'greenlight-cdk', module: 'greenlight_cdk' });
  });
});
