// What the announcer needs from the network, behind an interface so its decisions are unit-tested
// with a fake and run over real packet sockets (packet-io.ts) in production.
import type { Mac } from '../rawio/mac.js';

/** One interface the announcer serves. */
export interface LinkInfo {
  name: string;
  mac: Mac;
}

/** Raw frame I/O on one interface. */
export interface Layer2Port {
  /** Sends a whole Ethernet frame; false when it was dropped (transmit queue full). May throw (e.g. link gone). */
  send(frame: Buffer): boolean;
  /** IPv6 multicast membership of the interface (joined by the kernel: NIC filter and MLD reports). */
  joinGroup(group: Buffer): void;
  leaveGroup(group: Buffer): void;
  /** Frames the kernel dropped before we read them (receive queue full) since the last call. */
  stats?(): { drops: number };
  close(): void;
}

export interface Layer2Io {
  /**
   * Starts receiving ARP requests and Neighbor Solicitations on `link`, calling onFrame for each
   * (the Buffer may be reused after the call returns: copy what you keep).
   */
  open(link: LinkInfo, onFrame: (frame: Buffer) => void, onError: (err: Error) => void): Layer2Port;
}
