// An in-memory stand-in for net.Socket: records what the session writes (decoded on demand)
// and lets a test play the router.
import { EventEmitter } from 'node:events';
import { decode, MessageReader, toBuffer, type BgpMessage, type CodecContext, type OpenMessage } from '../../../protocols/bgp/index.js';
import { parseIPv4 } from '../../../protocols/bgp/index.js';
import { BgpSession, type BgpSessionConfig, type SessionDeps } from '../../../protocols/bgp/session.js';
import { ManualClock } from '../../../protocols/clock.js';

export class FakeSocket extends EventEmitter {
  localAddress: string;
  remoteAddress: string;
  ended = false;
  destroyed = false;
  closed = false;
  private readonly reader = new MessageReader(65535);

  constructor(localAddress = '192.0.2.10', remoteAddress = '192.0.2.1') {
    super();
    this.localAddress = localAddress;
    this.remoteAddress = remoteAddress;
  }

  /** The peer keeps its end open after ours is ended (no 'close' until destroy()). */
  holdOpen = false;
  /** The peer does not read: writes pile up in writableLength until drainAll(). */
  stalled = false;
  writableLength = 0;
  private held: Buffer[] = [];

  write(data: Uint8Array): boolean {
    if (this.closed) throw new Error('write after close');
    if (this.stalled) {
      this.held.push(Buffer.from(data));
      this.writableLength += data.length;
      return false;
    }
    this.reader.push(Buffer.from(data));
    return true;
  }

  /** The peer reads again: what was held is delivered and 'drain' is emitted. */
  drainAll(): void {
    this.stalled = false;
    for (const b of this.held) this.reader.push(b);
    this.held = [];
    this.writableLength = 0;
    this.emit('drain');
  }

  end(): this {
    this.ended = true;
    if (!this.holdOpen) this.close();
    return this;
  }

  destroy(): this {
    this.destroyed = true;
    this.held = [];
    this.writableLength = 0;
    this.close();
    return this;
  }

  /** The connection went away (as the kernel would report it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  /** TCP handshake done. */
  connect(): void {
    this.emit('connect');
  }

  /** Messages the session wrote since the last call. */
  take(ctx?: CodecContext): BgpMessage[] {
    const out: BgpMessage[] = [];
    for (let b = this.reader.next(); b; b = this.reader.next()) out.push(decode(b, 0, ctx ?? { fourByteAs: true, maxMessageLength: 65535 }));
    return out;
  }

  /** The router sends m. */
  receive(m: BgpMessage | Buffer): void {
    this.emit('data', Buffer.isBuffer(m) ? m : toBuffer(m));
  }
}

export function routerOpen(o: { as?: number; id?: string; hold?: number; ipv6?: boolean; mp?: boolean; fourByte?: boolean; extra?: OpenMessage['capabilities'] } = {}): OpenMessage {
  const as = o.as ?? 65001;
  const caps: OpenMessage['capabilities'] = [];
  if (o.mp !== false) {
    caps.push({ kind: 'multiprotocol', afi: 1, safi: 1 });
    if (o.ipv6 !== false) caps.push({ kind: 'multiprotocol', afi: 2, safi: 1 });
  }
  caps.push({ kind: 'route-refresh' });
  if (o.fourByte !== false) caps.push({ kind: 'four-octet-as', asn: as });
  caps.push(...(o.extra ?? []));
  return { type: 'open', version: 4, myAs: as > 0xffff ? 23456 : as, holdTime: o.hold ?? 90, bgpIdentifier: parseIPv4(o.id ?? '192.0.2.1'), capabilities: caps };
}

/**
 * A session to 192.0.2.1 (AS 64512 -> 65001, hold 90 unless `cfg` says otherwise) on a manual clock
 * whose every connection is a new FakeSocket (`sockets`, newest by `last()`); `deps` adds or replaces
 * session dependencies (random defaults to 0.5).
 */
export function fakeSession(cfg: Partial<BgpSessionConfig> = {}, deps: Partial<SessionDeps> = {}, socket: { local?: string; remote?: string } = {}) {
  const clock = new ManualClock();
  const sockets: FakeSocket[] = [];
  const session = new BgpSession(
    { localAs: 64512, peerAs: 65001, peerAddress: '192.0.2.1', holdTime: 90, ...cfg },
    {
      clock,
      connect: () => {
        const s = new FakeSocket(socket.local, socket.remote);
        sockets.push(s);
        return s;
      },
      random: () => 0.5,
      ...deps,
    },
  );
  const last = (): FakeSocket => sockets[sockets.length - 1];
  return { clock, sockets, session, last };
}
