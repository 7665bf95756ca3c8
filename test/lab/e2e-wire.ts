// What the ConfigMap says is what goes on the wire (issue 12, items 4 and 5), through the daemons
// (`herald speaker` reading the ConfigMap from the API server) and checked at the router: BIRD, or
// FRR (e2e-wire.test.ts and e2e-wire-frr.test.ts). One full lab; each scenario replaces the ConfigMap's peers and the router's
// neighbors (the pools stay, so earlier Services stay valid):
//   A. IPv6 VIPs over the IPv4 sessions (MP-BGP AFI 2), next hop the node's global IPv6 address;
//      a node whose interface has none sends only its IPv4 routes and logs why, once.
//   B. ebgp-multihop across a routed hop (the client namespace forwards), TCP-MD5, hold-time,
//      keepalive-time, router-id; then a wrong password and a missing ebgp-multihop keep it down.
//   C. node-selectors, source-address, TTL 1 for direct eBGP, communities, large communities,
//      aggregation, and local-pref on an iBGP peer.
//   D. dynamic-asn (issue 18): external towards the router, internal towards an iBGP address; the
//      AS is learned from the OPEN (speakers' logs) and the routes go as eBGP / iBGP.
import { mkdtempSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FullLab, NODE_AS, NODES, ROUTER_AS, BGP_POOL, type NodeName } from './full-lab.js';
import { configMapYaml, createService, tail, BGP_POOL_V6 } from './full-kube.js';
import { BGP_NET_V6, routerHops } from './full-router.js';
import { curlFromClient, labUp } from './full-setup.js';
import { captureAtRouter, configureRouter, routerNeighbor, routerPaths, type RouterNeighbor, type WireNeighbor } from './wire-router.js';
import { eventually } from './eventually.js';
import { describeLab } from './netns.js';

const NS = 'e2e-wire';
/** The multihop peer: on the router's loopback, reached from the nodes through the client namespace. */
const MULTIHOP_PEER = '198.51.100.1';
/** The router's extra addresses on the link, one per scenario-C peer. */
const SELECTED_PEER = '192.0.2.31';
const SOURCE_PEER = '192.0.2.32';
const IBGP_PEER = '192.0.2.33';
/** node1's second address, the source-address of the SOURCE_PEER session. */
const NODE1_SECOND = '192.0.2.112';
const AGG_POOL = '203.0.113.48/28';
const PREF_POOL = '203.0.113.64/28';

