// Hostile BGP peers against a Herald BGP listener and sessions in a child process (so its
// descriptors and RSS are Herald's alone), on 127.0.0.0/8 only:
//   - HOSTILE_CYCLES (10,000) hostile session cycles from a configured peer (bad OPEN, or connect
//     and close, the peer keeping its end open for a while) and from a stranger;
//   - a never-reading peer sending HOSTILE_REFRESHES (1,000,000) ROUTE-REFRESH requests;
//   - a well-behaved router Established throughout, and a new one getting in after each phase.
// Prints descriptors and RSS before/after each phase (target: flat within ±5 %), one figure a line.
import { fork, type ChildProcess } from 'node:child_process';
import { systemClock } from '../../protocols/clock.js';
import { BgpListener } from '../../protocols/bgp/listener.js';
import { BgpResources, BgpSession } from '../../protocols/bgp/index.js';
import { acceptedSockets, HostileConnection, openFds, peerOpen, sleep } from '../unit/bgp/hostile-peer.js';

const CYCLES = Number(process.env.HOSTILE_CYCLES ?? 10_000);
const REFRESHES = Number(process.env.HOSTILE_REFRESHES ?? 1_000_000);
const ROUTES = 10_000;

interface Stats {
  fds: number;
  rssMb: number;
  heapMb: number;
  gc: boolean;
  accepted: number;
  states: Record<string, string>;
  queued: Record<string, number>;
  refused: number;
  destroyed: number;
  outOfResources: number;
}

// ------------------------------------------------------------------ Herald side (child process)
async function herald(): Promise<void> {
  const resources = new BgpResources();
  const sessions = new Map<string, BgpSession>();
  for (const peer of ['127.0.0.1', '127.0.0.3', '127.0.0.4', '127.0.0.6']) {
    const s = new BgpSession(
      { localAs: 64512, peerAs: 65001, peerAddress: peer, passive: true, holdTime: 90, routerId: '192.0.2.10' },
      { clock: systemClock, connect: () => { throw new Error('passive'); }, resources },
    );
    for (let i = 0; i < ROUTES; i++) s.announce(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
    s.start();
    sessions.set(peer, s);
  }
  const listener = await BgpListener.open({
    address: '127.0.0.1',
    port: 0,
    resources,
    peers: [...sessions].map(([address, s]) => ({ address, accept: (socket) => s.acceptIncoming(socket) })),
  });
  let maxQueued = 0;
  setInterval(() => (maxQueued = Math.max(maxQueued, sessions.get('127.0.0.4')!.queuedBytes)), 5).unref();
  const stats = (): Stats & { maxQueued: number } => {
    (globalThis as { gc?: () => void }).gc?.();
    return {
      fds: openFds(),
      rssMb: process.memoryUsage().rss / 2 ** 20,
      heapMb: (process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers) / 2 ** 20,
      gc: typeof (globalThis as { gc?: () => void }).gc === 'function',
      accepted: acceptedSockets(listener.port),
      states: Object.fromEntries([...sessions].map(([p, s]) => [p, s.state])),
      queued: Object.fromEntries([...sessions].map(([p, s]) => [p, s.queuedBytes])),
      refused: [...resources.connectionsRefused.values()].reduce((a, b) => a + b, 0),
      destroyed: resources.connectionsDestroyed,
      outOfResources: [...resources.sessionsOutOfResources.values()].reduce((a, b) => a + b, 0),
      maxQueued,
    };
  };
  process.on('message', (m: string) => {
    if (m === 'stats') process.send!(stats());
    if (m === 'exit') process.exit(0);
  });
  process.send!({ port: listener.port });
}

// ------------------------------------------------------------------ hostile side (this process)
function ask<T>(child: ChildProcess, msg: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(msg);
  });
}

const pct = (a: number, b: number): string => `${(((b - a) / a) * 100).toFixed(1)} %`;

async function settle(child: ChildProcess): Promise<Stats & { maxQueued: number }> {
  // Past the close grace (1.5 s): what is still held now is held for good.
  await sleep(2500);
  await ask(child, 'stats');
  return ask(child, 'stats');
}

async function newcomerGetsIn(port: number, from: string, id: string): Promise<string> {
  const t0 = performance.now();
  const c = await HostileConnection.connect({ port, from });
  await c.establish(peerOpen(65001, id));
  const ms = performance.now() - t0;
  const ok = c.has('keepalive') && !c.has('notification');
  c.destroy();
  return ok ? `${ms.toFixed(0)} ms` : 'NOT (refused)';
}

