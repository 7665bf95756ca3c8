// Loads our AF_PACKET addon (build/Release/herald_packet_socket.node, built by `make build` from binding.gyp).
import { findAddon, loadAddon } from '../native-addon.js';

/** Opaque handle of one open packet socket. */
export type PacketHandle = { readonly __packetHandle: unique symbol };

export interface PacketSocketAddon {
  /**
   * Opens an AF_PACKET socket on `ifname`, attaches `filter` (classic BPF, 8 bytes per instruction)
   * before binding, receives through a kernel TPACKET_V2 ring of about `kernelRingBytes` (fixed, 256
   * bytes per frame, longer frames read whole from the socket's queue; frames that do not fit are
   * dropped and counted by `stats`; each frame is read as it arrives, a burst in batches every 1 ms), and copies received frames (never our
   * own transmissions) into `ring`: n slots of `slot` bytes (a multiple of 4,
   * MIN_RING_SLOT..MAX_RING_SLOT), then n host-order uint32 lengths. Calls `onFrames(count)` from the
   * event loop after each batch; the frames are valid only during that call. `err` is set when
   * reading failed.
   */
  open(ifname: string, filter: Buffer, ring: Buffer, slot: number, onFrames: (count: number, err?: Error) => void, kernelRingBytes: number): PacketHandle;
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

/** Bounds of a receive slot (MIN_SLOT, MAX_SLOT in packet_socket.c). */
export const MIN_RING_SLOT = 2048;
export const MAX_RING_SLOT = 65536;

/**
 * The receive slot for an interface of `mtu`: the whole frame (Ethernet header, an 802.1Q tag, the
 * MTU) fits, so jumbo-frame links are read whole; never below 2,048 bytes.
 */
export function ringSlotFor(mtu: number): number {
  const frame = Number.isFinite(mtu) && mtu > 0 ? Math.ceil(mtu) + 14 + 4 : 0;
  return Math.min(MAX_RING_SLOT, Math.max(MIN_RING_SLOT, Math.ceil(frame / 4) * 4));
}
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
