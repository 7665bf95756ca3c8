// The typed error of every frame codec (Ethernet, ARP, IPv6, ICMPv6/NDP): names the layer, the
// field and the byte offset in the decoded buffer, so a bad frame is reported, never a crash.

export type FrameLayer = 'ethernet' | 'arp' | 'ipv6' | 'icmpv6' | 'ndp' | 'address';

export class FrameError extends Error {
  readonly layer: FrameLayer;
  /** Field path, e.g. `arp.hardwareType` or `ndp.option[1].length`. */
  readonly field: string;
  /** Byte offset in the decoded buffer where the problem is, when known. */
  readonly offset: number | undefined;

  constructor(layer: FrameLayer, field: string, message: string, offset?: number) {
    super(`${field}${offset === undefined ? '' : ` at byte ${offset}`}: ${message}`);
    this.name = 'FrameError';
    this.layer = layer;
    this.field = field;
    this.offset = offset;
  }
}

/** Throws a FrameError unless `need` bytes are available at `offset`. */
export function needBytes(buf: Uint8Array, offset: number, need: number, layer: FrameLayer, field: string): void {
  if (offset < 0 || offset + need > buf.length) {
    throw new FrameError(layer, field, `truncated: need ${need} bytes, ${Math.max(0, buf.length - offset)} left`, offset);
  }
}
