// Loads our BFD UDP addon (build/Release/herald_bfd_udp.node, built by `make build` from binding.gyp).
import { loadAddon } from '../native-addon.js';

/** Opaque handle of one open BFD UDP socket. */
export type BfdSocketHandle = { readonly __bfdSocket: unique symbol };

/** Bytes per receive slot and per metadata record (SLOT and META in bfd_udp.c). */
export const RING_SLOT = 128;
export const RING_META = 48;

export interface BfdUdpAddon {
  /**
   * A UDP socket (TTL / hop limit 255 on send) bound to `address` ('' = any) at the first free port of
   * portMin..portMax from a random start. With `ring` and `onPackets`, received datagrams land in
   * the ring (n slots of RING_SLOT bytes, then n records of RING_META bytes: length, TTL, source
   * port, family as host-order uint32, source and destination address, 16 bytes each) and
   * onPackets(count) runs from the event loop after each batch; the ring is valid only during the call.
   */
  open(family: 4 | 6, address: string, portMin: number, portMax: number, ring: Buffer | null, onPackets: ((count: number, err?: Error) => void) | null): BfdSocketHandle;
  localPort(handle: BfdSocketHandle): number;
  /** Sends data[0, length) to destination (4 or 16 bytes) at port, from source when given; bytes sent or -errno when transient. */
  send(handle: BfdSocketHandle, data: Buffer, length: number, destination: Buffer, port: number, source: Buffer | null): number;
  /** Idempotent. */
  close(handle: BfdSocketHandle): void;
}

const ADDON_FILE = 'herald_bfd_udp.node';
let cached: BfdUdpAddon | Error | undefined;

/** The loaded addon, or an Error saying why it is not available (never throws). */
export function loadBfdUdpAddon(): BfdUdpAddon | Error {
  if (cached === undefined) cached = loadAddon<BfdUdpAddon>(ADDON_FILE, 'BFD UDP');
  return cached;
}
