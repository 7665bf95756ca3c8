// The BGP listener: which connections go to which peer's session and which are closed, the keys
// it keeps on the listening socket as peers come and go (fake server), `--bgp-listen` address
// parsing, and the real thing on loopback: TCP-MD5 keys set, changed and removed while listening,
// IPv4 peers on a dual-stack socket. The real part needs the addon (`make build`).
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { BgpListener, ListenAddressError, parseListenAddress, type ListenerPeer, type ListeningServer } from '../../../protocols/bgp/listener.js';
import type { SocketLike } from '../../../protocols/bgp/session.js';
import { connect, type ListenOptions } from '../../../protocols/bgp/transport.js';
import { FakeSocket } from './fake-socket.js';

interface LogEntry {
  level: string;
  event: string;
  peer?: string;
  msg: string;
}

function recorder(): { log: { debug: (o: object, m?: string) => void; info: (o: object, m?: string) => void; warn: (o: object, m?: string) => void; error: (o: object, m?: string) => void }; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: string) => (o: object, msg?: string) => entries.push({ level, ...(o as { event: string; peer?: string }), msg: msg ?? '' });
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, entries };
}

class FakeServer extends EventEmitter implements ListeningServer {
  closed = false;
  address(): net.AddressInfo {
    return { address: '::', family: 'IPv6', port: 179 };
  }
  close(cb?: (err?: Error) => void): this {
    this.closed = true;
    cb?.();
    return this;
  }
}

async function fakeListener(peers: ListenerPeer[] = []) {
  const server = new FakeServer();
  const keys: Array<[string, string | undefined]> = [];
  let listenOpts: ListenOptions | undefined;
  const { log, entries } = recorder();
  const listener = await BgpListener.open({
    address: '::',
    peers,
    log,
    listen: (o) => ((listenOpts = o), Promise.resolve(server)),
    setKey: (_s, address, password) => keys.push([address, password === undefined ? undefined : String(password)]),
  });
  return { listener, server, keys, entries, listenOpts: () => listenOpts };
}

function peer(address: string, extra: Partial<ListenerPeer> = {}): ListenerPeer & { got: SocketLike[] } {
  const got: SocketLike[] = [];
  return { address, accept: (s) => got.push(s), got, ...extra };
}

describe('BgpListener: accept and refuse', () => {
  it('hands a connection from a configured peer to its session; closes and logs any other', async () => {
    const p1 = peer('192.0.2.1');
    const p6 = peer('2001:db8::1');
    const { listener, entries } = await fakeListener([p1, p6]);
    const a = new FakeSocket('192.0.2.10', '192.0.2.1');
    listener.handle(a);
    expect(p1.got).toEqual([a]);
    expect(a.destroyed).toBe(false);
    // An IPv4 peer on a dual-stack socket shows up v4-mapped.
    const mapped = new FakeSocket('::ffff:192.0.2.10', '::ffff:192.0.2.1');
    listener.handle(mapped);
    expect(p1.got).toEqual([a, mapped]);
    const v6 = new FakeSocket('2001:db8::10', '2001:db8::1');
    listener.handle(v6);
    expect(p6.got).toEqual([v6]);

    const stranger = new FakeSocket('192.0.2.10', '198.51.100.7');
    listener.handle(stranger);
    expect(stranger.destroyed).toBe(true);
    expect(entries).toContainEqual(expect.objectContaining({ level: 'warn', event: 'incomingRefused', peer: '198.51.100.7', msg: expect.stringMatching(/not a configured peer/) }));
    expect(entries.filter((e) => e.event === 'incomingAccepted').map((e) => e.peer)).toEqual(['192.0.2.1', '192.0.2.1', '2001:db8::1']);
  });

  it('follows setPeers: a removed peer is refused, a new one accepted', async () => {
    const p1 = peer('192.0.2.1');
    const { listener } = await fakeListener([p1]);
    const p2 = peer('192.0.2.2');
    listener.setPeers([p2]);
    const from1 = new FakeSocket('192.0.2.10', '192.0.2.1');
    const from2 = new FakeSocket('192.0.2.10', '192.0.2.2');
    listener.handle(from1);
    listener.handle(from2);
    expect(from1.destroyed).toBe(true);
    expect(p1.got).toEqual([]);
    expect(p2.got).toEqual([from2]);
  });

  it('with several peers at one address, picks the one whose source address the connection reached; refuses if none', async () => {
    const a = peer('192.0.2.1', { sourceAddress: '192.0.2.10' });
    const b = peer('192.0.2.1', { sourceAddress: '192.0.2.11' });
    const { listener, entries } = await fakeListener([a, b]);
    const toB = new FakeSocket('192.0.2.11', '192.0.2.1');
    listener.handle(toB);
    expect(b.got).toEqual([toB]);
    expect(a.got).toEqual([]);
    const toOther = new FakeSocket('192.0.2.12', '192.0.2.1');
    listener.handle(toOther);
    expect(toOther.destroyed).toBe(true);
    expect(entries.at(-1)?.msg).toMatch(/several peers are configured at 192\.0\.2\.1 and none uses local address 192\.0\.2\.12/);
  });

  it('unnumbered peers: a connection from the router\'s link-local address goes to the session on the interface it came in on (Node gives the zone)', async () => {
    // Routers often use the same link-local address (fe80::1) on every link: the zone tells them apart.
    const u0 = peer('fe80::1%u0');
    const u1 = peer('fe80::1%u1');
    const { listener } = await fakeListener([u0, u1]);
    const via1 = new FakeSocket('fe80::a%u1', 'fe80::1%u1');
    listener.handle(via1);
    expect(u1.got).toEqual([via1]);
    expect(u0.got).toEqual([]);
    const elsewhere = new FakeSocket('fe80::a%u2', 'fe80::1%u2');
    listener.handle(elsewhere);
    expect(elsewhere.destroyed).toBe(true);
  });

  it('refuses everything once closed, and closes the server', async () => {
    const p1 = peer('192.0.2.1');
    const { listener, server } = await fakeListener([p1]);
    await listener.close();
    expect(server.closed).toBe(true);
    const s = new FakeSocket('192.0.2.10', '192.0.2.1');
    listener.handle(s);
    expect(s.destroyed).toBe(true);
    expect(p1.got).toEqual([]);
  });
});

