// The speaker's BGP side as `herald speaker --bgp-listen` wires it (BgpAnnouncer + openListener),
// without Kubernetes: run by test/lab/bgp-listen.test.ts inside a lab namespace (node --import tsx).
// Argument: JSON { config (MetalLB legacy YAML), listen ("[ADDRESS][:PORT]"), node, labels,
// balancers: [{ name, ips, pool }] }. JSON log lines on stdout; SIGTERM withdraws and exits 0.
import { parseConfig } from '../../config/parse.js';
import { createLogger } from '../../kube/log.js';
import { openListener, parseListenAddress } from '../../protocols/bgp/listener.js';
import { BgpAnnouncer } from '../../speaker/bgp-announcer.js';

interface Spec {
  config: string;
  listen: string;
  node: string;
  labels: Record<string, string>;
  balancers: Array<{ name: string; ips: string[]; pool: string }>;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const log = createLogger({ component: 'bgp', level: 'debug' }).child({ node: spec.node });
const config = parseConfig(spec.config);
const listener = await openListener(parseListenAddress(spec.listen), { log });
log.info({ event: 'bgpListening', reason: `${listener.address}:${listener.port}` }, 'listening');
const announcer = new BgpAnnouncer({ decide: () => null, node: spec.node, log, listener });
announcer.start();
announcer.nodeLabelsChanged(spec.labels);
announcer.setConfig(config);
for (const b of spec.balancers) {
  const pool = config.pools.find((p) => p.name === b.pool);
  if (!pool) throw new Error(`no pool ${b.pool}`);
  announcer.setBalancer(b.name, b.ips, pool);
}
process.once('SIGTERM', () => {
  void announcer.shutdown().then(() => process.exit(0));
});
