// Test-cluster figures: the first (uncached) kube-apiserver build, as recorded by the build script
// next to the cached binary, and the start time of a cluster once the binary is cached.
// HERALD_BENCH_REBUILD=1 measures a fresh build into a temporary cache instead (several minutes).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKubeApiserver, TestCluster } from '../cluster/cluster.js';

const quiet = (): void => undefined;

function firstBuildSeconds(bin: string): number | undefined {
  if (process.env.HERALD_BENCH_REBUILD === '1') {
    const cache = mkdtempSync(join(tmpdir(), 'herald-bench-build-'));
    try {
      const t0 = performance.now();
      const script = join(dirname(fileURLToPath(import.meta.url)), '..', 'cluster', 'build-kube-apiserver.sh');
      const r = spawnSync('bash', [script], { env: { ...process.env, HERALD_CACHE_DIR: cache }, stdio: ['ignore', 'ignore', 'inherit'] });
      if (r.status !== 0) throw new Error('fresh build failed');
      return (performance.now() - t0) / 1000;
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
  const rec = `${bin}.build-seconds`;
  if (!existsSync(rec)) return undefined;
  return Number(readFileSync(rec, 'utf8').split(' ')[0]);
}

const bin = await ensureKubeApiserver(quiet);
const build = firstBuildSeconds(bin);
if (build === undefined) process.stdout.write(`# cluster.build.first.seconds: not recorded for ${bin}\n`);
else process.stdout.write(`cluster.build.first.seconds ${build.toFixed(0)}\n`);

const starts: number[] = [];
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  const c = await TestCluster.start({ log: quiet });
  starts.push((performance.now() - t0) / 1000);
  await c.stop();
}
starts.sort((a, b) => a - b);
process.stdout.write(`cluster.start.cached.median.seconds ${starts[1].toFixed(2)}\n`);
