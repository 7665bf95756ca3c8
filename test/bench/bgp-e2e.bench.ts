// End to end: time from starting the announcement (the CLI's `start` log line, just before the
// session starts connecting) until the router holds all N = 100,000 /32s, for BIRD and for FRR;
// in the same run the same N sent by GoBGP (gobgpd), and the ratio; also withdrawal time.
//
// Then (part `extended`) RFC 8654 extended messages on and off against BIRD in the same run.
//
// Routes come from 198.18.0.0/15 (RFC 2544): BGP payload only, never exported to a kernel table
// (the routers run with kernel export off; BIRD and FRR filter 198.18.0.0/15 regardless).
//
// GoBGP gets the routes from a herald feeder session (its `gobgp mrt inject` exits before the
// server has read the stream and drops routes); its session toward the router starts admin-down
// and is enabled once gobgpd holds all N. gobgpd waits seconds before connecting after `neighbor
// enable`, so the comparison (the ratio) is from the router seeing the session Established until
// it holds all N, for both senders; herald's figure from `start` is printed too (the target).
// Its withdrawal figure runs from SIGTERM of the feeder (herald withdraws from gobgpd in packed
// UPDATEs; gobgpd forwards one prefix per UPDATE) until the router holds none.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labUnavailableReason } from '../lab/netns.js';
import { BENCH_V4, BirdRouter, FrrRouter, GobgpRouter, sleep, type Router } from '../lab/routers.js';
import { assertCliBuilt, startSpeaker, type Speaker } from '../lab/bgp-speaker.js';

const N = Number(process.env.BGP_E2E_ROUTES ?? 100_000);
/** Which parts run: `routers` (BIRD and FRR against GoBGP), `extended` (RFC 8654 on/off against BIRD), `unnumbered` (RFC 8950 against numbered, BIRD); default all. */
const PARTS = new Set((process.env.BGP_E2E_PARTS ?? 'routers,extended,unnumbered').split(','));
/** Rounds of the extended-messages comparison (each: one run with, one without, alternating). */
const EXTENDED_ROUNDS = Number(process.env.BGP_E2E_EXTENDED_ROUNDS ?? 3);
const ROUTER_AS = 65000;
const HERALD_AS = 65001;
const GOBGP_AS = 65002;
const POLL_MS = 2;