describe('BgpListener: TCP-MD5 keys on the listening socket', () => {
  it('puts initial keys on the socket before it listens, then sets, changes and removes them as peers change', async () => {
    const { listener, keys, listenOpts } = await fakeListener([peer('192.0.2.1', { password: 'one' }), peer('192.0.2.2')]);
    expect(listenOpts()).toMatchObject({ address: '::', port: 179, keyed: true, peers: [{ address: '192.0.2.1', password: 'one' }, { address: '192.0.2.2' }] });
    expect(keys).toEqual([]);
    // Same peers again: nothing to do.
    listener.setPeers([peer('192.0.2.1', { password: 'one' }), peer('192.0.2.2')]);
    expect(keys).toEqual([]);
    // Peer 1's key changes, peer 2 gets one, peer 3 appears with one.
    listener.setPeers([peer('192.0.2.1', { password: 'two' }), peer('192.0.2.2', { password: 'k2' }), peer('192.0.2.3', { password: 'k3' })]);
    expect(keys.splice(0)).toEqual([
      ['192.0.2.1', 'two'],
      ['192.0.2.2', 'k2'],
      ['192.0.2.3', 'k3'],
    ]);
    // Peer 2 drops its password, peer 3 goes away.
    listener.setPeers([peer('192.0.2.1', { password: 'two' }), peer('192.0.2.2')]);
    expect(keys.splice(0)).toEqual([
      ['192.0.2.2', undefined],
      ['192.0.2.3', undefined],
    ]);
  });

  it('logs a key that cannot be set (naming the peer) and keeps going', async () => {
    const server = new FakeServer();
    const { log, entries } = recorder();
    const listener = await BgpListener.open({
      address: '0.0.0.0',
      log,
      listen: () => Promise.resolve(server),
      setKey: (_s, address) => {
        if (address === '2001:db8::1') throw Object.assign(new Error('peerAddress 2001:db8::1 cannot reach an IPv4 listening socket'), { code: 'ERR_BAD_ADDRESS' });
      },
    });
    listener.setPeers([peer('2001:db8::1', { password: 'x' }), peer('192.0.2.1', { password: 'y' })]);
    expect(entries).toContainEqual(expect.objectContaining({ level: 'error', event: 'listenKeyError', peer: '2001:db8::1', msg: expect.stringMatching(/cannot set the TCP MD5 key of 2001:db8::1.*IPv4 listening socket/) }));
  });
});

