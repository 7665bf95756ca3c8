// The daemons must not load @kubernetes/client-node at runtime: its module graph alone costs a
// process ~70 MB of RSS (issue #6: speaker RSS <= 100 MB). Type-only imports of its models are
// free (erased); only the kubeconfig fallback (exec, auth-provider, proxy-url) may import it.
// This runs the CLI's module graph (everything `herald speaker` loads, plus the lazily imported
// announcers) in a child process with a resolve hook that records every module loaded.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

const HOOK = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.HERALD_MODULE_LOG, r.url + '\\n');
  return r;
}`;

/** URLs of every module resolved while importing `modules` (paths relative to the repository). */
async function loadedModules(modules: string[], after = ''): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-graph-'));
  const log = join(dir, 'modules.log');
  try {
    const script = [
      `import { register } from 'node:module';`,
      `register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)});`,
      ...modules.map((m, i) => `const m${i} = await import(${JSON.stringify(join(root, m))});`),
      after,
    ].join('\n');
    await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: { ...process.env, HERALD_MODULE_LOG: log } });
    return readFileSync(log, 'utf8').split('\n').filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CLIENT_NODE = '/node_modules/@kubernetes/client-node/';

describe('runtime import graph', () => {
  it('herald (all subcommands), the speaker announcers and every kube/ module load without client-node', async () => {
    const urls = await loadedModules(['cli/program.ts', 'speaker/layer2-announcer.ts', 'speaker/bgp-announcer.ts', 'kube/config.ts', 'kube/status.ts', 'kube/lease.ts', 'kube/events.ts', 'kube/endpoints.ts', 'kube/informers.ts']);
    expect(urls.some((u) => u.includes('/node_modules/commander/'))).toBe(true); // the hook sees packages
    expect(urls.some((u) => u.endsWith('/speaker/speaker.ts'))).toBe(true);
    expect(urls.filter((u) => u.includes(CLIENT_NODE))).toEqual([]);
  }, 60_000);

  it('the hook does see client-node when the fallback loads it (control)', async () => {
    const urls = await loadedModules(['kube/client-node-access.ts'], `await new m0.ClientNodeAccess('/nonexistent', { server: 'https://192.0.2.1' }, 'test').applyToHTTPSOptions({}).catch(() => undefined);`);
    expect(urls.some((u) => u.includes(CLIENT_NODE))).toBe(true);
  }, 60_000);
});
