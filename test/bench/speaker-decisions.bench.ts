// Benchmark: the speaker's pure decision core at 10,000 Services: one full layer2 resync (every
// Service's owner decision) for 3 and 100 live speakers, hashing every time (the peer) and with the
// RankingCache after a membership change (a speaker died);
// building and tearing down the BGP route table with host routes and with everything aggregated
// into one prefix; and the heap the route table holds. VIPs are 198.18.0.0/15 payload only.
// Run with `tsx --expose-gc`.
import type { AddressPool, BgpAdvertisement } from '../../config/model.js';
import { serviceRoutes, type BgpRoute } from '../../speaker/bgp-advertisements.js';
import { BgpRouteTable } from '../../speaker/bgp-route-table.js';
import { layer2Decision, RankingCache } from '../../speaker/layer2-owner.js';
import type { EndpointsView, ServiceView } from '../../speaker/service-view.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (make bench does)');

const N = 10_000;
const vip = (i: number) => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const services: ServiceView[] = [];
for (let i = 0; i < N; i++) services.push({ key: `ns/svc-${i}`, ips: [vip(i)], pool: 'p', externalTrafficPolicy: i % 2 ? 'Local' : 'Cluster' });

function endpointsOn(nodes: string[], i: number): EndpointsView {
  return { readyByNode: new Map([[nodes[i % nodes.length], 1]]) };
}

/** Best of `runs` timings of fn, in seconds. */
function best(runs: number, fn: () => void): number {
  let min = Infinity;
  for (let r = 0; r < runs; r++) {
    gc!();
    const t0 = process.hrtime.bigint();
    fn();
    min = Math.min(min, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return min;
}

function print(name: string, value: number): void {
  console.log(`${name} ${value.toPrecision(3)}`);
}

for (const speakers of [3, 100]) {
  const nodes = Array.from({ length: speakers }, (_, i) => `node-${i}`);
  const eps = services.map((_, i) => endpointsOn(nodes, i));
  const selected = () => true;
  let owned = 0;
  const uncached = best(3, () => {
    owned = 0;
    for (let i = 0; i < N; i++) {
      if (layer2Decision(services[i], eps[i], { self: 'node-0', liveSpeakers: nodes, nodeSelected: selected, fenced: false }) === null) owned++;
    }
  });
  if (owned === 0) throw new Error('node-0 owns nothing: the benchmark is not measuring decisions');
  const ranking = new RankingCache();
  const all = new Set(nodes);
  for (let i = 0; i < N; i++) layer2Decision(services[i], eps[i], { self: 'node-0', liveSpeakers: all, nodeSelected: selected, fenced: false, ranking });
  const afterDeath = new Set(nodes.slice(0, -1));
  let ownedCached = 0;
  const cached = best(3, () => {
    ownedCached = 0;
    for (let i = 0; i < N; i++) {
      if (layer2Decision(services[i], eps[i], { self: 'node-0', liveSpeakers: afterDeath, nodeSelected: selected, fenced: false, ranking }) === null) ownedCached++;
    }
  });
  if (ownedCached < owned) throw new Error('node-0 lost Services when another speaker died');
  print(`speaker.layer2_resync_hashing.10k_services.${speakers}_speakers.seconds`, uncached);
  print(`speaker.layer2_resync_cached_after_node_death.10k_services.${speakers}_speakers.seconds`, cached);
}

/** Heap held by a table of every Service's routes (the routes themselves excluded: measured before). */
function heapOfTable(routes: BgpRoute[][]): number {
  gc!();
  const before = process.memoryUsage().heapUsed;
  const kept = new BgpRouteTable();
  for (let i = 0; i < N; i++) kept.set(services[i].key, routes[i]);
  gc!();
  const used = process.memoryUsage().heapUsed - before;
  if (kept.size === 0) throw new Error('empty table');
  return used;
}

const adHost: BgpAdvertisement = { aggregationLength: 32, aggregationLengthV6: 128, localPref: 100, communities: [{ kind: 'standard', value: 0xfde80064 }] };
const adAgg: BgpAdvertisement = { ...adHost, aggregationLength: 15 };
const pool = (ad: BgpAdvertisement): AddressPool => ({ name: 'p', protocol: 'bgp', addresses: [], avoidBuggyIps: false, autoAssign: true, bgpAdvertisements: [ad] });

for (const [label, ad] of [['host_routes', adHost], ['one_aggregate', adAgg]] as const) {
  let routes: BgpRoute[][] = [];
  const compute = best(5, () => {
    routes = services.map((s) => serviceRoutes(s.ips, pool(ad)));
  });
  let table = new BgpRouteTable();
  const expectedSize = label === 'host_routes' ? N : 1;
  const build = best(5, () => {
    table = new BgpRouteTable();
    for (let i = 0; i < N; i++) table.set(services[i].key, routes[i]);
  });
  const teardown = best(1, () => {
    for (let i = 0; i < N; i++) table.delete(services[i].key);
  });
  if (table.size !== 0) throw new Error('table not empty after teardown');
  table = new BgpRouteTable();
  for (let i = 0; i < N; i++) table.set(services[i].key, routes[i]);
  if (table.size !== expectedSize) throw new Error(`unexpected table size ${table.size}`);
  table = new BgpRouteTable();
  const heap = heapOfTable(routes);
  print(`speaker.bgp_service_routes.10k_services.${label}.seconds`, compute);
  print(`speaker.bgp_route_table_build.10k_services.${label}.seconds`, build);
  print(`speaker.bgp_route_table_teardown.10k_services.${label}.seconds`, teardown);
  print(`speaker.bgp_route_table_heap.10k_services.${label}.megabytes`, heap / 1e6);
}
