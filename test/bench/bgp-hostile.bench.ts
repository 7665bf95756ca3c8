// Hostile BGP peers against a Herald BGP listener and sessions in a child process (so its
// descriptors and memory are Herald's alone), on 127.0.0.0/8 only:
//   - HOSTILE_CYCLES (10,000) hostile session cycles from a configured peer (bad OPEN, or connect
//     and close, the peer keeping its end open for a while) and from a stranger;
//   - a never-reading peer sending HOSTILE_REFRESHES (1,000,000) ROUTE-REFRESH requests;
//   - a real router (BIRD, in the foreground, its control socket in a temporary directory; no
//     kernel protocol, so it touches no route) Established throughout and reconnecting after each
//     phase, and a new scripted router getting in after each phase.
// Method (target: descriptors and RSS flat within ±5 %): the first tenth of each phase is warm-up
// (V8 compiles the hot paths and sizes its young generation, glibc sizes its arenas). Then a
// checkpoint every tenth: wait past the close grace, force two full GCs, read /proc/self/fd, RSS,
// heapUsed and the V8 spaces. "start" is the median of the first three checkpoints, "end" the median
// of the last three. Herald's process runs as the speaker is deployed (SPEAKER_NODE_FLAGS, glibc
// MALLOC_ARENA_MAX=2, kube/manifests.ts); HOSTILE_NODE_DEFAULTS=1 runs it with Node's defaults instead,
// to show what V8's young generation (up to 16 MB per semi-space) does to RSS.
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { systemClock } from '../../protocols/clock.js';
import { BgpListener } from '../../protocols/bgp/listener.js';
import { BgpResources, BgpSession } from '../../protocols/bgp/index.js';
import { SPEAKER_MALLOC_ARENA_MAX, SPEAKER_NODE_FLAGS } from '../../kube/manifests.js';
import { birdCommand } from '../lab/routers.js';
import { acceptedSockets, HostileConnection, openFds, peerOpen, sleep } from '../unit/bgp/hostile-peer.js';

const CYCLES = Number(process.env.HOSTILE_CYCLES ?? 10_000);
const REFRESHES = Number(process.env.HOSTILE_REFRESHES ?? 1_000_000);
const ROUTES = 10_000;
const BIRD_PEER = '127.0.0.3';
const ROUTE_REFRESH_BYTES = 23;

interface Stats {
  fds: number;
  rssMb: number;
  heapUsedMb: number;
  /** V8's young generation (new space), committed. */
  newSpaceMb: number;
  gc: boolean;
  accepted: number;
  states: Record<string, string>;
  queued: Record<string, number>;
  refused: number;
  destroyed: number;
  outOfResources: number;
  maxQueued: number;
  /** Bytes Herald has read from the ROUTE-REFRESH flooder (127.0.0.4). */
  floodBytesRead: number;
}

// ------------------------------------------------------------------ Herald side (child process)
async function herald(): Promise<void> {
  const resources = new BgpResources();
  const sessions = new Map<string, BgpSession>();
  let floodBytesRead = 0;
  for (const peer of ['127.0.0.1', BIRD_PEER, '127.0.0.4', '127.0.0.6']) {
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
    peers: [...sessions].map(([address, s]) => ({
      address,
      accept: (socket) => {
        s.acceptIncoming(socket);
        if (address === '127.0.0.4') socket.on('data', (chunk: Buffer) => (floodBytesRead += chunk.length));
      },
    })),
  });
  let maxQueued = 0;
  setInterval(() => (maxQueued = Math.max(maxQueued, sessions.get('127.0.0.4')!.queuedBytes)), 5).unref();
  const gc = (globalThis as { gc?: () => void }).gc;
  const stats = (): Stats => {
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    return {
      fds: openFds(),
      rssMb: m.rss / 2 ** 20,
      heapUsedMb: m.heapUsed / 2 ** 20,
      newSpaceMb: (getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 2 ** 20,
      gc: gc !== undefined,
      accepted: acceptedSockets(listener.port),
      states: Object.fromEntries([...sessions].map(([p, s]) => [p, s.state])),
      queued: Object.fromEntries([...sessions].map(([p, s]) => [p, s.queuedBytes])),
      refused: [...resources.connectionsRefused.values()].reduce((a, b) => a + b, 0),
      destroyed: resources.connectionsDestroyed,
      outOfResources: [...resources.sessionsOutOfResources.values()].reduce((a, b) => a + b, 0),
      maxQueued,
      floodBytesRead,
    };
  };
  process.on('message', (m: string) => {
    if (m === 'stats') process.send!(stats());
    if (m === 'exit') process.exit(0);
  });
  process.send!({ port: listener.port });
}

