// The green-light hook built from this repository's source (runtime/hook), for this repository's
// app and tests. Library users get the prebuilt hook the package ships instead.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, DockerImage, aws_lambda as lambda } from 'aws-cdk-lib';

const ROOT = path.join(__dirname, '..', '..');
/** A static binary: no glibc to match against Lambda's provided.al2023 runtime. */
export const HOOK_TARGET = 'x86_64-unknown-linux-musl';
/** The command that builds the hook (also what CI runs to make the package's prebuilt asset). */
export const HOOK_BUILD = ['build', '--locked', '--release', '--target', HOOK_TARGET, '-p', 'greenlight-hook'];

function run(command: string, args: string[]): { ok: boolean; status: number | null; missing: boolean } {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: ['ignore', process.stderr, process.stderr] });
  const error: NodeJS.ErrnoException | undefined = result.error;
  const missing = error?.code === 'ENOENT';
  return { ok: result.status === 0, status: result.status, missing };
}

/**
 * What building the hook needs that may be missing, as one line naming the fix; undefined when
 * cargo (and, through rustup, the target) is there. bin/greenlight.ts checks it before synth.
 */
export function missingHookToolchain(): string | undefined {
  if (run('cargo', ['--version']).missing) {
    return 'cdk synth builds the green-light hook with cargo, which is not installed: install Rust (https://rustup.rs), or synth the template alone with GREENLIGHT_SKIP_BUNDLING=1';
  }
  return undefined;
}

/**
 * Builds the hook with cargo at synth time (as `cdk deploy` bundles it) into the asset's
 * `bootstrap`. Never falls back to Docker: anything missing stops the synth with one line naming
 * the fix. A synth that skips bundling (`GREENLIGHT_SKIP_BUNDLING=1`, unit tests) builds nothing.
 */
export function hookCodeFromSource(): lambda.Code {
  return lambda.Code.fromAsset(path.join(ROOT, 'runtime', 'hook'), {
    // The hash of the built bootstrap: fingerprinting the source would walk the crate only.
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the API; never used, since local bundling either succeeds or throws.
      image: DockerImage.fromRegistry('greenlight/hook-is-built-locally'),
      local: {
        tryBundle(outputDir: string): boolean {
          const missing = missingHookToolchain();
          if (missing) throw new Error(missing);
          const rustup = spawnSync('rustup', ['target', 'list', '--installed'], { cwd: ROOT, encoding: 'utf8' });
          if (rustup.status === 0 && !rustup.stdout.split('\n').includes(HOOK_TARGET) && !run('rustup', ['target', 'add', HOOK_TARGET]).ok) {
            throw new Error(`cdk synth needs the Rust target ${HOOK_TARGET} for the hook: run 'rustup target add ${HOOK_TARGET}'`);
          }
          const build = run('cargo', HOOK_BUILD);
          if (!build.ok) {
            throw new Error(`building the green-light hook failed ('cargo ${HOOK_BUILD.join(' ')}' exited with ${build.status}; on Debian/Ubuntu install musl-tools for its C code)`);
          }
          const targetDir = path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
          fs.copyFileSync(path.join(targetDir, HOOK_TARGET, 'release', 'greenlight-hook'), path.join(outputDir, 'bootstrap'));
          fs.chmodSync(path.join(outputDir, 'bootstrap'), 0o755);
          return true;
        },
      },
    },
  });
}