describe('parseListenAddress (--bgp-listen)', () => {
  it('reads [ADDRESS][:PORT]', () => {
    expect(parseListenAddress('')).toEqual({ port: 179 });
    expect(parseListenAddress(':1179')).toEqual({ port: 1179 });
    expect(parseListenAddress('192.0.2.10')).toEqual({ address: '192.0.2.10', port: 179 });
    expect(parseListenAddress('192.0.2.10:1179')).toEqual({ address: '192.0.2.10', port: 1179 });
    expect(parseListenAddress('2001:db8::10')).toEqual({ address: '2001:db8::10', port: 179 });
    expect(parseListenAddress('[2001:db8::10]:1179')).toEqual({ address: '2001:db8::10', port: 1179 });
    expect(parseListenAddress('[::]')).toEqual({ address: '::', port: 179 });
  });

  it('refuses anything else with a message naming the part at fault', () => {
    const cases: Array<[string, RegExp]> = [
      ['router.example', /"router\.example" is not a numeric/],
      ['192.0.2.10:http', /"http" is not a port/],
      ['192.0.2.10:70000', /"70000" is not a port/],
      ['[192.0.2.10]:179', /bracketed part is not an IPv6/],
      ['192.0.2.300', /not a numeric IPv4 or IPv6/],
    ];
    for (const [text, why] of cases) {
      expect(() => parseListenAddress(text), text).toThrow(ListenAddressError);
      expect(() => parseListenAddress(text), text).toThrow(why);
    }
  });
});

describe('BgpListener on loopback (real sockets, TCP-MD5 addon)', () => {
  const open: Array<{ close(): unknown }> = [];
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const l of open.splice(0)) await l.close();
  });

  /** 'accepted' when the listener hands the connection to the peer, 'refused' when it closes it, 'timeout' when the kernel drops our SYNs (MD5). */
  function attempt(port: number, accepted: ListenerPeer[], opts: { password?: string; host?: string } = {}): Promise<string> {
    const sock = connect({ peerAddress: opts.host ?? '127.0.0.1', peerPort: port, ...(opts.password !== undefined ? { password: opts.password } : {}) });
    sockets.push(sock);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve('timeout'), 1200);
      const done = (r: string): void => {
        clearTimeout(t);
        resolve(r);
      };
      for (const p of accepted) {
        const prev = p.accept;
        p.accept = (s) => {
          p.accept = prev;
          sockets.push(s as net.Socket);
          done('accepted');
        };
      }
      sock.once('close', () => done('refused'));
      sock.once('error', () => undefined);
    });
  }

  it('accepts the peer with the right key, drops others; a key changed or removed while listening applies to new connections', async () => {
    const me = peer('127.0.0.1', { password: 'first' });
    const listener = await BgpListener.open({ address: '127.0.0.1', port: 0, peers: [me] });
    open.push(listener);
    const port = listener.port;
    expect(port).toBeGreaterThan(0);
    expect(await attempt(port, [me], { password: 'wrong' })).toBe('timeout');
    expect(await attempt(port, [me], { password: 'first' })).toBe('accepted');

    listener.setPeers([{ ...me, password: 'second' }]);
    expect(await attempt(port, [me], { password: 'first' })).toBe('timeout');
    const me2 = peer('127.0.0.1', { password: 'second' });
    listener.setPeers([me2]);
    expect(await attempt(port, [me2], { password: 'second' })).toBe('accepted');

    // No password any more: unsigned connections come through.
    const plain = peer('127.0.0.1');
    listener.setPeers([plain]);
    expect(await attempt(port, [plain])).toBe('accepted');
    // Not a peer any more: the TCP connection is accepted by the kernel and closed by us.
    listener.setPeers([]);
    expect(await attempt(port, [])).toBe('refused');
  });

  it('on the dual-stack wildcard (::) accepts an IPv4 peer with its key (v4-mapped) and an IPv6 one', async () => {
    const v4 = peer('127.0.0.1', { password: 'v4key' });
    const v6 = peer('::1', { password: 'v6key' });
    const listener = await BgpListener.open({ address: '::', port: 0, peers: [v4] });
    open.push(listener);
    listener.setPeers([v4, v6]);
    expect(await attempt(listener.port, [v4], { password: 'v4key' })).toBe('accepted');
    expect(await attempt(listener.port, [v4], { password: 'nope' })).toBe('timeout');
    expect(await attempt(listener.port, [v6], { password: 'v6key', host: '::1' })).toBe('accepted');
  });
});
