// Loads our AF_PACKET addon (build/Release/herald_packet_socket.node, built by `make build` from binding.gyp).
import { findAddon, loadAddon } from '../native-addon.js';

/** Opaque handle of one open packet socket. */
export type PacketHandle = { readonly __packetHandle: unique symbol };

export interface PacketSocketAddon {
  /**
   * Opens an AF_PACKET socket on `ifname`, attaches `filter` (classic BPF, 8 bytes per instruction)
   * before binding, and reads received frames (never our own transmissions) into `ring`: n slots of
   * RING_SLOT bytes, then n host-order uint32 lengths. Calls `onFrames(count)` from the event loop
   * after each batch; the frames are valid only during that call. `err` is set when reading failed.
   */
  open(ifname: string, filter: Buffer, ring: Buffer, onFrames: (count: number, err?: Error) => void): PacketHandle;
  /** Sends one whole Ethernet frame; bytes sent, or -errno when the queue is full (EAGAIN/ENOBUFS). */
  send(handle: PacketHandle, frame: Buffer): number;
  /** Joins / leaves an IPv6 multicast group (16 bytes) on the socket's interface. */
  joinGroup(handle: PacketHandle, group: Buffer): void;
  leaveGroup(handle: PacketHandle, group: Buffer): void;
  /** Frames the filter passed and frames the kernel dropped (queue full) since the last call. */
  stats(handle: PacketHandle): { packets: number; drops: number };
  /** Idempotent; also drops the socket's multicast memberships. */
  close(handle: PacketHandle): void;
}

const ADDON_FILE = 'herald_packet_socket.node';

/** Bytes per receive slot (SLOT in packet_socket.c). */
export const RING_SLOT = 2048;
let cached: PacketSocketAddon | Error | undefined;

/** The addon's path, or null when it has not been built. */
export function findPacketSocketAddon(): string | null {
  return findAddon(ADDON_FILE);
}

/** The loaded addon, or an Error saying why it is not available (never throws). */
export function loadPacketSocketAddon(): PacketSocketAddon | Error {
  if (cached === undefined) cached = loadAddon<PacketSocketAddon>(ADDON_FILE, 'packet socket');
  return cached;
}