function benchPrefixes(n: number): string {
  const lines: string[] = [];
  const base = (198 << 24) | (18 << 16);
  for (let i = 0; i < n; i++) {
    const a = (base + i) >>> 0;
    lines.push(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32`);
  }
  return lines.join('\n') + '\n';
}

/** Polls the router's count until pred holds; returns the Date.now() of the first poll that saw it. */
async function until(r: Router, pred: (n: number) => boolean, what: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    last = await r.routeCount();
    const now = Date.now();
    if (pred(last)) return now;
    if (now > deadline) throw new Error(`${r.kind}: ${what}: timed out after ${timeoutMs} ms (count ${last})\n${r.logs()}`);
    await sleep(POLL_MS);
  }
}

/** Benchmark payload must never reach a kernel table: fail the run if it did. */
async function assertNoBenchRoutesInKernel(lab: Lab, host: string): Promise<void> {
  const out = await lab.mustExec(host, 'ip', ['-4', 'route', 'show', 'root', BENCH_V4]);
  if (out.trim()) throw new Error(`${BENCH_V4} routes reached ${host}'s kernel table:\n${out.slice(0, 500)}`);
}

function fmt(x: number): string {
  return x.toFixed(x < 1 ? 3 : 2);
}

async function main(): Promise<void> {
  const reason = labUnavailableReason();
  if (reason !== null) {
    if (process.env.CI === 'true') throw new Error(`bgp-e2e cannot run: ${reason}`);
    console.log(`# bgp-e2e skipped: ${reason}`);
    return;
  }
  assertCliBuilt();
  const tmp = mkdtempSync(join(tmpdir(), 'herald-bgp-e2e-'));
  const prefixFile = join(tmp, 'prefixes.txt');
  writeFileSync(prefixFile, benchPrefixes(N));
  // The machine is shared: the load average says how much to trust the figures.
  console.log(`bgp.e2e.loadavg1.before ${loadavg()[0].toFixed(2)}`);
  const k = N >= 1000 && N % 1000 === 0 ? `${N / 1000}k` : String(N);
  const lab = await Lab.create({ hosts: ['router', 'node1', 'gobgp'], prefix: 'he' });
  const speakers: Speaker[] = [];
  try {
    const ip = (h: string): string => lab.host(h).ipv4;
    if (PARTS.has('extended')) await extendedMessages(lab, prefixFile, k, speakers);
    if (PARTS.has('unnumbered')) await unnumbered(lab, prefixFile, k, speakers);
    for (const kind of PARTS.has('routers') ? (['bird', 'frr'] as const) : []) {
      const peers = [
        { address: ip('node1'), as: HERALD_AS },
        { address: ip('gobgp'), as: GOBGP_AS },
      ];
      const router = kind === 'bird' ? new BirdRouter(lab, { as: ROUTER_AS, peers, kernelExport: false }) : new FrrRouter(lab, { as: ROUTER_AS, peers, kernelExport: false, zebra: false });
      await router.start();
      try {
        // herald: announce, then withdraw (SIGTERM).
        const h = startSpeaker(lab, 'node1', ['--local-as', String(HERALD_AS), '--peer-address', ip('router'), '--peer-as', String(ROUTER_AS), '--source-address', ip('node1'), '--prefix-file', prefixFile]);
        speakers.push(h);
        const start = await h.waitForLog('start', (l) => l.event === 'start', 60_000);
        const t1 = await until(router, (n) => n >= N, 'herald announce', 120_000);
        const announce = (t1 - start.time) / 1000;
        await assertNoBenchRoutesInKernel(lab, 'router');
        // The session's state change to Established (logged before the routes are sent).
        const established = await h.waitForLog('Established', (l) => l.event === 'state' && l.to === 'Established', 1000);
        const tw = Date.now();
        h.child.kill('SIGTERM');
        const t2 = await until(router, (n) => n === 0, 'herald withdraw', 120_000);
        const withdraw = (t2 - tw) / 1000;
        await h.exited;

        // GoBGP: fed by a herald session, then its router-facing session is enabled.
        const gobgp = new GobgpRouter(lab, {
          host: 'gobgp',
          as: GOBGP_AS,
          peers: [
            { address: ip('router'), as: ROUTER_AS, passive: false, disabled: true },
            { address: ip('node1'), as: HERALD_AS },
          ],
        });
        await gobgp.start();
        let gAnnounce: number;
        let gEstablishedToAll: number;
        let gWithdraw: number;
        try {
          const feeder = startSpeaker(lab, 'node1', ['--local-as', String(HERALD_AS), '--peer-address', ip('gobgp'), '--peer-as', String(GOBGP_AS), '--source-address', ip('node1'), '--prefix-file', prefixFile]);
          speakers.push(feeder);
          await gobgp.waitFor(`gobgpd holding ${N}`, () => gobgp.routeCount(), (n) => n >= N, 120_000, 100);
          const g0 = Date.now();
          await gobgp.cli(['neighbor', ip('router'), 'enable']);
          await router.waitFor('gobgp session', () => router.peerState(ip('gobgp')), (st) => st === 'Established', 60_000, POLL_MS);
          const gUp = Date.now();
          const g1 = await until(router, (n) => n >= N, 'gobgp announce', 300_000);
          gAnnounce = (g1 - g0) / 1000;
          gEstablishedToAll = (g1 - gUp) / 1000;
          const gw = Date.now();
          feeder.child.kill('SIGTERM');
          const g2 = await until(router, (n) => n === 0, 'gobgp withdraw', 300_000);
          gWithdraw = (g2 - gw) / 1000;
          await feeder.exited;
        } finally {
          await gobgp.close();
        }
        const name = `bgp.e2e.${kind}`;
        const hEstablishedToAll = (t1 - established.time) / 1000;
        console.log(`${name}.herald.announce.${k}.seconds ${fmt(announce)}`);
        console.log(`${name}.herald.established_to_all.${k}.seconds ${fmt(hEstablishedToAll)}`);
        // Of which the speaker's own work: from Established until its 'established' event, emitted
        // once every UPDATE and the End-of-RIB have been handed to the socket.
        const flushed = h.lines.find((l) => l.event === 'established');
        if (flushed) console.log(`${name}.herald.established_to_flushed.${k}.seconds ${fmt((flushed.time - established.time) / 1000)}`);
        console.log(`${name}.herald.withdraw.${k}.seconds ${fmt(withdraw)}`);
        console.log(`${name}.gobgp.enable_to_all.${k}.seconds ${fmt(gAnnounce)}`);
        console.log(`${name}.gobgp.established_to_all.${k}.seconds ${fmt(gEstablishedToAll)}`);
        console.log(`${name}.gobgp.withdraw.${k}.seconds ${fmt(gWithdraw)}`);
        // Compared from Established on: gobgpd's own delay before connecting after `neighbor enable` is not the point.
        console.log(`${name}.established_to_all.gobgp_over_herald.ratio ${fmt(gEstablishedToAll / hEstablishedToAll)}`);
        console.log(`${name}.withdraw.gobgp_over_herald.ratio ${fmt(gWithdraw / withdraw)}`);
      } finally {
        await router.close();
      }
    }
  } finally {
    for (const s of speakers) await s.stop('SIGKILL');
    await lab.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * RFC 8654 against BIRD (`enable extended messages on`), same run: herald with and without the
 * capability, alternating, EXTENDED_ROUNDS times. Figures: prefixes per UPDATE (from the UPDATEs
 * herald wrote, End-of-RIB excluded) and the time from the router seeing Established until it holds all N.
 */
async function extendedMessages(lab: Lab, prefixFile: string, k: string, speakers: Speaker[]): Promise<void> {
  const ip = (h: string): string => lab.host(h).ipv4;
  const router = new BirdRouter(lab, { as: ROUTER_AS, peers: [{ address: ip('node1'), as: HERALD_AS, extendedMessages: true }], kernelExport: false });
  await router.start();
  const times: Record<'on' | 'off', number[]> = { on: [], off: [] };
  const perUpdate: Record<'on' | 'off', number[]> = { on: [], off: [] };
  try {
    for (let round = 0; round < EXTENDED_ROUNDS; round++) {
      for (const mode of ['on', 'off'] as const) {
        const args = ['--local-as', String(HERALD_AS), '--peer-address', ip('router'), '--peer-as', String(ROUTER_AS), '--source-address', ip('node1'), '--prefix-file', prefixFile];
        const h = startSpeaker(lab, 'node1', mode === 'on' ? args : [...args, '--no-extended-messages']);
        speakers.push(h);
        await router.waitFor('Established', () => router.peerState(ip('node1')), (st) => st === 'Established', 60_000, POLL_MS);
        const up = Date.now();
        const all = await until(router, (n) => n >= N, `extended ${mode}`, 120_000);
        const flushed = await h.established(10_000);
        if (flushed.extendedMessages !== (mode === 'on')) throw new Error(`extended messages ${mode}: the session negotiated ${String(flushed.extendedMessages)}`);
        times[mode].push((all - up) / 1000);
        perUpdate[mode].push(N / (Number(flushed.updatesSent) - 1));
        h.child.kill('SIGKILL');
        await h.exited;
        await until(router, (n) => n === 0, 'flush after the speaker went', 120_000);
      }
    }
  } finally {
    await router.close();
  }
  const name = 'bgp.e2e.bird.extended';
  for (const mode of ['on', 'off'] as const) {
    // Average over the UPDATEs carrying routes (the last one is partial): N / messages.
    console.log(`${name}.${mode}.updates ${Math.round(N / median(perUpdate[mode]))}`);
    console.log(`${name}.${mode}.prefixes_per_update ${Math.round(median(perUpdate[mode]))}`);
    console.log(`${name}.${mode}.established_to_all.${k}.seconds ${fmt(median(times[mode]))} (runs: ${times[mode].map(fmt).join(', ')})`);
  }
  console.log(`${name}.established_to_all.off_over_on.ratio ${fmt(median(times.off) / median(times.on))}`);
  console.log(`bgp.e2e.loadavg1.after_extended ${loadavg()[0].toFixed(2)}`);
}

/**
 * Unnumbered (RFC 8950) against numbered, same run, against BIRD: the same N /32s over an IPv6
 * link-local session on a point-to-point link (IPv4 routes in MP_REACH_NLRI with an IPv6 next hop)
 * and over the IPv4 session, alternating. Target: unnumbered within 1.2x of numbered.
 */
async function unnumbered(lab: Lab, prefixFile: string, k: string, speakers: Speaker[]): Promise<void> {
  const ip = (h: string): string => lab.host(h).ipv4;
  const ll = await lab.link('router', 'u1', 'node1', 'u0');
  const router = new BirdRouter(lab, {
    as: ROUTER_AS,
    peers: [
      { address: ip('node1'), as: HERALD_AS, extendedMessages: true },
      { address: ll.b, interface: 'u1', as: HERALD_AS, extendedMessages: true },
    ],
    kernelExport: false,
  });
  await router.start();
  const times: Record<'numbered' | 'unnumbered', number[]> = { numbered: [], unnumbered: [] };
  try {
    for (let round = 0; round < EXTENDED_ROUNDS; round++) {
      for (const mode of ['numbered', 'unnumbered'] as const) {
        const common = ['--local-as', String(HERALD_AS), '--peer-as', String(ROUTER_AS), '--prefix-file', prefixFile];
        const args = mode === 'numbered' ? [...common, '--peer-address', ip('router'), '--source-address', ip('node1')] : [...common, '--interface', 'u0', '--peer-address', ll.a];
        const h = startSpeaker(lab, 'node1', args);
        speakers.push(h);
        const peer = mode === 'numbered' ? ip('node1') : ll.b;
        await router.waitFor('Established', () => router.peerState(peer), (st) => st === 'Established', 60_000, POLL_MS);
        const up = Date.now();
        const all = await until(router, (n) => n >= N, mode, 120_000);
        const flushed = await h.established(10_000);
        if (mode === 'unnumbered' && flushed.extendedNextHop !== true) throw new Error('unnumbered: Extended Next Hop was not negotiated');
        times[mode].push((all - up) / 1000);
        h.child.kill('SIGKILL');
        await h.exited;
        await until(router, (n) => n === 0, 'flush after the speaker went', 120_000);
      }
    }
  } finally {
    await router.close();
  }
  const name = 'bgp.e2e.bird.unnumbered';
  for (const mode of ['numbered', 'unnumbered'] as const) {
    console.log(`${name}.${mode}.established_to_all.${k}.seconds ${fmt(median(times[mode]))} (runs: ${times[mode].map(fmt).join(', ')})`);
  }
  console.log(`${name}.unnumbered_over_numbered.ratio ${fmt(median(times.unnumbered) / median(times.numbered))} (target <= 1.2)`);
  console.log(`bgp.e2e.loadavg1.after_unnumbered ${loadavg()[0].toFixed(2)}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
