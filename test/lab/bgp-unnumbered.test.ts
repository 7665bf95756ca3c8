// Unnumbered BGP (RFC 8950) of `herald bgp announce --interface` against real routers (BIRD 2 and
// FRR): three speakers, each on its own point-to-point link to the router with IPv6 link-local
// addresses only. The speaker learns the router's address from its Router Advertisements (and
// sends its own: FRR's `neighbor <if> interface` waits for them), the session runs over
// fe80::x%if with Extended Next Hop, the router's kernel routes the VIP via inet6 fe80::..., and
// the client's pings reach the VIP through it. A link flap restarts only that speaker's session.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertCliBuilt, startSpeaker, type Speaker } from './bgp-speaker.js';
import { Lab, describeLab } from './netns.js';
import { createRouter, type BirdRouter, type FrrRouter } from './routers.js';

const ROUTER_AS = 65000;
const NODE_AS = 65001;
const VIP = '203.0.113.10/32';
const NODES = ['node1', 'node2', 'node3'];

describeLab('bgp unnumbered: IPv4 over IPv6 link-local sessions (RFC 8950) with BIRD and FRR', () => {
  let lab: Lab;
  let router: BirdRouter | FrrRouter | undefined;
  const speakers: Speaker[] = [];
  /** Per node: the router's and the node's link-local address on their link (router side uN, node side u0). */
  const links = new Map<string, { router: string; node: string; ifname: string }>();

  beforeAll(async () => {
    assertCliBuilt();
    lab = await Lab.create({ hosts: ['router', ...NODES, 'client'], prefix: 'hu' });
    for (const [i, n] of NODES.entries()) {
      const ifname = `u${i + 1}`;
      const ll = await lab.link('router', ifname, n, 'u0');
      links.set(n, { router: ll.a, node: ll.b, ifname });
      // The VIP lives on the node; the client's packets arrive over u0 and the replies leave by eth0.
      await lab.mustExec(n, 'ip', ['addr', 'add', VIP, 'dev', 'lo']);
      await lab.mustExec(n, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.u0.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0']);
    }
    await lab.mustExec('router', 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await lab.mustExec('client', 'ip', ['route', 'add', '203.0.113.0/24', 'via', lab.host('router').ipv4]);
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });
  afterEach(async () => {
    await Promise.all(speakers.splice(0).map((s) => s.stop('SIGKILL')));
    await router?.close();
    router = undefined;
  });

  function speaker(host: string): Speaker {
    const s = startSpeaker(lab, host, ['--local-as', String(NODE_AS), '--peer-as', String(ROUTER_AS), '--interface', 'u0', '--prefix', VIP, '--connect-timeout', '3']);
    speakers.push(s);
    return s;
  }

  const nodeLinkLocals = (): string[] => NODES.map((n) => links.get(n)!.node).sort();

  for (const kind of ['bird', 'frr'] as const) {
    describe(kind, () => {
      it('three speakers: router learned from RAs, Extended Next Hop, the VIP via inet6 fe80::... in the kernel (ECMP), pings reach it; a link flap restarts one session only', async () => {
        router = createRouter(kind, lab, { as: ROUTER_AS, peers: NODES.map((n) => ({ address: links.get(n)!.node, interface: links.get(n)!.ifname, as: NODE_AS })) });
        const r = router;
        await r.start();
        const ss = NODES.map((n) => speaker(n));
        const ups = await Promise.all(ss.map((s) => s.established(60_000)));
        for (const [i, n] of NODES.entries()) {
          expect(ups[i]).toMatchObject({ extendedNextHop: true, peerAs: ROUTER_AS, peer: `${links.get(n)!.router}%u0` });
          expect(ss[i].lines.find((l) => l.event === 'router')).toMatchObject({ interface: 'u0', router: `${links.get(n)!.router}%u0` });
        }
        for (const n of NODES) await r.waitForState(links.get(n)!.node, 'Established', 30_000);

        // The router's kernel: one route to the VIP, ECMP over the three link-local next hops.
        await r.waitFor('ECMP kernel route via the link-locals', () => r.kernelRoutes(4), (k) => JSON.stringify(k.find((x) => x.dst === VIP)?.nextHops) === JSON.stringify(nodeLinkLocals()), 30_000);
        const shown = await lab.mustExec('router', 'ip', ['-4', 'route', 'show', VIP.split('/')[0]]);
        expect(shown).toMatch(/via inet6 fe80::/);

        // Traffic: the client's pings cross the router and an unnumbered link to the VIP.
        await r.waitFor('ping to the VIP', () => lab.exec('client', 'ping', ['-c', '1', '-W', '2', VIP.split('/')[0]]), (res) => res.code === 0, 30_000, 500);

        // Link flap on node1: its session goes and comes back; the others stay up throughout.
        const mark = ss[0].lines.length;
        await lab.mustExec('node1', 'ip', ['link', 'set', 'u0', 'down']);
        await ss[0].waitForLog('router gone', (l) => l.event === 'router' && l.router === null, 30_000, mark);
        await lab.mustExec('node1', 'ip', ['link', 'set', 'u0', 'up']);
        await ss[0].established(60_000, mark);
        await r.waitForState(links.get('node1')!.node, 'Established', 30_000);
        await r.waitFor('the three paths again', () => r.routes(), (p) => p.filter((x) => x.prefix === VIP).length === 3, 30_000);
        // BIRD puts node1's next hop back into the kernel's ECMP route. FRR 8.4's zebra does not: its RIB
        // and its nexthop group 22 list three next hops ("Valid, Installed") while the kernel's nhid 22
        // has two (the kernel dropped the flapped link's nexthop object; zebra never re-adds it). With
        // `no zebra nexthop kernel enable` (plain multipath routes) the third is back within 1 s. FRR's, not ours.
        if (kind === 'bird') await r.waitFor('ECMP back to three', () => r.kernelRoutes(4), (k) => k.find((x) => x.dst === VIP)?.nextHops.length === 3, 30_000);
        for (const s of ss.slice(1)) expect(s.lines.filter((l) => l.event === 'established')).toHaveLength(1);
        expect(ss.every((s) => s.child.exitCode === null)).toBe(true);

        // SIGTERM: the routes are withdrawn (MP_UNREACH_NLRI) and leave the kernel.
        for (const s of ss) expect(await s.stop('SIGTERM')).toEqual({ code: 0, signal: null });
        await r.waitFor('no kernel route', () => r.kernelRoutes(4), (k) => !k.some((x) => x.dst === VIP), 30_000);
      }, 240_000);
    });
  }
});
