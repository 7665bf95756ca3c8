// A BGP socket error is never fatal: connect failures (ENETUNREACH, EHOSTUNREACH, ECONNREFUSED,
// ETIMEDOUT), resets and write errors on a live session (ECONNRESET, EPIPE) and accept failures
// on the listening socket are logged and retried with back-off, and the session comes back once
// the peer is reachable.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { BgpListener, type ListeningServer } from '../../../protocols/bgp/listener.js';
import { BgpSession, type SessionLogEvent } from '../../../protocols/bgp/index.js';
import { connect as tcpConnect } from '../../../protocols/bgp/transport.js';
import { FakeSocket, routerOpen } from './fake-socket.js';

function errno(code: string, message = `connect ${code} 192.0.2.1:179`): Error {
  return Object.assign(new Error(message), { code });
}

function setup() {
  const clock = new ManualClock();
  const sockets: FakeSocket[] = [];
  const logs: SessionLogEvent[] = [];
  const session = new BgpSession(
    { localAs: 64512, peerAs: 65001, peerAddress: '192.0.2.1', holdTime: 90 },
    {
      clock,
      connect: () => {
        const s = new FakeSocket();
        sockets.push(s);
        return s;
      },
      log: (e) => logs.push(e),
      random: () => 0.5,
    },
  );
  const last = (): FakeSocket => sockets[sockets.length - 1];
  /** The kernel reports a socket error: 'error', then 'close' (as net.Socket does). */
  const fail = (s: FakeSocket, err: Error): void => {
    s.emit('error', err);
    s.close();
  };
  const establish = (): void => {
    const s = last();
    s.connect();
    s.take();
    s.receive(routerOpen());
    s.receive({ type: 'keepalive' });
    expect(session.state).toBe('Established');
  };
  return { clock, sockets, logs, session, last, fail, establish };
}

describe('BGP session: network errors are retried, never fatal', () => {
  it.each(['ENETUNREACH', 'EHOSTUNREACH', 'ECONNREFUSED', 'ETIMEDOUT'])('connect fails with %s: logged, retried with growing back-off, then established', (code) => {
    const t = setup();
    t.session.start();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      expect(() => t.fail(t.last(), errno(code))).not.toThrow();
      expect(t.session.state).toBe('Active');
      const d = t.clock.nextDue() ?? -1;
      delays.push(d);
      t.clock.advance(d);
      expect(t.session.state).toBe('Connect');
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000]);
    const errors = t.logs.filter((l) => l.event === 'socket-error');
    expect(errors).toHaveLength(4);
    expect(errors[0].msg).toContain(code);
    expect(t.logs.filter((l) => l.event === 'connect-retry-scheduled')).toHaveLength(4);
    // The peer becomes reachable: the next attempt establishes.
    t.establish();
    expect(t.sockets).toHaveLength(5);
  });

  it.each([
    ['ECONNRESET', 'read ECONNRESET'],
    ['EPIPE', 'write EPIPE'],
  ])('%s on an established session: back to Idle, restart with back-off, routes sent again', (code, message) => {
    const t = setup();
    t.session.start();
    t.establish();
    t.session.announce('203.0.113.10/32', { nextHop: '192.0.2.10' });
    t.clock.advance(10);
    expect(t.last().take().some((m) => m.type === 'update')).toBe(true);
    expect(() => t.fail(t.last(), errno(code, message))).not.toThrow();
    expect(t.session.state).toBe('Idle');
    expect(t.logs.some((l) => l.event === 'socket-error' && l.msg.includes(code))).toBe(true);
    t.clock.advance(t.clock.nextDue() ?? -1);
    expect(t.session.state).toBe('Connect');
    t.establish();
    t.clock.advance(10);
    const again = t.last().take();
    expect(again.some((m) => m.type === 'update')).toBe(true);
  });

  it('a real socket: ECONNREFUSED from a closed loopback port arrives as an event and is retried', async () => {
    // A port that was free a moment ago: nothing listens on it.
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const a = srv.address() as net.AddressInfo;
        srv.close(() => resolve(a.port));
      });
    });
    const clock = new ManualClock();
    const logs: SessionLogEvent[] = [];
    const session = new BgpSession(
      { localAs: 64512, peerAs: 65001, peerAddress: '127.0.0.1', peerPort: port },
      { clock, connect: () => tcpConnect({ peerAddress: '127.0.0.1', peerPort: port }), log: (e) => logs.push(e), random: () => 0.5 },
    );
    session.start();
    for (let i = 0; i < 2; i++) {
      await expect.poll(() => session.state, { timeout: 10_000 }).toBe('Active');
      clock.advance(clock.nextDue() ?? -1);
    }
    await expect.poll(() => logs.filter((l) => l.event === 'socket-error' && l.msg.includes('ECONNREFUSED')).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await session.stop();
  });
});

describe('BGP listener: accept errors are logged, the socket keeps listening', () => {
  it('an error event from the listening server (EMFILE) is logged and counted, not thrown', async () => {
    class FakeServer extends EventEmitter implements ListeningServer {
      close(cb?: (err?: Error) => void): this {
        cb?.();
        return this;
      }
      address(): net.AddressInfo {
        return { address: '127.0.0.1', family: 'IPv4', port: 1179 };
      }
    }
    const server = new FakeServer();
    const lines: { obj: object; msg?: string }[] = [];
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (obj: object, msg?: string) => lines.push({ obj, msg }) };
    const listener = await BgpListener.open({ address: '127.0.0.1', port: 1179, log, listen: () => Promise.resolve(server), setKey: () => undefined });
    expect(() => server.emit('error', errno('EMFILE', 'accept EMFILE'))).not.toThrow();
    expect(listener.acceptErrors).toBe(1);
    expect(lines[0]).toMatchObject({ obj: { event: 'acceptError', code: 'EMFILE' } });
    expect(lines[0].msg).toContain('still listening');
  });
});
