// SWIM messages over UDP: one socket per speaker on the node network. Every datagram is sealed with
// the shared secret, in the wire version the peer reads (wire.ts); a received one is dropped and
// counted, by reason, when it is too long, fails the version, the MAC or the structure, or is a
// replay or a downgrade, before anything in it reaches the state machine. Peers' addresses and
// versions come from outside (the speakers' Leases); a message to a peer without an address is
// counted, not sent.
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Message, WireVersion } from './message.js';
import { LivenessWire, type WireDropReason } from './wire.js';

export type DropReason = WireDropReason | 'noAddress';

export interface LivenessTransportOptions {
  secret: Buffer;
  /** This node's name (wire version 3 names nodes by ids derived from their names). */
  self: string;
  /** Wire versions read and sent (default: all; [1] behaves as a speaker from before version 2, [1, 2] as one from before version 3). */
  versions?: readonly WireVersion[];
  address: string;
  port: number;
  onMessage: (m: Message, from: { address: string; port: number }) => void;
  onDrop: (reason: DropReason) => void;
  /** A send failed (the socket reports it; the protocol's timeouts handle the loss). */
  onSendError?: (err: Error) => void;
}

export class LivenessTransport {
  private socket: Socket | undefined;
  private readonly peers = new Map<string, { address: string; port: number }>();
  /** Datagrams and bytes sent and received (metrics: per-node liveness traffic). */
  readonly traffic = { sentPackets: 0, sentBytes: 0, receivedPackets: 0, receivedBytes: 0 };

  private readonly wire: LivenessWire;

  constructor(private readonly opts: LivenessTransportOptions) {
    this.wire = new LivenessWire({ secret: opts.secret, self: opts.self, versions: opts.versions });
  }

  /** The newest wire version this transport reads (the speaker advertises it on its Lease). */
  get advertises(): WireVersion {
    return this.wire.advertises;
  }

  /** Binds the socket; resolves with the bound port (useful with port 0). */
  async start(): Promise<number> {
    const socket = createSocket({ type: isIPv6(this.opts.address) ? 'udp6' : 'udp4', reuseAddr: false });
    this.socket = socket;
    socket.on('message', (buf, rinfo) => this.receive(buf, rinfo));
    socket.on('error', (err) => this.opts.onSendError?.(err));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.port, this.opts.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket.address().port;
  }

  /** A peer's address and the newest wire version its Lease advertises (1: none). */
  setPeer(name: string, address: string, port: number, advertised: WireVersion = 1): void {
    this.peers.set(name, { address, port });
    this.wire.setPeer(name, advertised);
  }

  removePeer(name: string): void {
    this.peers.delete(name);
    this.wire.removePeer(name);
  }

  send(to: string, m: Message): void {
    const peer = this.peers.get(to);
    if (!peer || !this.socket) return this.opts.onDrop('noAddress');
    const datagram = this.wire.seal(to, m);
    this.traffic.sentPackets++;
    this.traffic.sentBytes += datagram.length;
    this.socket.send(datagram, peer.port, peer.address, (err) => {
      if (err) this.opts.onSendError?.(err);
    });
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  private receive(buf: Buffer, rinfo: { address: string; port: number }): void {
    this.traffic.receivedPackets++;
    this.traffic.receivedBytes += buf.length;
    const opened = this.wire.open(buf);
    if (!opened.ok) return this.opts.onDrop(opened.reason);
    this.opts.onMessage(opened.datagram.message, { address: rinfo.address, port: rinfo.port });
  }
}