async function main(): Promise<void> {
  const child = fork(process.argv[1], [], { env: { ...process.env, HOSTILE_ROLE: 'herald' }, execArgv: [...process.execArgv, '--expose-gc'] });
  const { port } = await new Promise<{ port: number }>((resolve) => child.once('message', (m) => resolve(m as { port: number })));
  const router = await HostileConnection.connect({ port, from: '127.0.0.3' });
  await router.establish(peerOpen(65001, '198.51.100.3'));
  const keepalive = setInterval(() => router.send({ type: 'keepalive' }), 10_000);

  const base = await settle(child);
  console.log(`baseline: descriptors ${base.fds}, RSS ${base.rssMb.toFixed(1)} MB, JS heap + buffers ${base.heapMb.toFixed(1)} MB${base.gc ? '' : ' (no --expose-gc: figures include garbage)'}`);

  // Phase 1: hostile session cycles.
  const t1 = performance.now();
  let held: HostileConnection[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const from = i % 4 === 3 ? '127.0.0.2' : '127.0.0.1';
    const c = await HostileConnection.connect({ port, from });
    if (i % 2 === 0 && from === '127.0.0.1') {
      await c.until(() => c.has('open') || c.has('notification') || c.ended, 5000).catch(() => undefined);
      if (!c.ended && c.has('open')) c.send(peerOpen(65099));
    } else c.socket.end();
    held.push(c);
    if (held.length >= 200) {
      for (const h of held) h.destroy();
      held = [];
    }
  }
  for (const h of held) h.destroy();
  const cyclesMs = performance.now() - t1;
  const after1 = await settle(child);
  console.log(`hostile cycles: ${CYCLES} in ${(cyclesMs / 1000).toFixed(1)} s (${Math.round(CYCLES / (cyclesMs / 1000))}/s)`);
  console.log(`hostile cycles: refused ${after1.refused}, destroyed after grace ${after1.destroyed}`);
  console.log(`hostile cycles: descriptors ${base.fds} -> ${after1.fds} (${pct(base.fds, after1.fds)}), accepted sockets left ${after1.accepted}`);
  console.log(`hostile cycles: RSS ${base.rssMb.toFixed(1)} -> ${after1.rssMb.toFixed(1)} MB (${pct(base.rssMb, after1.rssMb)})`);
  console.log(`hostile cycles: JS heap + buffers ${base.heapMb.toFixed(1)} -> ${after1.heapMb.toFixed(1)} MB (${pct(base.heapMb, after1.heapMb)})`);
  console.log(`hostile cycles: well-behaved router still ${after1.states['127.0.0.3']}`);
  console.log(`hostile cycles: a new well-behaved router Established in ${await newcomerGetsIn(port, '127.0.0.6', '198.51.100.6')}`);

  // Phase 2: ROUTE-REFRESH flood from a peer that never reads.
  const before2 = await settle(child);
  const flooder = await HostileConnection.connect({ port, from: '127.0.0.4' });
  await flooder.establish(peerOpen(65001, '198.51.100.4'));
  flooder.stopReading();
  const t2 = performance.now();
  for (let sent = 0; sent < REFRESHES; sent += 50_000) {
    flooder.floodRouteRefresh(Math.min(50_000, REFRESHES - sent));
    await new Promise<void>((r) => (flooder.socket.writableLength > 0 ? flooder.socket.once('drain', () => r()) : r()));
  }
  const floodMs = performance.now() - t2;
  const mid = await settle(child);
  console.log(`refresh flood: ${REFRESHES} requests written in ${(floodMs / 1000).toFixed(1)} s; session ${mid.states['127.0.0.4']}, max queued ${mid.maxQueued} bytes, now ${mid.queued['127.0.0.4']}, torn down for resources ${mid.outOfResources}`);
  flooder.destroy();
  const after2 = await settle(child);
  console.log(`refresh flood: descriptors ${before2.fds} -> ${after2.fds} (${pct(before2.fds, after2.fds)})`);
  console.log(`refresh flood: RSS ${before2.rssMb.toFixed(1)} -> ${mid.rssMb.toFixed(1)} (during) -> ${after2.rssMb.toFixed(1)} MB (${pct(before2.rssMb, after2.rssMb)})`);
  console.log(`refresh flood: JS heap + buffers ${before2.heapMb.toFixed(1)} -> ${mid.heapMb.toFixed(1)} (during) -> ${after2.heapMb.toFixed(1)} MB (${pct(before2.heapMb, after2.heapMb)})`);
  console.log(`refresh flood: well-behaved router still ${after2.states['127.0.0.3']}`);
  console.log(`refresh flood: a new well-behaved router Established in ${await newcomerGetsIn(port, '127.0.0.6', '198.51.100.6')}`);

  clearInterval(keepalive);
  router.destroy();
  child.send('exit');
}

if (process.env.HOSTILE_ROLE === 'herald') void herald();
else
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
