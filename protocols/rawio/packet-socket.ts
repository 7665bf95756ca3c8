// A raw Ethernet socket on one interface: kernel-filtered receive (BPF), send, IPv6 multicast
// membership. Thin typed wrapper over our addon; errors carry the errno name in `code`.
import { encodeFilter, frameFilter, type FrameSelection } from './bpf.js';
import { readFileSync } from 'node:fs';
import { loadPacketSocketAddon, ringSlotFor, type PacketHandle, type PacketSocketAddon } from './addon.js';

/** Frames read per readable event: bounds one callback's time under a flood. */
const RING_SLOTS = 256;
/** Ring memory per socket at most (jumbo MTUs get fewer, larger slots). */
const RING_BYTES = 1024 * 1024;
/**
 * The kernel's receive ring per socket by default (fixed at open, never grows): 2 MiB holds 8,192
 * frames (256 bytes each: ARP, NS), 82 ms of a 100k frames/s flood while the reader is off the CPU.
 */
export const KERNEL_RING_BYTES = 2 * 1024 * 1024;

/** The interface's MTU from sysfs; 1500 when it cannot be read (the slot is at least 2,048 anyway). */
export function interfaceMtu(iface: string): number {
  try {
    const mtu = Number(readFileSync(`/sys/class/net/${iface}/mtu`, 'utf8').trim());
    return Number.isInteger(mtu) && mtu > 0 ? mtu : 1500;
  } catch {
    return 1500;
  }
}

/** A socket-level failure (open, send, membership): `code` is the errno name, e.g. ENODEV, EPERM. */
export class RawIoError extends Error {
  readonly code: string;
  readonly iface: string;
  constructor(iface: string, code: string, message: string) {
    super(`${iface}: ${message}`);
    this.name = 'RawIoError';
    this.code = code;
    this.iface = iface;
  }
}

function wrap(iface: string, e: unknown): RawIoError {
  const err = e as { code?: string; message?: string };
  return new RawIoError(iface, err.code ?? 'EUNKNOWN', err.message ?? String(e));
}

export interface PacketSocketOptions {
  iface: string;
  /** Which frames the kernel passes up. */
  select: FrameSelection;
  /** Called for each received frame; the Buffer is a view into a reused ring, valid only during the call. */
  onFrame: (frame: Buffer) => void;
  /** A read failure (rare: the interface went away). */
  onError?: (err: RawIoError) => void;
  /** The link MTU, which sizes the receive slots (default: read from sysfs). */
  mtu?: number;
  /** The kernel receive ring's bytes (default KERNEL_RING_BYTES, at most 64 MiB). */
  kernelRingBytes?: number;
}

export class PacketSocket {
  readonly iface: string;
  private readonly addon: PacketSocketAddon;
  private handle: PacketHandle | null;

  private constructor(iface: string, addon: PacketSocketAddon, handle: PacketHandle) {
    this.iface = iface;
    this.addon = addon;
    this.handle = handle;
  }

  /** Opens the socket; throws RawIoError (e.g. code ENODEV for a missing interface, EPERM without CAP_NET_RAW). */
  static open(opts: PacketSocketOptions): PacketSocket {
    const addon = loadPacketSocketAddon();
    if (addon instanceof Error) throw new RawIoError(opts.iface, 'ENOADDON', addon.message);
    const filter = encodeFilter(frameFilter(opts.select));
    // Frames land in this ring without a per-frame allocation; lengths follow the slots.
    const slot = ringSlotFor(opts.mtu ?? interfaceMtu(opts.iface));
    const slots = Math.max(16, Math.min(RING_SLOTS, Math.floor(RING_BYTES / slot)));
    const ring = Buffer.alloc(slots * (slot + 4));
    const lengths = new Uint32Array(ring.buffer, ring.byteOffset + slots * slot, slots);
    let handle: PacketHandle;
    try {
      handle = addon.open(
        opts.iface,
        filter,
        ring,
        slot,
        (count, err) => {
          for (let i = 0; i < count; i++) opts.onFrame(ring.subarray(i * slot, i * slot + lengths[i]));
          if (err) opts.onError?.(wrap(opts.iface, err));
        },
        opts.kernelRingBytes ?? KERNEL_RING_BYTES,
      );
    } catch (e) {
      throw wrap(opts.iface, e);
    }
    return new PacketSocket(opts.iface, addon, handle);
  }

  get closed(): boolean {
    return this.handle === null;
  }

  /** Sends one frame; false when the transmit queue was full (the frame was dropped). */
  send(frame: Buffer): boolean {
    if (this.handle === null) throw new RawIoError(this.iface, 'EBADF', 'send on a closed packet socket');
    let n: number;
    try {
      n = this.addon.send(this.handle, frame);
    } catch (e) {
      throw wrap(this.iface, e);
    }
    return n >= 0;
  }

  joinGroup(group: Buffer): void {
    if (this.handle === null) throw new RawIoError(this.iface, 'EBADF', 'joinGroup on a closed packet socket');
    try {
      this.addon.joinGroup(this.handle, group);
    } catch (e) {
      throw wrap(this.iface, e);
    }
  }

  leaveGroup(group: Buffer): void {
    if (this.handle === null) return;
    try {
      this.addon.leaveGroup(this.handle, group);
    } catch (e) {
      throw wrap(this.iface, e);
    }
  }

  /** Frames passed by the filter and dropped by the kernel (ring full) since the last call. */
  stats(): { packets: number; drops: number } {
    if (this.handle === null) return { packets: 0, drops: 0 };
    return this.addon.stats(this.handle);
  }

  close(): void {
    if (this.handle === null) return;
    this.addon.close(this.handle);
    this.handle = null;
  }
}