/** The scenarios against one router kind: e2e-wire.test.ts runs them with BIRD, e2e-wire-frr.test.ts with FRR. */
export function describeWire(ROUTER: 'bird' | 'frr'): void {
  describeLab(`ConfigMap to the wire through herald speaker (router: ${ROUTER})`, () => {
    let lab: FullLab;
    let dir: string;
    const timings: string[] = [];

    /** The pools every scenario keeps; only the peers change. */
    function config(peers: string[]): string {
      return [
        'peers:',
        ...peers,
        'address-pools:',
        '- name: routed',
        '  protocol: bgp',
        `  addresses: [${BGP_POOL}]`,
        '- name: routed6',
        '  protocol: bgp',
        `  addresses: [${BGP_POOL_V6}]`,
        '- name: agg',
        '  protocol: bgp',
        `  addresses: [${AGG_POOL}]`,
        '  bgp-advertisements:',
        '  - aggregation-length: 28',
        '    communities: ["64513:100", "64513:1:2"]',
        '- name: pref',
        '  protocol: bgp',
        `  addresses: [${PREF_POOL}]`,
        '  bgp-advertisements:',
        '  - localpref: 250',
        '    communities: ["64513:200"]',
        '',
      ].join('\n');
    }

    const peer = (address: string, fields: Record<string, string | number | boolean> = {}, node?: NodeName): string =>
      [
        `- peer-address: ${address}`,
        ...Object.entries({ 'peer-asn': ROUTER_AS, 'my-asn': NODE_AS, ...fields }).map(([k, v]) => `  ${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}`),
        ...(node ? ['  node-selectors:', '  - match-labels:', `      kubernetes.io/hostname: ${node}`] : []),
      ].join('\n');

    async function apply(peers: string[], neighbors: WireNeighbor[]): Promise<void> {
      await lab.kubectl(['apply', '-f', '-'], configMapYaml(config(peers)));
      await configureRouter(lab, neighbors);
    }

    async function established(neighbors: readonly WireNeighbor[], timeoutMs = 60_000): Promise<RouterNeighbor[]> {
      let last: RouterNeighbor[] = [];
      await eventually(
        `${neighbors.map((n) => n.name).join(', ')} Established at the router`,
        async () => {
          last = await Promise.all(neighbors.map((n) => routerNeighbor(lab, n)));
          return last.every((r) => r.state === 'Established');
        },
        timeoutMs,
      ).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\n${last.map((r) => r.raw).join('\n')}\nspeaker-node1:\n${tail(lab.logPath('speaker-node1'), 15)}`);
      });
      return last;
    }

    /** None of `neighbors` reaches Established within `ms` (polled). */
    async function staysDown(neighbors: readonly WireNeighbor[], ms: number): Promise<void> {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        for (const n of neighbors) expect((await routerNeighbor(lab, n)).state, `${n.name} must not come up`).not.toBe('Established');
        await new Promise((r) => setTimeout(r, 500));
      }
    }

    async function timed<T>(what: string, f: () => Promise<T>): Promise<T> {
      const t0 = Date.now();
      const v = await f();
      timings.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return v;
    }

    const nodeNeighbors = (prefix: string, local: string, extra: Partial<WireNeighbor> = {}): WireNeighbor[] =>
      NODES.map((n) => ({ name: `${prefix}${n.slice(-1)}`, local, remote: lab.host(n).ipv4, remoteAs: NODE_AS, ...extra }));

    beforeAll(async () => {
      const t0 = Date.now();
      dir = mkdtempSync(join(tmpdir(), 'herald-e2e-wire-'));
      process.once('exit', () => FullLab.destroy(dir));
      const h = await labUp({ prefix: `hw${randomBytes(2).toString('hex')}`, dir, router: ROUTER, log: () => undefined });
      lab = h.lab;
      const router = lab.host('router');
      const client = lab.host('client');
      // The routed hop for the multihop peer: nodes -> client (forwards, no redirects) -> router's loopback.
      await lab.mustExec('router', 'ip', ['addr', 'add', `${MULTIHOP_PEER}/32`, 'dev', 'lo']);
      for (const a of [SELECTED_PEER, SOURCE_PEER, IBGP_PEER]) await lab.mustExec('router', 'ip', ['addr', 'add', `${a}/24`, 'dev', 'eth0']);
      await lab.mustExec('client', 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.eth0.send_redirects=0']);
      await lab.mustExec('client', 'ip', ['route', 'add', `${MULTIHOP_PEER}/32`, 'via', router.ipv4]);
      for (const n of NODES) await lab.mustExec(n, 'ip', ['route', 'add', `${MULTIHOP_PEER}/32`, 'via', client.ipv4]);
      await lab.mustExec('node1', 'ip', ['addr', 'add', `${NODE1_SECOND}/24`, 'dev', 'eth0']);
      // IPv6 forwarding through the router for scenario A (the routes come over the IPv4 sessions).
      await lab.mustExec('router', 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
      await lab.mustExec('client', 'sysctl', ['-qw', 'net.ipv6.conf.all.accept_redirects=0', 'net.ipv6.conf.eth0.accept_redirects=0']);
      await lab.mustExec('client', 'ip', ['-6', 'route', 'replace', BGP_NET_V6, 'via', router.ipv6]);
      await lab.kubectl(['create', 'namespace', NS]);
      timings.push(`lab up: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }, 300_000);

    afterAll(() => {
      process.stderr.write(`e2e-wire (${ROUTER}) timings:\n  ${timings.join('\n  ')}\n`);
      if (dir) FullLab.destroy(dir);
    });

    it('A. IPv6 VIPs over the IPv4 sessions: MP-BGP with each node\'s global IPv6 address as next hop; the client reaches the VIP', async () => {
      const direct = nodeNeighbors('node', lab.host('router').ipv4, { ipv6: true });
      await timed('A sessions', async () => {
        await apply([peer(lab.host('router').ipv4)], direct);
        await established(direct);
      });
      const [vip] = await timed('A route', () => createService(lab, NS, 'v6', 'routed6', { family: 6 }));
      const v6Hops = NODES.map((n) => lab.host(n).ipv6).sort();
      await timed('A router has the /128', () => eventually(`${vip}/128 via the nodes' IPv6 addresses`, async () => (await routerHops(lab, vip)).join() === v6Hops.join(), 60_000));
      // Learned over the IPv4 sessions (the router has no IPv6 neighbor at all).
      const paths = await routerPaths(lab, `${vip}/128`);
      const sessions = ROUTER === 'bird' ? direct.map((n) => n.name) : NODES.map((n) => lab.host(n).ipv4);
      expect(paths.map((p) => p.peer).sort()).toEqual(sessions.sort());
      expect(paths.map((p) => p.nextHop).sort()).toEqual(v6Hops);
      const kernel = JSON.parse(await lab.mustExec('router', 'ip', ['-6', '-j', 'route', 'show', vip])) as Array<{ gateway?: string; nexthops?: Array<{ gateway: string }> }>;
      expect((kernel[0]?.nexthops?.map((x) => x.gateway) ?? [kernel[0]?.gateway]).sort()).toEqual(v6Hops);
      expect(NODES as readonly string[]).toContain(await curlFromClient(lab, vip, 3));

      // node3's interface loses its global IPv6 address: its new session (hold-time changed) carries
      // the IPv4 routes only, and its speaker says why, once.
      const node3 = lab.host('node3');
      const refusals = (): string[] => readFileSync(lab.logPath('speaker-node3'), 'utf8').split('\n').filter((l) => l.includes('"sessionError"') && l.includes('has no global IPv6 address'));
      await lab.mustExec('node3', 'ip', ['-6', 'addr', 'del', `${node3.ipv6}/64`, 'dev', 'eth0']);
      try {
        await timed('A refusal', async () => {
          await lab.kubectl(['apply', '-f', '-'], configMapYaml(config([peer(lab.host('router').ipv4, { 'hold-time': '60s' })])));
          await eventually('the /128 via node1 and node2 only', async () => (await routerHops(lab, vip)).join() === v6Hops.filter((h) => h !== node3.ipv6).join(), 60_000);
          await eventually('node3\'s speaker logs the refusal', async () => refusals().length > 0, 30_000);
        });
        expect(refusals()).toHaveLength(1);
        expect(refusals()[0]).toContain('interface eth0 (carrying the session from 192.0.2.14) has no global IPv6 address');
      } finally {
        await lab.mustExec('node3', 'ip', ['-6', 'addr', 'add', `${node3.ipv6}/64`, 'dev', 'eth0', 'nodad']);
      }
      await timed('A back', async () => {
        await lab.kubectl(['apply', '-f', '-'], configMapYaml(config([peer(lab.host('router').ipv4)])));
        await eventually('the /128 via all three nodes again', async () => (await routerHops(lab, vip)).join() === v6Hops.join(), 60_000);
      });
      expect(refusals()).toHaveLength(1);
    }, 240_000);

    it('B. ebgp-multihop across a routed hop with TCP-MD5, hold-time 9s, keepalive-time 2s, router-id; a wrong password or no multihop keeps it down', async () => {
      const multihop = nodeNeighbors('mh', MULTIHOP_PEER, { multihop: true, password: 'wire-secret' });
      const fields = { 'ebgp-multihop': true, password: 'wire-secret', 'hold-time': '9s', 'keepalive-time': '2s', 'router-id': '198.51.100.77' };
      const up = await timed('B sessions', async () => {
        await apply([peer(MULTIHOP_PEER, fields)], multihop);
        return established(multihop);
      });
      for (const [i, r] of up.entries()) {
        expect(r.routerId).toBe('198.51.100.77');
        expect(r.holdTime).toBe(9);
        expect(r.local).toBe(MULTIHOP_PEER);
        expect(r.remote).toBe(lab.host(NODES[i]).ipv4);
      }
      // At the router: TTL 254 (255 less the client's hop), a KEEPALIVE every 2 s (not hold/3 = 3 s).
      const cap = await timed('B capture', () => captureAtRouter(lab, lab.host('node1').ipv4, 4, 15));
      expect(cap.packets.length, cap.raw).toBeGreaterThanOrEqual(3);
      expect(cap.packets.every((p) => p.ttl === 254), cap.raw).toBe(true);
      const gaps = cap.packets.slice(1).map((p, i) => p.time - cap.packets[i].time);
      for (const g of gaps) {
        expect(g, cap.raw).toBeGreaterThan(1.5);
        expect(g, cap.raw).toBeLessThan(2.7);
      }

      // A wrong password: the router's kernel drops the SYNs, the sessions stay down.
      await timed('B wrong password down', async () => {
        await lab.kubectl(['apply', '-f', '-'], configMapYaml(config([peer(MULTIHOP_PEER, { ...fields, password: 'wrong-secret' })])));
        await eventually('the sessions down', async () => (await Promise.all(multihop.map((n) => routerNeighbor(lab, n)))).every((r) => r.state !== 'Established'), 60_000);
        await staysDown(multihop, 6000);
      });
      // Right password again: up.
      await timed('B right password up', async () => {
        await lab.kubectl(['apply', '-f', '-'], configMapYaml(config([peer(MULTIHOP_PEER, fields)])));
        await established(multihop);
      });
      // Without ebgp-multihop the speaker sends TTL 1, which dies at the client's hop.
      const { 'ebgp-multihop': _, ...single } = fields;
      await timed('B no multihop down', async () => {
        await lab.kubectl(['apply', '-f', '-'], configMapYaml(config([peer(MULTIHOP_PEER, single)])));
        await eventually('the sessions down', async () => (await Promise.all(multihop.map((n) => routerNeighbor(lab, n)))).every((r) => r.state !== 'Established'), 60_000);
        await staysDown(multihop, 6000);
      });
    }, 300_000);

    it('C. node-selectors, source-address, TTL 1 for direct eBGP, communities and large communities, aggregation, local-pref on iBGP', async () => {
      const selected: WireNeighbor[] = [
        // node1 and node2 are configured at the router; the peer selects only node2.
        { name: 'sel1', local: SELECTED_PEER, remote: lab.host('node1').ipv4, remoteAs: NODE_AS },
        { name: 'sel2', local: SELECTED_PEER, remote: lab.host('node2').ipv4, remoteAs: NODE_AS },
      ];
      const sourced: WireNeighbor = { name: 'src1', local: SOURCE_PEER, remote: NODE1_SECOND, remoteAs: NODE_AS };
      const ibgp: WireNeighbor = { name: 'ibgp3', local: IBGP_PEER, remote: lab.host('node3').ipv4, remoteAs: ROUTER_AS };
      const up = await timed('C sessions', async () => {
        await apply(
          [
            peer(SELECTED_PEER, { 'hold-time': '9s' }, 'node2'),
            peer(SOURCE_PEER, { 'source-address': NODE1_SECOND }, 'node1'),
            peer(IBGP_PEER, { 'my-asn': ROUTER_AS }, 'node3'),
          ],
          [...selected, sourced, ibgp],
        );
        return established([selected[1], sourced, ibgp]);
      });
      expect(up[1].remote).toBe(NODE1_SECOND);
      expect(up[1].local).toBe(SOURCE_PEER);
      expect(up[2].local).toBe(IBGP_PEER);
      // Only selected nodes ever start a session to a peer: by the speakers' logs and sockets, and at the router.
      const started = (node: NodeName, address: string): boolean =>
        readFileSync(lab.logPath(`speaker-${node}`), 'utf8')
          .split('\n')
          .some((l) => l.includes('"sessionStart"') && l.includes(`"peer":"${address}"`));
      const selection: Array<[string, NodeName[]]> = [
        [SELECTED_PEER, ['node2']],
        [SOURCE_PEER, ['node1']],
        [IBGP_PEER, ['node3']],
      ];
      for (const [address, nodes] of selection) {
        for (const n of NODES) {
          expect(started(n, address), `${n} -> ${address}`).toBe(nodes.includes(n));
          const sockets = (await lab.mustExec(n, 'ss', ['-Htn', 'dst', address])).trim();
          if (!nodes.includes(n)) expect(sockets, `${n} has a socket to ${address}`).toBe('');
        }
      }
      expect((await routerNeighbor(lab, selected[0])).state).not.toBe('Established');

      // Direct eBGP: TTL 1 at the router.
      const cap = await timed('C capture', () => captureAtRouter(lab, lab.host('node2').ipv4, 2, 10));
      expect(cap.packets.length, cap.raw).toBeGreaterThanOrEqual(1);
      expect(cap.packets.every((p) => p.ttl === 1), cap.raw).toBe(true);

      // Aggregation and communities (eBGP, from node2), local-pref (iBGP, from node3).
      await timed('C routes', async () => {
        await createService(lab, NS, 'agg', 'agg');
        await createService(lab, NS, 'pref', 'pref');
      });
      const node2 = ROUTER === 'bird' ? 'sel2' : lab.host('node2').ipv4;
      const node3 = ROUTER === 'bird' ? 'ibgp3' : lab.host('node3').ipv4;
      const agg = await timed('C aggregate at the router', () =>
        eventually('the /28 aggregate at the router', async () => {
          const p = (await routerPaths(lab, AGG_POOL)).find((x) => x.peer === node2);
          return p ?? null;
        }, 60_000),
      );
      expect(agg.communities).toEqual(['64513:100']);
      expect(agg.largeCommunities).toEqual(['64513:1:2']);
      // Aggregated: no /32 of the agg pool anywhere at the router.
      const aggVip = (await lab.kubectl(['get', 'svc', '-n', NS, 'agg', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim();
      expect(await routerPaths(lab, `${aggVip}/32`)).toEqual([]);
      const prefVip = (await lab.kubectl(['get', 'svc', '-n', NS, 'pref', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim();
      const pref = await eventually('the pref /32 from both sessions', async () => {
        const ps = await routerPaths(lab, `${prefVip}/32`);
        return ps.some((p) => p.peer === node3) && ps.some((p) => p.peer === node2) ? ps : null;
      }, 60_000);
      const fromIbgp = pref.find((p) => p.peer === node3)!;
      const fromEbgp = pref.find((p) => p.peer === node2)!;
      expect(fromIbgp.localPref).toBe(250);
      expect(fromIbgp.communities).toEqual(['64513:200']);
      // eBGP carries no LOCAL_PREF: the router applies its own default (100).
      expect(fromEbgp.localPref ?? 100).toBe(100);
    }, 300_000);

    it('D. dynamic-asn: external towards the router and internal towards an iBGP peer; the AS learned from the OPEN, the routes as eBGP / iBGP', async () => {
      const dynamic = (address: string, mode: 'internal' | 'external', myAsn: number, nodes: NodeName[]): string =>
        [
          `- peer-address: ${address}`,
          `  my-asn: ${myAsn}`,
          `  dynamic-asn: ${mode}`,
          '  node-selectors:',
          '  - match-expressions:',
          `    - {key: kubernetes.io/hostname, operator: In, values: [${nodes.join(', ')}]}`,
        ].join('\n');
      // node3 peers only with the iBGP address: BIRD matches an incoming session by the node's address alone.
      const external = nodeNeighbors('dyn', lab.host('router').ipv4).slice(0, 2);
      const internal: WireNeighbor = { name: 'dynibgp3', local: IBGP_PEER, remote: lab.host('node3').ipv4, remoteAs: ROUTER_AS };
      await timed('D sessions', async () => {
        await apply([dynamic(lab.host('router').ipv4, 'external', NODE_AS, ['node1', 'node2']), dynamic(IBGP_PEER, 'internal', ROUTER_AS, ['node3'])], [...external, internal]);
        await established([...external, internal]);
      });
      const learned = (node: NodeName, address: string, text: string): boolean =>
        readFileSync(lab.logPath(`speaker-${node}`), 'utf8')
          .split('\n')
          .some((l) => l.includes('"sessionEstablished"') && l.includes(`"peer":"${address}"`) && l.includes(text));
      await eventually('node1 and node2 log the learned eBGP AS', async () => (['node1', 'node2'] as const).every((n) => learned(n, lab.host('router').ipv4, `AS ${ROUTER_AS} (learned: dynamic-asn external), eBGP`)), 30_000);
      await eventually('node3 logs the learned iBGP AS', async () => learned('node3', IBGP_PEER, `AS ${ROUTER_AS} (learned: dynamic-asn internal), iBGP`), 30_000);
      const [vip] = await timed('D route', () => createService(lab, NS, 'dyn', 'routed'));
      const fromEbgp = ROUTER === 'bird' ? 'dyn1' : lab.host('node1').ipv4;
      const fromIbgp = ROUTER === 'bird' ? 'dynibgp3' : lab.host('node3').ipv4;
      const paths = await eventually(`${vip}/32 over both relations`, async () => {
        const ps = await routerPaths(lab, `${vip}/32`);
        return ps.some((p) => p.peer === fromEbgp) && ps.some((p) => p.peer === fromIbgp) ? ps : null;
      }, 60_000);
      expect(paths.find((p) => p.peer === fromEbgp)?.asPath).toEqual([NODE_AS]);
      const ibgp = paths.find((p) => p.peer === fromIbgp);
      expect(ibgp?.asPath).toEqual([]);
      expect(ibgp?.localPref).toBe(100);
    }, 300_000);
  });
}