// ------------------------------------------------------------------ the real router: BIRD
class Bird {
  private readonly dir = mkdtempSync(join(tmpdir(), 'herald-hostile-bird-'));
  private proc: ChildProcess | undefined;
  private get sock(): string {
    return join(this.dir, 'bird.ctl');
  }

  async start(port: number): Promise<void> {
    // Only a BGP session over loopback: no kernel protocol, nothing exported, no route touched.
    writeFileSync(
      join(this.dir, 'bird.conf'),
      [
        'router id 198.51.100.3;',
        'protocol device { scan time 10; }',
        'protocol bgp r {',
        `  local ${BIRD_PEER} as 65001;`,
        `  neighbor 127.0.0.1 port ${port} as 64512;`,
        // BIRD takes no loopback neighbour as directly connected; multihop needs no route to connect.
        '  multihop;',
        '  connect delay time 1; connect retry time 1; error wait time 1, 2;',
        '  ipv4 { import all; export none; };',
        '}',
      ].join('\n') + '\n',
    );
    this.proc = spawn('bird', ['-f', '-c', join(this.dir, 'bird.conf'), '-s', this.sock], { stdio: 'ignore' });
    const end = Date.now() + 10_000;
    while (!(await this.cmd('show status').catch(() => '')).includes('Daemon is up')) {
      if (Date.now() > end) throw new Error('BIRD did not start');
      await sleep(50);
    }
  }

  cmd(c: string): Promise<string> {
    return birdCommand(this.sock, c);
  }

  async state(): Promise<string> {
    return /BGP state:\s+(\w+)/.exec(await this.cmd('show protocols all r'))?.[1] ?? 'Idle';
  }

  async routes(): Promise<number> {
    return Number(/for (\d+) networks in table master4/.exec(await this.cmd('show route count'))?.[1] ?? 0);
  }

  /** Established with all our routes, or the reason why not after ms. */
  async established(ms = 30_000): Promise<string> {
    const t0 = performance.now();
    let st = '';
    let n = 0;
    while (performance.now() - t0 < ms) {
      st = await this.state();
      if (st === 'Established' && (n = await this.routes()) === ROUTES) return `Established with ${n} routes in ${(performance.now() - t0).toFixed(0)} ms`;
      await sleep(20);
    }
    return `NOT Established after ${ms} ms (${st}, ${n} routes)`;
  }

  /** Drops its session and connects again (`birdc restart r`): does a real router get back in? */
  async reconnect(): Promise<string> {
    await this.cmd('restart r');
    await sleep(50);
    return this.established();
  }

