// Data-centre fabric features of `herald bgp announce` against real routers (BIRD 2 and FRR):
// dynamic peer ASN (internal and external, with the router configured by number or with its own
// mirror `internal`/`external`), a mismatch refused with OPEN Message Error / Bad Peer AS (2/2)
// as the router's state shows, and RFC 8654 extended messages with BIRD carrying 100k /32s.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertCliBuilt, startSpeaker, type Speaker } from './bgp-speaker.js';
import { Lab, describeLab } from './netns.js';
import { BENCH_V4, BirdRouter, createRouter, FrrRouter, type RouterPeer } from './routers.js';

const ROUTER_AS = 65000;
const NODE_AS = 65001;
const VIP = '203.0.113.10/32';
const N = 100_000;

/** N /32s from 198.18.0.0/15 (benchmark payload: never in a kernel table). */
function benchPrefixes(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = (((198 << 24) | (18 << 16)) + i) >>> 0;
    lines.push(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32`);
  }
  return lines.join('\n') + '\n';
}

describeLab('bgp fabric: dynamic ASN and extended messages against BIRD and FRR', () => {
  let lab: Lab;
  let tmp: string;
  let router: BirdRouter | FrrRouter | undefined;
  const speakers: Speaker[] = [];

  beforeAll(async () => {
    assertCliBuilt();
    lab = await Lab.create({ hosts: ['router', 'node1'], prefix: 'hf' });
    tmp = mkdtempSync(join(tmpdir(), 'herald-bgp-fabric-'));
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

  function speaker(localAs: number, peerAs: string, extra: string[] = []): Speaker {
    const s = startSpeaker(lab, 'node1', ['--local-as', String(localAs), '--peer-address', ip('router'), '--peer-as', peerAs, '--source-address', ip('node1'), ...extra]);
    speakers.push(s);
    return s;
  }

  for (const kind of ['bird', 'frr'] as const) {
    describe(kind, () => {
      async function startRouter(peers: RouterPeer[], kernelExport = true): Promise<BirdRouter | FrrRouter> {
        router = createRouter(kind, lab, { as: ROUTER_AS, peers, kernelExport, ...(kind === 'frr' && !kernelExport ? { zebra: false } : {}) });
        await router.start();
        return router;
      }

      // The router side by number for internal, by its own mirror keyword for external: both are what operators write.
      for (const mode of ['internal', 'external'] as const) {
        it(`dynamic ASN ${mode}: the AS is learned from the OPEN, and the routes go as ${mode === 'internal' ? 'iBGP' : 'eBGP'}`, async () => {
          const nodeAs = mode === 'internal' ? ROUTER_AS : NODE_AS;
          const r = await startRouter([{ address: ip('node1'), as: mode === 'internal' ? ROUTER_AS : 'external' }]);
          const s = speaker(nodeAs, mode, ['--prefix', VIP]);
          const up = await s.established();
          expect(up.peerAs).toBe(ROUTER_AS);
          // FRR always offers RFC 8654; BIRD only when configured (not here).
          expect(up.extendedMessages).toBe(kind === 'frr');
          expect(s.lines.find((l) => l.event === 'peer-as-learned')).toMatchObject({ peerAs: ROUTER_AS, dynamicAsn: mode });
          await r.waitForState(ip('node1'), 'Established');
          const [path] = await r.waitFor('the VIP', () => r.routes(), (p) => p.some((x) => x.prefix === VIP));
          expect(path.nextHop).toBe(ip('node1'));
          if (mode === 'internal') {
            expect(path.asPath).toEqual([]);
            expect(path.localPref).toBe(100);
          } else {
            expect(path.asPath).toEqual([NODE_AS]);
          }
          // The router's kernel has the route: next hop and relation as expected end to end.
          await r.waitFor('kernel route', () => r.kernelRoutes(4), (k) => k.some((x) => x.dst === VIP && x.nextHops.join() === ip('node1')));
        });
      }

      it('dynamic ASN internal towards an eBGP router: refused with NOTIFICATION 2/2 (Bad Peer AS), never Established', async () => {
        const r = await startRouter([{ address: ip('node1'), as: NODE_AS }]);
        const s = speaker(NODE_AS, 'internal', ['--prefix', VIP]);
        const sent = await s.waitForLog('NOTIFICATION 2/2', (l) => l.event === 'notification-sent' && l.code === 2 && l.subcode === 2, 30_000);
        expect(s.lines.find((l) => l.event === 'protocol-error')?.msg).toMatch(/peer AS 65000 is not our AS 65001/);
        expect(sent).toBeDefined();
        // The router saw our NOTIFICATION: its own account of the last error says Bad Peer AS.
        if (r instanceof BirdRouter) {
          await r.waitFor('BIRD last error', () => r.cmd('show protocols all peer0'), (out) => /Last error:\s+Received: Bad peer AS/i.test(out), 20_000);
        } else {
          // FRR keeps an incoming connection's counters on a temporary peer: its log (log-neighbor-changes) says it.
          const said = new RegExp(`NOTIFICATION.*received from neighbor ${ip('node1').replace(/\./g, '\\.')}.* 2/2 \\(OPEN Message Error/Bad Peer AS\\)`);
          await r.waitFor('FRR log: NOTIFICATION 2/2 received', async () => readFileSync(join(r.dir, 'bgpd.log'), 'utf8'), (log) => said.test(log), 20_000);
        }
        expect(await r.peerState(ip('node1'))).not.toBe('Established');
        expect(s.lines.some((l) => l.event === 'established')).toBe(false);
      });

      if (kind === 'bird') {
        it(`extended messages with BIRD: negotiated, ${N / 1000}k /32s in ~13,000-prefix UPDATEs, received intact`, async () => {
          const file = join(tmp, 'prefixes.txt');
          writeFileSync(file, benchPrefixes(N));
          const r = await startRouter([{ address: ip('node1'), as: NODE_AS, extendedMessages: true }], false);
          const s = speaker(NODE_AS, String(ROUTER_AS), ['--prefix-file', file]);
          const up = await s.established(60_000);
          expect(up.extendedMessages).toBe(true);
          // Every UPDATE but the End-of-RIB carries routes: 100k / 13,098 per message = 8 (at 4096 bytes: 124).
          expect(Number(up.updatesSent) - 1).toBe(Math.ceil(N / 13_098));
          const caps = await (r as BirdRouter).cmd('show protocols all peer0');
          expect(caps.match(/Extended message/g)?.length, caps).toBeGreaterThanOrEqual(2);
          await r.waitFor(`${N} routes`, () => r.routeCount(), (n) => n === N, 60_000);
          // Intact: the first, a middle and the last prefix, with our next hop and AS path.
          for (const i of [0, 13_098, 13_098, N - 1]) {
            const a = (((198 << 24) | (18 << 16)) + i) >>> 0;
            const p = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32`;
            const out = await (r as BirdRouter).cmd(`show route ${p} all`);
            expect(out, p).toContain(p);
            expect(out).toMatch(new RegExp(`BGP\\.next_hop: ${ip('node1').replace(/\./g, '\\.')}`));
            expect(out).toMatch(/BGP\.as_path: 65001/);
          }
          const kernel = await lab.mustExec('router', 'ip', ['-4', 'route', 'show', 'root', BENCH_V4]);
          expect(kernel.trim()).toBe('');

          // Without the capability on our side, the same table goes in 4096-byte UPDATEs.
          await s.stop('SIGKILL');
          await r.waitFor('routes flushed', () => r.routeCount(), (n) => n === 0, 60_000);
          const plain = speaker(NODE_AS, String(ROUTER_AS), ['--prefix-file', file, '--no-extended-messages']);
          const up2 = await plain.established(60_000);
          expect(up2.extendedMessages).toBe(false);
          expect(Number(up2.updatesSent) - 1).toBeGreaterThan(100);
          await r.waitFor(`${N} routes`, () => r.routeCount(), (n) => n === N, 60_000);
        });
      }
    });
  }
});
