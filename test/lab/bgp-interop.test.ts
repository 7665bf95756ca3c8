// `herald bgp announce` against real routers (BIRD 2 and FRR, both from Debian) in a lab:
// iBGP and eBGP, exact routes and attributes, ECMP in the router's kernel table, withdrawal,
// router restart, frozen router (our hold timer), TCP MD5, graceful restart.
import { afterAll, afterEach, beforeAll, expect, it, describe } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, describeLab } from './netns.js';
import { createRouter, type BirdRouter, type FrrRouter, type RoutePath, type RouterPeer } from './routers.js';
import { assertCliBuilt, startSpeaker, type Speaker } from './bgp-speaker.js';

const ROUTER_AS = 65000;
const NODE_AS = 65001;
const VIP = '203.0.113.10/32';
const VIP2 = '203.0.113.11/32';
const VIP6 = '2001:db8:ff::10/128';

describeLab('bgp interop: herald bgp announce against BIRD and FRR', () => {
  let lab: Lab;
  let tmp: string;
  let router: BirdRouter | FrrRouter | undefined;
  const speakers: Speaker[] = [];

  beforeAll(async () => {
    assertCliBuilt();
    lab = await Lab.create({ hosts: ['router', 'node1', 'node2'], prefix: 'hb' });
    tmp = mkdtempSync(join(tmpdir(), 'herald-bgp-interop-'));
  });
  afterAll(async () => {
    await lab?.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  afterEach(async () => {
    await Promise.all(speakers.splice(0).map((s) => s.stop('SIGKILL')));
    await router?.close();
    router = undefined;
  });

  const ip = (h: string): string => lab.host(h).ipv4;
  const ip6 = (h: string): string => lab.host(h).ipv6;

  function speaker(host: string, args: string[]): Speaker {
    const s = startSpeaker(lab, host, args);
    speakers.push(s);
    return s;
  }

  /** The common flags of a node's speaker toward the router over IPv4. */
  function nodeArgs(host: string, localAs: number, extra: string[] = []): string[] {
    return ['--local-as', String(localAs), '--peer-address', ip('router'), '--peer-as', String(ROUTER_AS), '--source-address', ip(host), ...extra];
  }

  const byPrefix = (paths: RoutePath[], prefix: string): RoutePath[] => paths.filter((p) => p.prefix === prefix).sort((a, b) => a.peer.localeCompare(b.peer));

  for (const kind of ['bird', 'frr'] as const) {
    describe(kind, () => {
      async function startRouter(peers: RouterPeer[]): Promise<BirdRouter | FrrRouter> {
        router = createRouter(kind, lab, { as: ROUTER_AS, peers });
        await router.start();
        return router;
      }

      for (const mode of ['ibgp', 'ebgp'] as const) {
        it(`${mode}: exact routes and attributes, IPv6, ECMP in the kernel, withdrawal`, async () => {
          const nodeAs = mode === 'ibgp' ? ROUTER_AS : NODE_AS;
          const r = await startRouter([
            { address: ip('node1'), as: nodeAs },
            { address: ip('node2'), as: nodeAs },
            { address: ip6('node1'), as: nodeAs },
          ]);
          const attrs = ['--community', '65000:100', '--community', '65000:200', '--large-community', '65000:1:2', ...(mode === 'ibgp' ? ['--local-pref', '200'] : [])];
          const n1 = speaker('node1', nodeArgs('node1', nodeAs, [...attrs, '--prefix', VIP, '--prefix', VIP2]));
          const n2 = speaker('node2', nodeArgs('node2', nodeAs, [...attrs, '--prefix', VIP]));
          const n1v6 = speaker('node1', ['--local-as', String(nodeAs), '--peer-address', ip6('router'), '--peer-as', String(ROUTER_AS), '--source-address', ip6('node1'), ...attrs, '--prefix', VIP6]);
          await Promise.all([n1.established(), n2.established(), n1v6.established()]);
          for (const a of [ip('node1'), ip('node2'), ip6('node1')]) await r.waitForState(a, 'Established');

          const paths = await r.waitFor('4 paths', () => r.routes(), (p) => p.length === 4);
          expect([...new Set(paths.map((p) => p.prefix))].sort()).toEqual([VIP6, VIP, VIP2].sort());
          const expectPath = (p: RoutePath, nextHop: string): void => {
            expect(p.nextHop).toBe(nextHop);
            expect(p.asPath).toEqual(mode === 'ibgp' ? [] : [NODE_AS]);
            if (mode === 'ibgp') expect(p.localPref).toBe(200);
            expect(p.communities.sort()).toEqual(['65000:100', '65000:200']);
            expect(p.largeCommunities).toEqual(['65000:1:2']);
            expect(p.stale).toBe(false);
          };
          const vip = byPrefix(paths, VIP);
          expect(vip.map((p) => p.peer)).toEqual([ip('node1'), ip('node2')]);
          expectPath(vip[0], ip('node1'));
          expectPath(vip[1], ip('node2'));
          expectPath(byPrefix(paths, VIP2)[0], ip('node1'));
          expectPath(byPrefix(paths, VIP6)[0], ip6('node1'));

          // Two nodes, one VIP: an ECMP route in the router's kernel table.
          const kernel = await r.waitFor('ECMP kernel route', () => r.kernelRoutes(4), (k) => k.find((x) => x.dst === VIP)?.nextHops.length === 2);
          expect(kernel.find((x) => x.dst === VIP)?.nextHops).toEqual([ip('node1'), ip('node2')].sort());
          const k6 = await r.waitFor('IPv6 kernel route', () => r.kernelRoutes(6), (k) => k.some((x) => x.dst === VIP6));
          expect(k6.find((x) => x.dst === VIP6)?.nextHops).toEqual([ip6('node1')]);

          // SIGTERM: node2 withdraws, says Cease and exits 0; the VIP stays reachable through node1 only.
          expect(await n2.stop('SIGTERM')).toEqual({ code: 0, signal: null });
          expect(n2.lines.some((l) => l.event === 'exit')).toBe(true);
          await r.waitFor('node2 paths gone', () => r.routes(), (p) => !p.some((x) => x.peer === ip('node2')));
          await r.waitFor('single-path kernel route', () => r.kernelRoutes(4), (k) => JSON.stringify(k.find((x) => x.dst === VIP)?.nextHops) === JSON.stringify([ip('node1')]));
          expect(await n1.stop('SIGTERM')).toEqual({ code: 0, signal: null });
          expect(await n1v6.stop('SIGTERM')).toEqual({ code: 0, signal: null });
          await r.waitFor('no routes', () => r.routes(), (p) => p.length === 0);
          await r.waitFor('no kernel routes', async () => [...(await r.kernelRoutes(4)), ...(await r.kernelRoutes(6))], (k) => k.length === 0);
        });
      }

      it('router restart: the session and every route come back', async () => {
        const r = await startRouter([{ address: ip('node1'), as: NODE_AS }]);
        const n1 = speaker('node1', nodeArgs('node1', NODE_AS, ['--prefix', VIP, '--prefix', VIP2]));
        await n1.established();
        await r.waitFor('2 routes', () => r.routes(), (p) => p.length === 2);
        const mark = n1.lines.length;
        await r.restart();
        await n1.established(30_000, mark);
        const paths = await r.waitFor('2 routes again', () => r.routes(), (p) => p.length === 2);
        expect(paths.map((p) => p.prefix).sort()).toEqual([VIP, VIP2]);
      });

      it('router frozen (SIGSTOP): our hold timer fires; after SIGCONT we reconnect', async () => {
        const r = await startRouter([{ address: ip('node1'), as: NODE_AS }]);
        const n1 = speaker('node1', nodeArgs('node1', NODE_AS, ['--hold-time', '3', '--prefix', VIP]));
        await n1.established();
        await r.waitFor('route', () => r.routes(), (p) => p.length === 1);
        const mark = n1.lines.length;
        r.freeze();
        try {
          // Hold timer expired: NOTIFICATION code 4, and the session leaves Established.
          await n1.waitForLog('hold timer expiry', (l) => l.event === 'notification-sent' && l.code === 4, 8000, mark);
          await n1.waitForLog('leaving Established', (l) => l.event === 'state' && l.from === 'Established', 2000, mark);
        } finally {
          r.thaw();
        }
        await n1.established(30_000, mark);
        await r.waitForState(ip('node1'), 'Established', 30_000);
        await r.waitFor('route back', () => r.routes(), (p) => p.length === 1);
      });

      it('IPv6 prefixes over the IPv4 session: MP-BGP with the interface\'s global IPv6 next hop; refused with a clear line without one', async () => {
        const r = await startRouter([
          { address: ip('node1'), as: NODE_AS, families: [4, 6] },
          { address: ip('node2'), as: NODE_AS, families: [4, 6] },
        ]);
        const n1 = speaker('node1', nodeArgs('node1', NODE_AS, ['--prefix', VIP, '--prefix', VIP6]));
        const line = await n1.established();
        expect(line.families).toEqual(['ipv4', 'ipv6']);
        const paths = await r.waitFor('2 paths', () => r.routes(), (p) => p.length === 2);
        expect(byPrefix(paths, VIP6).map((p) => p.nextHop)).toEqual([ip6('node1')]);
        expect(byPrefix(paths, VIP).map((p) => p.nextHop)).toEqual([ip('node1')]);
        // The router's RIB can be ahead of its kernel table (FRR's zebra installs after bgpd learns).
        const kernel = await r.waitFor('the /128 in the kernel', () => r.kernelRoutes(6), (k) => k.some((x) => x.dst === VIP6));
        expect(kernel.find((k) => k.dst === VIP6)?.nextHops).toEqual([ip6('node1')]);
        // node2's interface without a global IPv6 address: the IPv4 route goes, the IPv6 one is refused, saying why.
        const n2 = lab.host('node2');
        await lab.mustExec('node2', 'ip', ['-6', 'addr', 'del', `${n2.ipv6}/64`, 'dev', n2.iface]);
        try {
          const n2s = speaker('node2', nodeArgs('node2', NODE_AS, ['--prefix', VIP2, '--prefix', VIP6]));
          const refused = await n2s.waitForLog('the IPv6 refusal', (l) => /no global IPv6 next hop/.test(l.msg), 30_000);
          expect(refused.msg).toContain(`interface ${n2.iface} (carrying the session from ${ip('node2')}) has no global IPv6 address`);
          await r.waitFor('node2\'s IPv4 route', () => r.routes(), (p) => p.some((x) => x.prefix === VIP2));
          expect(byPrefix(await r.routes(), VIP6).map((p) => p.nextHop)).toEqual([ip6('node1')]);
        } finally {
          await lab.mustExec('node2', 'ip', ['-6', 'addr', 'add', `${n2.ipv6}/64`, 'dev', n2.iface, 'nodad']);
        }
      });

      it('TCP MD5: a wrong password gives no session and a clear log line; the right one a session', async () => {
        const r = await startRouter([{ address: ip('node1'), as: NODE_AS, password: 'lab-secret' }]);
        const wrong = join(tmp, `${kind}-wrong`);
        const right = join(tmp, `${kind}-right`);
        writeFileSync(wrong, 'not-the-secret\n');
        writeFileSync(right, 'lab-secret\n');
        const bad = speaker('node1', nodeArgs('node1', NODE_AS, ['--password-file', wrong, '--connect-timeout', '2', '--prefix', VIP]));
        const line = await bad.waitForLog('connect timeout', (l) => l.event === 'connect-timeout' && l.md5 === true, 30_000);
        expect(line.msg).toMatch(/TCP MD5 is on: a password mismatch/);
        expect(bad.lines.some((l) => l.event === 'established')).toBe(false);
        expect(await r.peerState(ip('node1'))).not.toBe('Established');
        await bad.stop('SIGTERM');
        const good = speaker('node1', nodeArgs('node1', NODE_AS, ['--password-file', right, '--prefix', VIP]));
        await good.established();
        await r.waitFor('route', () => r.routes(), (p) => p.length === 1);
      });

      it('passive: the router connects in, signed with TCP MD5, and gets our routes', async () => {
        const r = await startRouter([{ address: ip('node1'), as: NODE_AS, passive: false, password: 'passive-secret' }]);
        const pw = join(tmp, `${kind}-passive`);
        writeFileSync(pw, 'passive-secret\n');
        const n1 = speaker('node1', nodeArgs('node1', NODE_AS, ['--passive', '--password-file', pw, '--prefix', VIP]));
        await n1.waitForLog('listening', (l) => l.event === 'listening');
        await n1.established(30_000);
        const paths = await r.waitFor('route', () => r.routes(), (p) => p.length === 1);
        expect(paths[0]).toMatchObject({ prefix: VIP, nextHop: ip('node1'), asPath: [NODE_AS] });
      });

      it('graceful restart: the router keeps our routes across a speaker restart; End-of-RIB clears the stale ones', async () => {
        const r = await startRouter([{ address: ip('node1'), as: NODE_AS }]);
        const gr = ['--graceful-restart', '60'];
        const first = speaker('node1', nodeArgs('node1', NODE_AS, [...gr, '--prefix', VIP, '--prefix', VIP2]));
        await first.established();
        await r.waitFor('2 routes', () => r.routes(), (p) => p.length === 2);
        await r.waitFor('2 kernel routes', () => r.kernelRoutes(4), (k) => k.length === 2);
        // An upgrade-like restart: the process dies without withdrawing or sending a NOTIFICATION.
        // (Waits here are generous: the restart time is 60 s, and a loaded machine is slow, not wrong.)
        await first.stop('SIGKILL');
        await r.waitFor('session down', () => r.peerState(ip('node1')), (s) => s !== 'Established', 20_000);
        // FRR marks them stale (BIRD keeps the flag to itself); both keep them, also in the kernel.
        const held = await r.waitFor('routes kept', () => r.routes(), (p) => p.length === 2 && (kind !== 'frr' || p.every((x) => x.stale)), 20_000);
        expect(held.map((p) => p.prefix).sort()).toEqual([VIP, VIP2]);
        expect((await r.kernelRoutes(4)).map((k) => k.dst).sort()).toEqual([VIP, VIP2]);
        // The new process announces only VIP: after its End-of-RIB, VIP2 (stale, not re-announced) is gone.
        const second = speaker('node1', nodeArgs('node1', NODE_AS, [...gr, '--prefix', VIP]));
        await second.established();
        const after = await r.waitFor('stale VIP2 cleared', () => r.routes(), (p) => p.length === 1 && p[0].prefix === VIP && !p[0].stale, 30_000);
        expect(after[0].nextHop).toBe(ip('node1'));
      });
    });
  }
});
