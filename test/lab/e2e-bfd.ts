// BFD for BGP through `herald speaker` on the full lab (issue 13, item 1), against BIRD's `bfd`
// protocol or FRR's bfdd (e2e-bfd.test.ts, e2e-bfd-frr.test.ts). The ConfigMap gives the router
// peer `bfd-profile: default` (300 ms x 3) and hold-time 9 s; the router runs BFD for node1 and
// node2 only, so node3's BFD session never comes up and its BGP session runs on the hold timer
// alone (the comparison, and the "never Up holds nothing" rule, live).
//   1. A frozen speaker (SIGSTOP): the router drops node1's path within about a second (BFD), and
//      node3's only after its hold time.
//   2. The router's BFD cut (its BFD packets dropped by iptables in the router namespace, BGP's TCP
//      untouched): the speakers drop their BGP sessions at once and reconnect when BFD is back.
import { mkdtempSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FullLab, NODE_AS, NODES, ROUTER_AS, BGP_POOL, type NodeName } from './full-lab.js';
import { configMapYaml, createService, tail } from './full-kube.js';
import { routerHops } from './full-router.js';
import { labUp } from './full-setup.js';
import { configureRouter, routerNeighbor, type WireNeighbor } from './wire-router.js';
import { eventually } from './eventually.js';
import { describeLab } from './netns.js';

const NS = 'e2e-bfd';
const HOLD_S = 9;
const BFD_NODES: readonly NodeName[] = ['node1', 'node2'];

