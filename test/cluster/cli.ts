// `make cluster-up` / `make cluster-down`: a test cluster that outlives the command, for the lab,
// debugging and manual use. The state of the running cluster is kept in HERALD_CLUSTER_STATE
// (default /tmp/herald-cluster.json); only one such cluster runs at a time.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { ClusterError, stopClusterFromState, TestCluster, type ClusterState } from './cluster.js';

const statePath = process.env.HERALD_CLUSTER_STATE ?? '/tmp/herald-cluster.json';

async function up(): Promise<void> {
  if (existsSync(statePath)) {
    const s = JSON.parse(readFileSync(statePath, 'utf8')) as ClusterState;
    if (existsSync(s.kubeconfig)) {
      process.stderr.write(`cluster-up: already running (${s.server}); make cluster-down first to replace it\n`);
      process.stdout.write(`KUBECONFIG=${s.kubeconfig}\n`);
      return;
    }
  }
  const listenAddress = process.env.HERALD_CLUSTER_ADDRESS;
  const cluster = await TestCluster.start({ detached: true, ...(listenAddress ? { listenAddress } : {}) });
  writeFileSync(statePath, `${JSON.stringify(cluster.state(), null, 2)}\n`);
  process.stdout.write(`KUBECONFIG=${cluster.kubeconfig}\n`);
}

async function down(): Promise<void> {
  if (!existsSync(statePath)) {
    process.stderr.write('cluster-down: no cluster running\n');
    return;
  }
  const s = JSON.parse(readFileSync(statePath, 'utf8')) as ClusterState;
  await stopClusterFromState(s);
  rmSync(statePath, { force: true });
  process.stderr.write(`cluster-down: stopped ${s.server}\n`);
}

// Exit (running the cluster's exit hook, which kills what was started so far) on Ctrl-C or SIGTERM.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

const cmd = process.argv[2];
try {
  if (cmd === 'up') await up();
  else if (cmd === 'down') await down();
  else throw new ClusterError(`usage: cli.ts up|down (got ${cmd ?? 'nothing'})`);
} catch (err) {
  process.stderr.write(`cluster ${cmd ?? ''}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
