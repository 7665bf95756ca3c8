// A scripted hostile BGP peer for loopback tests and the benchmark: it connects (from any
// 127.0.0.0/8 address), sends what it is told (bad OPENs, floods of ROUTE-REFRESH), keeps its end
// open, or stops reading. It also counts the descriptors this process holds, so a test can say
// whether Herald's side gave them back.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { MessageReader, toBuffer, decode, type BgpMessage, type OpenMessage } from '../../../protocols/bgp/index.js';

/** Descriptors this process holds now. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * TCP sockets of this process whose local port is `port` and which are not listening: the
 * connections accepted on that port (Herald's side), whatever state the kernel has them in.
 */
export function acceptedSockets(port: number): number {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const localPort = parseInt(f[1].split(':')[1], 16);
      if (localPort === port && f[3] !== '0A') inodes.add(f[9]);
    }
  }
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m && inodes.has(m[1])) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

export interface PeerOptions {
  port: number;
  /** Our source address on loopback, e.g. 127.0.0.2 for a stranger. */
  from?: string;
}

/** One hostile connection: reads and decodes what Herald sends; never closes unless told. */
export class HostileConnection {
  readonly received: BgpMessage[] = [];
  /** Herald ended its side (FIN) or the connection reset. */
  ended = false;
  closed = false;
  private readonly reader = new MessageReader(65535);
  private waiters: Array<() => void> = [];

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.reader.push(chunk);
      for (let b = this.reader.next(); b; b = this.reader.next()) {
        try {
          this.received.push(decode(b, 0, { fourByteAs: true, maxMessageLength: 65535 }));
        } catch {
          // Herald's own messages always decode; a partial view does not matter here.
        }
      }
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.ended = true;
      this.wake();
    });
  }

  static connect(o: PeerOptions): Promise<HostileConnection> {
    return new Promise((resolve, reject) => {
      // allowHalfOpen: our FIN does not make this side close; the peer keeps its end open.
      const s = net.connect({ host: '127.0.0.1', port: o.port, localAddress: o.from, allowHalfOpen: true });
      s.once('connect', () => resolve(new HostileConnection(s)));
      s.once('error', reject);
    });
  }

  send(m: BgpMessage | Buffer): boolean {
    return this.socket.write(Buffer.isBuffer(m) ? m : toBuffer(m));
  }

  /** Resolves when `pred` holds (checked on every event), or rejects after ms. */
  until(pred: () => boolean, ms = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!pred()) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`hostile peer: condition not met in ${ms} ms (received ${this.received.map((m) => m.type).join(',')}, ended ${this.ended})`));
      }, ms);
      const waiter = (): void => {
        if (check()) this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      if (!check()) this.waiters.push(waiter);
    });
  }

  has(type: BgpMessage['type']): boolean {
    return this.received.some((m) => m.type === type);
  }

  /** Send OPEN and KEEPALIVE, wait for Herald's KEEPALIVE: the session is Established. */
  async establish(open: OpenMessage): Promise<void> {
    await this.until(() => this.has('open') || this.ended);
    this.send(open);
    this.send({ type: 'keepalive' });
    await this.until(() => this.has('keepalive') || this.ended);
  }

  /** Stop reading: what Herald sends piles up in the kernel, then in Herald's queue. */
  stopReading(): void {
    this.socket.pause();
  }

  /** Write n ROUTE-REFRESH requests for IPv4 unicast, in large writes. */
  floodRouteRefresh(n: number): void {
    const one = toBuffer({ type: 'route-refresh', afi: 1, safi: 1, subtype: 0 });
    const batch = Math.min(n, 10_000);
    const chunk = Buffer.concat(Array.from({ length: batch }, () => one));
    for (let sent = 0; sent < n; sent += batch) this.socket.write(sent + batch <= n ? chunk : chunk.subarray(0, (n - sent) * one.length));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** An OPEN from `as` (4-octet capability included), hold time 90. */
export function peerOpen(as: number, id = '198.51.100.1'): OpenMessage {
  const [a, b, c, d] = id.split('.').map(Number);
  return {
    type: 'open',
    version: 4,
    myAs: as > 0xffff ? 23456 : as,
    holdTime: 90,
    bgpIdentifier: ((a << 24) | (b << 16) | (c << 8) | d) >>> 0,
    capabilities: [
      { kind: 'multiprotocol', afi: 1, safi: 1 },
      { kind: 'route-refresh' },
      { kind: 'four-octet-as', asn: as },
    ],
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `pred` every 20 ms until it holds, or fails after ms with `what`. */
export async function eventually(pred: () => boolean, what: () => string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what()}`);
    await sleep(20);
  }
}
