// The TCP transport over loopback: plain and TCP-MD5 connects, source address/port, passive
// listening with keys, and typed errors for bad options. Needs the addon (`make build`).
import { afterEach, describe, expect, it } from 'vitest';
import type net from 'node:net';
import { connect, listen, tcpMd5Support, TransportError } from '../../../protocols/bgp/transport.js';
import { loadTcpMd5Addon } from '../../../protocols/bgp/native/tcp-md5.js';

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

async function serve(opts: Parameters<typeof listen>[0]): Promise<{ server: net.Server; port: number; accepted: Promise<net.Socket> }> {
  const server = await listen(opts);
  servers.push(server);
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', (s) => (sockets.push(s), resolve(s))));
  return { server, port, accepted };
}

/** Resolves 'connected' or 'timeout' (an MD5 mismatch makes the peer drop our SYNs silently). */
function outcome(sock: net.Socket, ms: number): Promise<'connected' | 'timeout' | string> {
  sockets.push(sock);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('timeout'), ms);
    sock.once('connect', () => (clearTimeout(t), resolve('connected')));
    sock.once('error', (e) => (clearTimeout(t), resolve(`error ${(e as NodeJS.ErrnoException).code}`)));
  });
}

describe('bgp transport', () => {
  it('has the TCP-MD5 addon (built by `make build`)', () => {
    expect(tcpMd5Support()).toEqual({ ok: true });
  });

  it('connects without a password from a chosen source address and port, and carries data', async () => {
    const { port, accepted } = await serve({ address: '127.0.0.1', port: 0 });
    const sock = connect({ peerAddress: '127.0.0.1', peerPort: port, sourceAddress: '127.0.0.1', sourcePort: 0 });
    expect(await outcome(sock, 3000)).toBe('connected');
    const peer = await accepted;
    expect(peer.remotePort).toBe(sock.localPort);
    const got = new Promise<string>((resolve) => peer.once('data', (d) => resolve(d.toString())));
    sock.write('open');
    expect(await got).toBe('open');
  });

  it('connects with the right TCP-MD5 key and from the requested source port', async () => {
    const { port, accepted } = await serve({ address: '127.0.0.1', port: 0, peers: [{ address: '127.0.0.1', password: 's3cret' }] });
    const sock = connect({ peerAddress: '127.0.0.1', peerPort: port, password: 's3cret', sourceAddress: '127.0.0.1' });
    expect(await outcome(sock, 3000)).toBe('connected');
    const peer = await accepted;
    const echoed = new Promise<string>((resolve) => sock.once('data', (d) => resolve(d.toString())));
    peer.write('keepalive');
    expect(await echoed).toBe('keepalive');
  });

  it('never connects with a wrong key or with none', async () => {
    const { port } = await serve({ address: '127.0.0.1', port: 0, peers: [{ address: '127.0.0.1', password: 'right' }] });
    const [wrong, none] = await Promise.all([
      outcome(connect({ peerAddress: '127.0.0.1', peerPort: port, password: 'wrong' }), 1500),
      outcome(connect({ peerAddress: '127.0.0.1', peerPort: port }), 1500),
    ]);
    expect(wrong).toBe('timeout');
    expect(none).toBe('timeout');
  });

  it('works over IPv6 loopback with a key', async () => {
    const { port } = await serve({ address: '::1', port: 0, peers: [{ address: '::1', password: Buffer.from([1, 2, 3]) }] });
    expect(await outcome(connect({ peerAddress: '::1', peerPort: port, password: Buffer.from([1, 2, 3]) }), 3000)).toBe('connected');
  });

  it('sets the TTL / hop limit before connecting (eBGP: 1), and connects with it', async () => {
    const addon = loadTcpMd5Addon();
    if (addon instanceof Error) throw addon;
    for (const family of [4, 6] as const) {
      const fd = addon.socket(family);
      try {
        expect(addon.ttl(fd, family, 1)).toBe(1);
        expect(addon.ttl(fd, family, -1)).toBe(1);
        expect(addon.ttl(fd, family, 255)).toBe(255);
        expect(() => addon.ttl(fd, family, 0)).toThrow(/1\.\.255/);
      } finally {
        addon.close(fd);
      }
    }
    const { port } = await serve({ address: '127.0.0.1', port: 0, ttl: 1 });
    expect(await outcome(connect({ peerAddress: '127.0.0.1', peerPort: port, ttl: 1 }), 3000)).toBe('connected');
  });

  it('rejects bad options with a TransportError naming the field', () => {
    const cases: Array<[Parameters<typeof connect>[0], string]> = [
      [{ peerAddress: 'router.example' }, 'peerAddress'],
      [{ peerAddress: '127.0.0.1', sourceAddress: '::1' }, 'sourceAddress'],
      [{ peerAddress: '127.0.0.1', peerPort: 70000 }, 'peerPort'],
      [{ peerAddress: '127.0.0.1', password: '' }, 'password'],
      [{ peerAddress: '127.0.0.1', password: 'x'.repeat(81) }, 'password'],
      [{ peerAddress: '127.0.0.1', ttl: 0 }, 'ttl'],
      [{ peerAddress: '127.0.0.1', ttl: 256 }, 'ttl'],
    ];
    for (const [opts, field] of cases) {
      let err: unknown;
      try {
        connect(opts).destroy();
      } catch (e) {
        err = e;
      }
      expect(err, field).toBeInstanceOf(TransportError);
      expect((err as TransportError).field).toBe(field);
    }
  });

  it('reports a kernel error for a source address that is not local', async () => {
    const sock = connect({ peerAddress: '127.0.0.1', peerPort: 9, sourceAddress: '192.0.2.1', password: 'k' });
    expect(await outcome(sock, 3000)).toBe('error EADDRNOTAVAIL');
  });
});
