// The hostile peer (hostile-peer.ts) against real sessions behind a real listener on 127.0.0.1:
// descriptors given back after bad-OPEN and connect-close cycles, strangers refused with no
// descriptor kept and the log rate-limited, a never-reading ROUTE-REFRESH flooder torn down with
// Cease/Out of Resources, a slow reader served with coalesced answers, and a well-behaved peer that
// still gets in. Loopback only (127.0.0.0/8), no namespaces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../protocols/clock.js';
import { BgpListener } from '../../../protocols/bgp/listener.js';
import { BgpResources, BgpSession, type BgpSessionConfig } from '../../../protocols/bgp/index.js';
import { acceptedSockets, eventually, HostileConnection, openFds, peerOpen, sleep } from './hostile-peer.js';

const GRACE_MS = 200;
const resources = new BgpResources();
const warnings: string[] = [];
const log = {
  debug: () => {},
  info: () => {},
  warn: (_o: object, msg?: string) => warnings.push(msg ?? ''),
  error: () => {},
};
const sessions = new Map<string, BgpSession>();
let listener: BgpListener;
let port: number;

function session(peerAddress: string, extra: Partial<BgpSessionConfig> = {}): BgpSession {
  const s = new BgpSession(
    { localAs: 64512, peerAs: 65001, peerAddress, passive: true, holdTime: 90, closeGraceMs: GRACE_MS, connectRetry: { minMs: 5, maxMs: 20 }, routerId: '192.0.2.10', ...extra },
    { clock: systemClock, connect: () => { throw new Error('passive'); }, resources },
  );
  s.start();
  sessions.set(peerAddress, s);
  return s;
}

function table(s: BgpSession, n: number): void {
  for (let i = 0; i < n; i++) s.announce(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
}

beforeAll(async () => {
  session('127.0.0.1'); // the bad-OPEN cycler
  session('127.0.0.3'); // the well-behaved router
  table(session('127.0.0.4', { maxQueuedBytes: 16 * 1024 }), 5000); // never reads
  table(session('127.0.0.5'), 5000); // reads slowly
  listener = await BgpListener.open({
    address: '127.0.0.1',
    port: 0,
    log,
    resources,
    peers: [...sessions].map(([address, s]) => ({ address, accept: (socket) => s.acceptIncoming(socket) })),
  });
  port = listener.port;
});

afterAll(async () => {
  await listener?.close();
  await Promise.all([...sessions.values()].map((s) => s.stop('test over')));
});

describe('hostile peers on loopback', () => {
  it('300 bad-OPEN / connect-close cycles from a configured peer keeping its end open: our descriptors come back', async () => {
    const fdsBefore = openFds();
    expect(acceptedSockets(port)).toBe(0);
    const held: HostileConnection[] = [];
    for (let i = 0; i < 300; i++) {
      const c = await HostileConnection.connect({ port });
      held.push(c);
      if (i % 2 === 0) {
        // Bad OPEN (wrong AS): NOTIFICATION 2/2, or 6/5 while the back-off runs.
        await c.until(() => c.has('open') || c.has('notification') || c.ended);
        if (!c.ended) c.send(peerOpen(65099));
        await c.until(() => c.ended);
      } else {
        c.socket.end(); // connect-close
      }
    }
    // The peer still holds all 300 of its ends; ours must be gone once the grace has passed.
    await eventually(() => acceptedSockets(port) === 0, () => `${acceptedSockets(port)} accepted sockets still open`);
    expect(resources.connectionsDestroyed).toBeGreaterThan(0);
    for (const c of held) c.destroy();
    await eventually(() => openFds() <= fdsBefore + 5, () => `${openFds()} descriptors, ${fdsBefore} before`);
  });

  it('strangers are refused at once, hold no descriptor, and are logged at a limited rate', async () => {
    const warnsBefore = warnings.length;
    const before = resources.connectionsRefused.get('not-a-peer') ?? 0;
    const fdsBefore = openFds();
    for (let i = 0; i < 200; i++) {
      const c = await HostileConnection.connect({ port, from: '127.0.0.2' });
      await c.until(() => c.ended);
      c.destroy();
    }
    expect((resources.connectionsRefused.get('not-a-peer') ?? 0) - before).toBe(200);
    expect(warnings.length - warnsBefore).toBeLessThanOrEqual(1);
    await eventually(() => openFds() <= fdsBefore + 5, () => `${openFds()} descriptors, ${fdsBefore} before`);
  });

  it('a well-behaved router still gets in', async () => {
    const c = await HostileConnection.connect({ port, from: '127.0.0.3' });
    await c.establish(peerOpen(65001, '198.51.100.3'));
    expect(sessions.get('127.0.0.3')!.state).toBe('Established');
    c.destroy();
  });

  it('a never-reading peer flooding ROUTE-REFRESH: queued bytes bounded, Cease/Out of Resources, queue given back', async () => {
    const s = sessions.get('127.0.0.4')!;
    const sent: Array<{ code: number; subcode: number }> = [];
    s.on('notification', (n) => n.direction === 'sent' && sent.push(n));
    const c = await HostileConnection.connect({ port, from: '127.0.0.4' });
    await c.establish(peerOpen(65001, '198.51.100.4'));
    c.stopReading();
    let max = 0;
    const probe = setInterval(() => (max = Math.max(max, s.queuedBytes)), 1);
    try {
      for (let i = 0; i < 100 && !sent.some((n) => n.code === 6 && n.subcode === 8); i++) {
        c.floodRouteRefresh(20_000);
        await sleep(20);
      }
      await eventually(() => sent.some((n) => n.code === 6 && n.subcode === 8), () => `no Cease 6/8 (queued ${s.queuedBytes}, sent ${JSON.stringify(sent)})`, 60_000);
    } finally {
      clearInterval(probe);
    }
    // One table is ~25 kB: the queue never held more than the cap plus one table.
    expect(max).toBeLessThan(16 * 1024 + 32 * 1024);
    expect(s.queuedBytes).toBe(0);
    expect(resources.sessionsOutOfResources.get('127.0.0.4')).toBe(1);
    c.destroy();
  });

  it('a slow reader flooding ROUTE-REFRESH stays up; answers coalesce, the queue stays near one table', async () => {
    const s = sessions.get('127.0.0.5')!;
    const c = await HostileConnection.connect({ port, from: '127.0.0.5' });
    await c.establish(peerOpen(65001, '198.51.100.5'));
    let max = 0;
    const probe = setInterval(() => (max = Math.max(max, s.queuedBytes)), 1);
    try {
      for (let i = 0; i < 10; i++) {
        c.stopReading();
        c.floodRouteRefresh(2000);
        await sleep(10);
        c.socket.resume();
        await sleep(5);
      }
      await eventually(() => s.queuedBytes === 0, () => `still ${s.queuedBytes} bytes queued`, 60_000);
    } finally {
      clearInterval(probe);
    }
    expect(s.state).toBe('Established');
    expect(max).toBeLessThan(64 * 1024);
    c.destroy();
  });
});
