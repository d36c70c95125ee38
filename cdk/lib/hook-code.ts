import * as fs from 'node:fs';
import * as path from 'node:path';
import { aws_lambda as lambda } from 'aws-cdk-lib';

/** The package's own name: its root holds `assets/hook/bootstrap`. */
const PACKAGE_NAME = 'greenlight-cdk';

/** The package root: the nearest directory above this file whose package.json is this package's. */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) {
      return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`${PACKAGE_NAME}: cannot find the package root above ${__dirname}`);
  }
}

/**
 * The hook the package ships: `assets/hook/bootstrap`, the static x86_64 musl build of
 * `greenlight-hook` that CI builds and packs (never committed). A checkout of the repository
 * has none until `scripts/ci/package.sh` ran; its app passes `hookCode` built from source.
 */
export function prebuiltHookCode(): lambda.Code {
  const dir = path.join(packageRoot(), 'assets', 'hook');
  if (!fs.existsSync(path.join(dir, 'bootstrap'))) {
    throw new Error(`${PACKAGE_NAME}: the prebuilt hook ${path.join(dir, 'bootstrap')} is missing (a repository checkout: pass hookCode, or run scripts/ci/package.sh)`);
  }
  return lambda.Code.fromAsset(dir);
}
