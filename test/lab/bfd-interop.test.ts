// `herald bfd` against real BFD implementations (BIRD 2's bfd protocol and FRR's bfdd) in a lab,
// both directions of failure: router killed -> Herald detects Down (Detection Time expiry);
// Herald SIGKILLed or its link cut -> the router sees Down; everything comes back Up. Then hostile
// input: crafted packets (bad version, bad length, zero discriminators, TTL below 255, unknown
// source) are silently dropped and counted, and the session to the router stays Up.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab, describeLab } from './netns.js';
import { createBfdRouter, type BfdRouter } from './bfd-routers.js';
import { assertCliBuilt, HERALD_CLI, Speaker, type LogLine } from './bgp-speaker.js';

const INTERVAL = 300;
const MULT = 3;
const DETECT_MS = INTERVAL * MULT;

describeLab('bfd interop: herald bfd against BIRD and FRR', () => {
  let lab: Lab;
  let router: BfdRouter | undefined;
  const heralds: Speaker[] = [];

  beforeAll(async () => {
    assertCliBuilt();
    lab = await Lab.create({ hosts: ['router', 'node1', 'stranger'], prefix: 'hf' });
  });
  afterAll(async () => {
    await lab?.destroy();
  });
  afterEach(async () => {
    await Promise.all(heralds.splice(0).map((s) => s.stop('SIGKILL')));
    await router?.close();
    router = undefined;
    await lab.exec('node1', 'ip', ['link', 'set', 'eth0', 'up']);
  });

  const ip = (h: string): string => lab.host(h).ipv4;

  function herald(args: string[] = []): Speaker {
    const child = lab.spawn('node1', process.execPath, [HERALD_CLI, 'bfd', '--peer', ip('router'), '--local', ip('node1'), '--interval', String(INTERVAL), '--multiplier', String(MULT), ...args]);
    const s = new Speaker('node1', child);
    heralds.push(s);
    return s;
  }

  const state = (to: string) => (l: LogLine) => l.event === 'state' && l.to === to;

  async function startRouter(kind: 'bird' | 'frr', multihop = false): Promise<BfdRouter> {
    router = createBfdRouter(kind, lab, { host: 'router', peers: [{ address: ip('node1'), local: ip('router') }], intervalMs: INTERVAL, multiplier: MULT, multihop });
    await router.start();
    return router;
  }

  for (const kind of ['bird', 'frr'] as const) {
    describe(kind, () => {
      it('Up; router killed -> Herald detects Down in the Detection Time; router back -> Up', async () => {
        const r = await startRouter(kind);
        const h = herald();
        await h.waitForLog('Up', state('Up'), 30_000);
        await r.waitForState(ip('node1'), 'Up');
        // Let the poll sequence settle on the fast rate before failing it.
        await new Promise((res) => setTimeout(res, 1500));
        const mark = h.lines.length;
        const killedAt = Date.now();
        r.kill();
        const down = await h.waitForLog('Down', state('Down'), 10_000, mark);
        expect(down).toMatchObject({ from: 'Up', diag: 'control-detection-time-expired', detectTimeMs: DETECT_MS });
        // The session's own measure: the silence that triggered it is one Detection Time (timer slack aside).
        expect(down.silentMs as number).toBeGreaterThanOrEqual(DETECT_MS);
        console.log(`[bfd ${kind}] router SIGKILL -> herald Down: ${down.time - killedAt} ms after the kill (silent ${String(down.silentMs)} ms, detect time ${DETECT_MS} ms)`);
        await r.stop();
        const back = h.lines.length;
        await r.start();
        await h.waitForLog('Up again', state('Up'), 30_000, back);
        await r.waitForState(ip('node1'), 'Up');
      });

      it('Herald SIGKILL -> the router sees Down; a new Herald -> Up', async () => {
        const r = await startRouter(kind);
        const h = herald();
        await h.waitForLog('Up', state('Up'), 30_000);
        await r.waitForState(ip('node1'), 'Up');
        await new Promise((res) => setTimeout(res, 1500));
        const killedAt = Date.now();
        await h.stop('SIGKILL');
        const seen = await r.waitForState(ip('node1'), 'Down', 10_000, 20);
        console.log(`[bfd ${kind}] herald SIGKILL -> ${kind} Down seen (polling every 20 ms): ${seen - killedAt} ms`);
        const h2 = herald();
        await h2.waitForLog('Up', state('Up'), 30_000);
        await r.waitForState(ip('node1'), 'Up');
      });

      it("Herald's link cut -> both sides Down; link back -> Up", async () => {
        const r = await startRouter(kind);
        const h = herald();
        await h.waitForLog('Up', state('Up'), 30_000);
        await r.waitForState(ip('node1'), 'Up');
        await new Promise((res) => setTimeout(res, 1500));
        const mark = h.lines.length;
        const cutAt = Date.now();
        await lab.mustExec('node1', 'ip', ['link', 'set', 'eth0', 'down']);
        const seen = await r.waitForState(ip('node1'), 'Down', 10_000, 20);
        const down = await h.waitForLog('Down', state('Down'), 10_000, mark);
        expect(down).toMatchObject({ diag: 'control-detection-time-expired' });
        console.log(`[bfd ${kind}] link cut -> ${kind} Down seen: ${seen - cutAt} ms; herald Down: ${down.time - cutAt} ms`);
        const back = h.lines.length;
        await lab.mustExec('node1', 'ip', ['link', 'set', 'eth0', 'up']);
        await h.waitForLog('Up again', state('Up'), 30_000, back);
        await r.waitForState(ip('node1'), 'Up');
      });

      it('Herald SIGTERM -> AdminDown: the router goes Down at once (neighbor signaled down)', async () => {
        const r = await startRouter(kind);
        const h = herald();
        await h.waitForLog('Up', state('Up'), 30_000);
        await r.waitForState(ip('node1'), 'Up');
        const at = Date.now();
        expect(await h.stop('SIGTERM')).toEqual({ code: 0, signal: null });
        const seen = await r.waitForState(ip('node1'), 'Down', 10_000, 20);
        // Well under a Detection Time: the AdminDown packet, not the timer, brought it down.
        console.log(`[bfd ${kind}] herald SIGTERM (AdminDown) -> ${kind} Down seen: ${seen - at} ms`);
      });

      it('multihop (RFC 5883, port 4784, minimum TTL checked): Up; router killed -> Herald Down', async () => {
        const r = await startRouter(kind, true);
        // FRR sends multihop BFD with TTL 255 (our default minimum 254 passes); BIRD with the system
        // default TTL 64, which the default minimum drops (counted as `ttl`): accept 64 for BIRD.
        const h = herald(['--multihop', ...(kind === 'bird' ? ['--min-ttl', '64'] : [])]);
        const start = await h.waitForLog('start', (l) => l.event === 'start');
        expect(start).toMatchObject({ port: 4784, multihop: true });
        await h.waitForLog('Up', state('Up'), 30_000);
        await r.waitForState(ip('node1'), 'Up');
        const mark = h.lines.length;
        r.kill();
        await h.waitForLog('Down', (l) => state('Down')(l) && l.diag === 'control-detection-time-expired', 10_000, mark);
      });
    });
  }

  describe('hostile input', () => {
    /** Sends UDP datagrams from a lab host with a given TTL (dgram, in the host's namespace). */
    async function send(host: string, ttl: number, packets: string[], port = 3784): Promise<void> {
      const script = `
        const d = require('node:dgram').createSocket('udp4');
        d.bind({ address: '${ip(host)}', port: 49999 }, async () => {
          d.setTTL(${ttl});
          for (const hex of ${JSON.stringify(packets)}) await new Promise((r) => d.send(Buffer.from(hex, 'hex'), ${port}, '${ip('node1')}', r));
          d.close();
        });`;
      await lab.mustExec(host, process.execPath, ['-e', script]);
    }
    /** A control packet in hex, field by field (RFC 5880 §4.1); the defaults make a valid Down packet. */
    const pkt = (f: { b0?: string; b1?: string; mult?: string; len?: string; my?: string; your?: string } = {}): string =>
      `${f.b0 ?? '20'}${f.b1 ?? '40'}${f.mult ?? '03'}${f.len ?? '18'}${f.my ?? '00000007'}${f.your ?? '00000000'}000493e0000493e000000000`;

    it('bad packets are dropped silently and counted; the session to BIRD stays Up', async () => {
      const r = await startRouter('bird');
      const h = herald(['--stats-interval', '1']);
      await h.waitForLog('Up', state('Up'), 30_000);
      const upLines = h.lines.length;
      const forged = [
        pkt({ b0: '00' }), // version 0
        pkt({ b0: '40' }), // version 2
        pkt({ len: '10' }), // Length 16
        pkt({ len: '30' }), // Length beyond the payload
        pkt({ my: '00000000' }), // My Discriminator 0
        pkt({ b1: 'c0' }), // Up with Your Discriminator 0
        pkt({ mult: '00' }), // Detect Mult 0
        pkt({ b1: '41' }), // Multipoint
      ];
      await send('router', 255, forged);
      await send('router', 64, [pkt()]); // a valid packet with TTL 64: GTSM drops it
      await send('stranger', 255, [pkt()]); // from an address with no session
      await send('stranger', 255, [pkt({ b1: 'c0', your: '12345678' })]); // a discriminator that is none of ours
      const expected: Record<string, number> = {
        BadVersion: 2,
        BadLength: 2,
        ZeroMyDiscriminator: 1,
        ZeroYourDiscriminator: 1,
        ZeroDetectMult: 1,
        Multipoint: 1,
        ttl: 1,
        'unknown-source': 1,
        'unknown-discriminator': 1,
      };
      const stats = await h.waitForLog(
        'drop counters',
        (l) => l.event === 'stats' && Object.entries(expected).every(([k, v]) => ((l.dropped ?? {}) as Record<string, number>)[k] === v),
        15_000,
        upLines,
      );
      // Exactly these: nothing else was dropped (the router's own packets all passed).
      expect(stats.dropped).toEqual(expected);
      // Nothing answered, nothing changed: the session is still Up on both sides, and the drops were logged (rate-limited).
      expect(h.lines.slice(upLines).some((l) => l.event === 'state')).toBe(false);
      expect(await r.state(ip('node1'))).toBe('Up');
      expect(h.lines.some((l) => l.event === 'drop' && l.reason === 'ttl' && /255/.test(String(l.msg)))).toBe(true);
    });
  });
});