/** Lines of a speaker's log with this event (parsed). */
function logEvents(lab: FullLab, node: NodeName, event: string): Array<Record<string, unknown>> {
  return readFileSync(lab.logPath(`speaker-${node}`), 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function describeBfd(ROUTER: 'bird' | 'frr'): void {
  describeLab(`BFD for BGP through herald speaker (router: ${ROUTER})`, () => {
    let lab: FullLab;
    let dir: string;
    let vip: string;
    const report: string[] = [];
    const neighbors = (): WireNeighbor[] => NODES.map((n) => ({ name: n, local: lab.host('router').ipv4, remote: lab.host(n).ipv4, remoteAs: NODE_AS, bfd: BFD_NODES.includes(n) }));
    const hopOf = (n: NodeName): string => lab.host(n).ipv4;

    async function allEstablished(timeoutMs = 60_000): Promise<void> {
      await eventually('every node Established at the router', async () => (await Promise.all(neighbors().map((n) => routerNeighbor(lab, n)))).every((r) => r.state === 'Established'), timeoutMs).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\nspeaker-node1:\n${tail(lab.logPath('speaker-node1'), 20)}`);
      });
    }

    async function allHops(timeoutMs = 60_000): Promise<void> {
      const want = NODES.map(hopOf).sort().join();
      await eventually(`${vip} via every node`, async () => (await routerHops(lab, vip)).join() === want, timeoutMs);
    }

    /** BFD Up on the speakers of `nodes` (their logs), after log line index `from` per node. */
    async function bfdUp(nodes: readonly NodeName[], from: Record<string, number> = {}): Promise<void> {
      await eventually('BFD Up on ' + nodes.join(', '), async () => nodes.every((n) => logEvents(lab, n, 'bfdState').slice(from[n] ?? 0).some((e) => e.to === 'Up')), 60_000);
    }

    /** Milliseconds from `t0` until the router has no path via `node` (polled every 20 ms). */
    async function pathGone(node: NodeName, t0: number, timeoutMs: number): Promise<number> {
      await eventually(`${node}'s path gone at the router`, async () => !(await routerHops(lab, vip)).includes(hopOf(node)), timeoutMs, 20);
      return Date.now() - t0;
    }

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'herald-e2e-bfd-'));
      process.once('exit', () => FullLab.destroy(dir));
      const h = await labUp({ prefix: `hb${randomBytes(2).toString('hex')}`, dir, router: ROUTER, log: () => undefined });
      lab = h.lab;
      await lab.kubectl(['create', 'namespace', NS]);
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
      await configureRouter(lab, neighbors());
      await allEstablished();
      [vip] = await createService(lab, NS, 'bfd', 'routed');
      await allHops();
      await bfdUp(BFD_NODES);
    }, 300_000);

    afterAll(() => {
      process.stderr.write(`e2e-bfd (${ROUTER}):\n  ${report.join('\n  ')}\n`);
      if (dir) FullLab.destroy(dir);
    });

    it('a frozen speaker: the router drops its path within about a second with BFD, only after the hold time without', async () => {
      const from = Object.fromEntries(NODES.map((n) => [n, logEvents(lab, n, 'bfdState').length]));
      // node3's BFD never came up (the router runs none for it): BGP runs as without BFD.
      expect(logEvents(lab, 'node3', 'bfdState').some((e) => e.to === 'Up')).toBe(false);
      try {
        const t0 = Date.now();
        lab.signal('speaker-node1', 'SIGSTOP');
        lab.signal('speaker-node3', 'SIGSTOP');
        const withBfd = await pathGone('node1', t0, 10_000);
        report.push(`frozen speaker, BFD 300 ms x 3: path gone after ${withBfd} ms`);
        expect(withBfd).toBeLessThan(3000);
        // Without BFD the path stays until the hold timer (9 s, the last KEEPALIVE at most 3 s before the freeze).
        expect((await routerHops(lab, vip)).includes(hopOf('node3')), 'node3 (no BFD) dropped before its hold time').toBe(true);
        const withoutBfd = await pathGone('node3', t0, 30_000);
        report.push(`frozen speaker, hold timer only (${HOLD_S} s): path gone after ${withoutBfd} ms`);
        expect(withoutBfd).toBeGreaterThan((HOLD_S - 3) * 1000 - 500);
      } finally {
        lab.signal('speaker-node1', 'SIGCONT');
        lab.signal('speaker-node3', 'SIGCONT');
      }
      // Back: node1's BFD comes up again (its BGP was held until then), both paths return.
      await bfdUp(['node1'], from);
      await allHops(90_000);
    }, 180_000);

    it("the router's BFD cut: the speakers drop their BGP sessions at once and reconnect when BFD is back", async () => {
      const held = Object.fromEntries(NODES.map((n) => [n, logEvents(lab, n, 'sessionHeldByBfd').length]));
      const released = Object.fromEntries(NODES.map((n) => [n, logEvents(lab, n, 'bfdRelease').length]));
      const rules = [
        ['INPUT', '--dport'],
        ['OUTPUT', '--dport'],
      ];
      for (const [chain, port] of rules) await lab.mustExec('router', 'iptables', ['-w', '-I', chain, '-p', 'udp', port, '3784', '-j', 'DROP']);
      let cutFor = 0;
      try {
        const t0 = Date.now();
        await eventually(
          'node1 and node2 hold their BGP sessions down (BFD down)',
          async () => BFD_NODES.every((n) => logEvents(lab, n, 'sessionHeldByBfd').length > held[n]),
          15_000,
          50,
        );
        cutFor = Date.now() - t0;
        report.push(`router's BFD cut: both speakers dropped BGP after ${cutFor} ms`);
        for (const n of BFD_NODES) {
          const down = logEvents(lab, n, 'bfdState').filter((e) => e.to === 'Down').at(-1);
          expect(down?.diag, `${n}: ${JSON.stringify(down)}`).toBe('control-detection-time-expired');
        }
        // Held down while BFD is: the router sees no session from node1/node2; node3 (no BFD) is untouched.
        await eventually('node1 and node2 down at the router', async () => (await Promise.all(neighbors().filter((n) => n.bfd).map((n) => routerNeighbor(lab, n)))).every((r) => r.state !== 'Established'), 15_000);
        await new Promise((r) => setTimeout(r, 3000));
        for (const n of neighbors()) {
          const state = (await routerNeighbor(lab, n)).state;
          if (n.bfd) expect(state, n.name).not.toBe('Established');
          else expect(state, n.name).toBe('Established');
        }
        expect((await routerHops(lab, vip)).join()).toBe(hopOf('node3'));
      } finally {
        for (const [chain, port] of rules) await lab.mustExec('router', 'iptables', ['-w', '-D', chain, '-p', 'udp', port, '3784', '-j', 'DROP']);
      }
      const t1 = Date.now();
      await eventually('BFD Up again: the speakers release their BGP sessions', async () => BFD_NODES.every((n) => logEvents(lab, n, 'bfdRelease').length > released[n]), 30_000, 50);
      await allEstablished();
      await allHops();
      report.push(`router's BFD back: sessions and paths back after ${Date.now() - t1} ms`);
      expect(cutFor).toBeGreaterThan(0);
    }, 180_000);
  });
}
