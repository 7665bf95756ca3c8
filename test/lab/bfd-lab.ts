// The full lab set up for BFD with BGP (e2e-bfd.ts and test/bench/bgp-failover.bench.ts): the
// ConfigMap gives the router peer `bfd-profile: default` (MetalLB's 300 ms x 3) and hold-time 9 s;
// the router runs BFD for node1 and node2 only, so node3's BFD session never comes up and its BGP
// session runs on the hold timer alone: the same run measures BGP with and without BFD.
import { readFileSync } from 'node:fs';
import { eventually } from './eventually.js';
import { BGP_POOL, NODE_AS, NODES, ROUTER_AS, type FullLab, type NodeName } from './full-lab.js';
import { configMapYaml, createService, tail } from './full-kube.js';
import { routerHops } from './full-router.js';
import { configureRouter, routerNeighbor, type WireNeighbor } from './wire-router.js';

export const HOLD_S = 9;
export const BFD_NODES: readonly NodeName[] = ['node1', 'node2'];

/** Lines of a speaker's log with this event (parsed). */
export function logEvents(lab: FullLab, node: NodeName, event: string): Array<Record<string, unknown>> {
  return readFileSync(lab.logPath(`speaker-${node}`), 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The router's neighbors: every node, BFD for BFD_NODES. */
export function bfdNeighbors(lab: FullLab): WireNeighbor[] {
  return NODES.map((n) => ({ name: n, local: lab.host('router').ipv4, remote: lab.host(n).ipv4, remoteAs: NODE_AS, bfd: BFD_NODES.includes(n) }));
}

export async function allEstablished(lab: FullLab, timeoutMs = 60_000): Promise<void> {
  await eventually('every node Established at the router', async () => (await Promise.all(bfdNeighbors(lab).map((n) => routerNeighbor(lab, n)))).every((r) => r.state === 'Established'), timeoutMs).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\nspeaker-node1:\n${tail(lab.logPath('speaker-node1'), 20)}`);
  });
}

/** The router holds `vip` via every node. */
export async function allHops(lab: FullLab, vip: string, timeoutMs = 60_000): Promise<void> {
  const want = NODES.map((n) => lab.host(n).ipv4).sort().join();
  await eventually(`${vip} via every node`, async () => (await routerHops(lab, vip)).join() === want, timeoutMs);
}

/** BFD Up on the speakers of `nodes` (their logs), after log line index `from` per node. */
export async function bfdUp(lab: FullLab, nodes: readonly NodeName[], from: Record<string, number> = {}, timeoutMs = 60_000): Promise<void> {
  await eventually(`BFD Up on ${nodes.join(', ')}`, async () => nodes.every((n) => logEvents(lab, n, 'bfdState').slice(from[n] ?? 0).some((e) => e.to === 'Up')), timeoutMs);
}

/**
 * Ready for the next failure after one on `node`: its BFD Up again (logged after `from`), then `present`
 * (the router has the path via every node) true and still true `steadyMs` later, polled, else waited
 * for again. In that order because a speaker restarted within the router's Detection Time gets its new
 * BGP session Established while the router's BFD session to the old process is still Up (the router
 * ignores the new session's packets, Your Discriminator 0, until then: RFC 5880 §6.8.6): the router
 * drops that BGP session once when the old BFD session expires, and only then can our new one come
 * Up. A path seen before our BFD is Up may be about to go; one still there a moment after it stays.
 */
export async function bfdSettled(lab: FullLab, node: NodeName, from: number, present: () => Promise<boolean>, timeoutMs = 60_000, steadyMs = 1500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await bfdUp(lab, [node], { [node]: from }, timeoutMs);
  for (;;) {
    await eventually('the path via every node', present, Math.max(deadline - Date.now(), 1000), 50);
    const since = Date.now();
    let steady = true;
    while (steady && Date.now() - since < steadyMs) {
      await new Promise((r) => setTimeout(r, 100));
      steady = await present();
    }
    if (steady) return;
    if (Date.now() > deadline) throw new Error(`the path via every node came and went for ${timeoutMs} ms after ${node}'s BFD was Up`);
  }
}

/** ConfigMap and router for BFD, one BGP Service; resolves with its VIP once every node's path and BFD are up. */
export async function setupBfdLab(lab: FullLab, namespace: string): Promise<string> {
  await lab.kubectl(['create', 'namespace', namespace]);
  const config = [
    'bfd-profiles:',
    '- name: default',
    'peers:',
    `- peer-address: ${lab.host('router').ipv4}`,
    `  peer-asn: ${ROUTER_AS}`,
    `  my-asn: ${NODE_AS}`,
    `  hold-time: ${HOLD_S}s`,
    '  bfd-profile: default',
    'address-pools:',
    '- name: routed',
    '  protocol: bgp',
    `  addresses: [${BGP_POOL}]`,
    '',
  ].join('\n');
  await lab.kubectl(['apply', '-f', '-'], configMapYaml(config));
  await configureRouter(lab, bfdNeighbors(lab));
  await allEstablished(lab);
  const [vip] = await createService(lab, namespace, 'bfd', 'routed');
  await allHops(lab, vip);
  await bfdUp(lab, BFD_NODES);
  return vip;
}