  stop(): void {
    if (this.proc?.pid !== undefined && this.proc.exitCode === null) process.kill(this.proc.pid, 'SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ hostile side (this process)
function ask<T>(child: ChildProcess, msg: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(msg);
  });
}

const pct = (a: number, b: number): string => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)} %`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function settle(child: ChildProcess, floodBytes = 0): Promise<Stats> {
  // Past the close grace (1.5 s): what is still held now is held for good.
  await sleep(2000);
  // And Herald has read all the flood written so far (it reads at its own pace behind the kernel's buffers).
  for (let t = 0; t < 300 && (await ask<Stats>(child, 'stats')).floodBytesRead < floodBytes; t++) await sleep(100);
  return ask<Stats>(child, 'stats');
}

/** Prints start (median of the first 3 checkpoints) -> end (median of the last 3) per figure. */
function report(phase: string, cps: Stats[]): void {
  const series = (f: (s: Stats) => number, digits: number): string => cps.map((s) => f(s).toFixed(digits)).join(' ');
  const flat = (what: string, f: (s: Stats) => number, unit: string, digits: number): void => {
    const a = median(cps.slice(0, 3).map(f));
    const b = median(cps.slice(-3).map(f));
    console.log(`${phase}: ${what} ${a.toFixed(digits)} -> ${b.toFixed(digits)}${unit} (${pct(a, b)}); checkpoints ${series(f, digits)}`);
  };
  flat('descriptors', (s) => s.fds, '', 0);
  flat('RSS', (s) => s.rssMb, ' MB', 1);
  flat('heapUsed', (s) => s.heapUsedMb, ' MB', 2);
  flat('V8 new space', (s) => s.newSpaceMb, ' MB', 1);
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
  const asDeployed = process.env.HOSTILE_NODE_DEFAULTS !== '1';
  const extra = asDeployed ? [...SPEAKER_NODE_FLAGS] : [];
  const env = { ...process.env, HOSTILE_ROLE: 'herald', ...(asDeployed ? { MALLOC_ARENA_MAX: SPEAKER_MALLOC_ARENA_MAX } : {}) };
  console.log(`hostile: load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; Herald's process: ${asDeployed ? `as the speaker is deployed (${extra.join(' ')}, MALLOC_ARENA_MAX=${SPEAKER_MALLOC_ARENA_MAX})` : "Node's defaults"}, plus --expose-gc`);
  const child = fork(process.argv[1], [], { env, execArgv: [...process.execArgv, '--expose-gc', ...extra] });
  const bird = new Bird();
  try {
    const { port } = await new Promise<{ port: number }>((resolve) => child.once('message', (m) => resolve(m as { port: number })));
    await bird.start(port);
    console.log(`hostile: BIRD ${await bird.established()}`);

    const base = await settle(child);
    if (!base.gc) console.log('hostile: no --expose-gc in the child: figures include garbage');
    console.log(`baseline (before warm-up): descriptors ${base.fds}, RSS ${base.rssMb.toFixed(1)} MB, heapUsed ${base.heapUsedMb.toFixed(2)} MB, V8 new space ${base.newSpaceMb.toFixed(1)} MB`);

    // Phase 1: hostile session cycles; a checkpoint every tenth, the first tenth is warm-up.
    const step1 = Math.max(1, Math.round(CYCLES / 10));
    const cps1: Stats[] = [];
    let cyclesMs = 0;
    for (let done = 0; done < CYCLES; ) {
      const t1 = performance.now();
      let held: HostileConnection[] = [];
      for (const end = Math.min(CYCLES, done + step1); done < end; done++) {
        const from = done % 4 === 3 ? '127.0.0.2' : '127.0.0.1';
        const c = await HostileConnection.connect({ port, from });
        if (done % 2 === 0 && from === '127.0.0.1') {
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
      cyclesMs += performance.now() - t1;
      cps1.push(await settle(child));
    }
    const after1 = cps1[cps1.length - 1];
    console.log(`hostile cycles: ${CYCLES} in ${(cyclesMs / 1000).toFixed(1)} s (${Math.round(CYCLES / (cyclesMs / 1000))}/s)`);
    console.log(`hostile cycles: refused ${after1.refused}, destroyed after grace ${after1.destroyed}, accepted sockets left ${after1.accepted}`);
    report('hostile cycles', cps1);
    console.log(`hostile cycles: BIRD still ${await bird.state()}; after a reconnect ${await bird.reconnect()}`);
    console.log(`hostile cycles: a new scripted router Established in ${await newcomerGetsIn(port, '127.0.0.6', '198.51.100.6')}`);

    // Phase 2: ROUTE-REFRESH flood from a peer that never reads.
    const flooder = await HostileConnection.connect({ port, from: '127.0.0.4' });
    await flooder.establish(peerOpen(65001, '198.51.100.4'));
    flooder.stopReading();
    const step2 = Math.max(1, Math.round(REFRESHES / 10));
    const cps2: Stats[] = [];
    for (let sent = 0; sent < REFRESHES; ) {
      for (const end = Math.min(REFRESHES, sent + step2); sent < end; ) {
        const n = Math.min(50_000, end - sent);
        flooder.floodRouteRefresh(n);
        sent += n;
        await new Promise<void>((r) => (flooder.socket.writableLength > 0 ? flooder.socket.once('drain', () => r()) : r()));
      }
      cps2.push(await settle(child, sent * ROUTE_REFRESH_BYTES));
    }
    const mid = cps2[cps2.length - 1];
    console.log(`refresh flood: ${REFRESHES} requests sent; Herald read ${Math.floor(mid.floodBytesRead / ROUTE_REFRESH_BYTES)} requests' bytes; session ${mid.states['127.0.0.4']}, max queued ${mid.maxQueued} bytes, torn down for resources ${mid.outOfResources}`);
    report('refresh flood', cps2);
    flooder.destroy();
    const after2 = await settle(child);
    console.log(`refresh flood: flooder gone: descriptors ${after2.fds}, RSS ${after2.rssMb.toFixed(1)} MB, heapUsed ${after2.heapUsedMb.toFixed(2)} MB`);
    console.log(`refresh flood: BIRD still ${await bird.state()}; after a reconnect ${await bird.reconnect()}`);
    console.log(`refresh flood: a new scripted router Established in ${await newcomerGetsIn(port, '127.0.0.6', '198.51.100.6')}`);
    console.log(`hostile: load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    bird.stop();
    child.send('exit');
  }
}

if (process.env.HOSTILE_ROLE === 'herald') void herald();
else
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
