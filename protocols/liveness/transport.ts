// SWIM messages over UDP: one socket per speaker on the node network. Every datagram is sealed with
// the shared secret; a received one is dropped and counted, by reason, when it is too long, fails
// the MAC or does not decode, before anything in it reaches the state machine. Peers' addresses
// come from outside (the speakers' Leases); a message to a peer without one is counted, not sent.
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { LivenessError, MAX_LENGTH, open, seal, type LivenessErrorCode, type Message } from './message.js';

export type DropReason = LivenessErrorCode | 'tooLong' | 'noAddress';

export interface LivenessTransportOptions {
  secret: Buffer;
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

  constructor(private readonly opts: LivenessTransportOptions) {
    if (opts.secret.length < 16) throw new RangeError(`liveness secret: at least 16 bytes, got ${opts.secret.length}`);
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

  setPeer(name: string, address: string, port: number): void {
    this.peers.set(name, { address, port });
  }

  removePeer(name: string): void {
    this.peers.delete(name);
  }

  send(to: string, m: Message): void {
    const peer = this.peers.get(to);
    if (!peer || !this.socket) return this.opts.onDrop('noAddress');
    const datagram = seal(m, this.opts.secret);
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
    if (buf.length > MAX_LENGTH) return this.opts.onDrop('tooLong');
    let m: Message;
    try {
      m = open(buf, this.opts.secret);
    } catch (err) {
      if (err instanceof LivenessError) return this.opts.onDrop(err.code);
      throw err;
    }
    this.opts.onMessage(m, { address: rinfo.address, port: rinfo.port });
  }
}
