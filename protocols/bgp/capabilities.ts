// Capabilities advertisement (RFC 5492) and the capabilities we understand.
import { BgpError, ErrorCode, OpenSubcode } from './errors.js';

export const CapabilityCode = {
  Multiprotocol: 1, // RFC 4760
  RouteRefresh: 2, // RFC 2918
  ExtendedNextHop: 5, // RFC 8950 (offered with BgpSessionConfig.extendedNextHop: unnumbered sessions)
  ExtendedMessage: 6, // RFC 8654
  GracefulRestart: 64, // RFC 4724
  FourOctetAs: 65, // RFC 6793
  RouteRefreshCisco: 128, // pre-standard route refresh, still sent by some routers
} as const;

export const Afi = { IPv4: 1, IPv6: 2 } as const;
export const Safi = { Unicast: 1 } as const;

export interface GracefulRestartFamily {
  afi: number;
  safi: number;
  /** F bit: forwarding state preserved for this family across the restart. */
  forwardingState: boolean;
}

/** One RFC 8950 tuple: routes of (afi, safi) may carry a next hop of nextHopAfi (e.g. IPv4 unicast via IPv6). */
export interface ExtendedNextHopFamily {
  afi: number;
  safi: number;
  nextHopAfi: number;
}

export type Capability =
  | { kind: 'multiprotocol'; afi: number; safi: number }
  | { kind: 'route-refresh' }
  | { kind: 'route-refresh-cisco' }
  | { kind: 'extended-message' }
  | { kind: 'extended-next-hop'; families: ExtendedNextHopFamily[] }
  | { kind: 'four-octet-as'; asn: number }
  | {
      kind: 'graceful-restart';
      /** R bit: the sender has restarted. */
      restartState: boolean;
      /** N bit (RFC 8538). */
      notification: boolean;
      /** Seconds, 12 bits. */
      restartTime: number;
      families: GracefulRestartFamily[];
    }
  | { kind: 'unknown'; code: number; value: Buffer };

/** Bytes of one capability TLV (code, length, value). */
export function capabilityEncodingLength(c: Capability): number {
  switch (c.kind) {
    case 'multiprotocol':
    case 'four-octet-as':
      return 6;
    case 'route-refresh':
    case 'route-refresh-cisco':
    case 'extended-message':
      return 2;
    case 'graceful-restart':
      return 4 + 4 * c.families.length;
    case 'extended-next-hop':
      return 2 + 6 * c.families.length;
    case 'unknown':
      return 2 + c.value.length;
  }
}

export function encodeCapability(c: Capability, buf: Buffer, offset: number): number {
  const len = capabilityEncodingLength(c);
  buf[offset + 1] = len - 2;
  const v = offset + 2;
  switch (c.kind) {
    case 'multiprotocol':
      buf[offset] = CapabilityCode.Multiprotocol;
      buf.writeUInt16BE(c.afi, v);
      buf[v + 2] = 0;
      buf[v + 3] = c.safi;
      break;
    case 'route-refresh':
      buf[offset] = CapabilityCode.RouteRefresh;
      break;
    case 'route-refresh-cisco':
      buf[offset] = CapabilityCode.RouteRefreshCisco;
      break;
    case 'extended-message':
      buf[offset] = CapabilityCode.ExtendedMessage;
      break;
    case 'four-octet-as':
      buf[offset] = CapabilityCode.FourOctetAs;
      buf.writeUInt32BE(c.asn, v);
      break;
    case 'extended-next-hop': {
      buf[offset] = CapabilityCode.ExtendedNextHop;
      let o = v;
      for (const f of c.families) {
        buf.writeUInt16BE(f.afi, o);
        buf.writeUInt16BE(f.safi, o + 2); // RFC 8950: the SAFI takes two octets here
        buf.writeUInt16BE(f.nextHopAfi, o + 4);
        o += 6;
      }
      break;
    }
    case 'graceful-restart': {
      buf[offset] = CapabilityCode.GracefulRestart;
      const flags = (c.restartState ? 0x8 : 0) | (c.notification ? 0x4 : 0);
      buf.writeUInt16BE((flags << 12) | (c.restartTime & 0xfff), v);
      let o = v + 2;
      for (const f of c.families) {
        buf.writeUInt16BE(f.afi, o);
        buf[o + 2] = f.safi;
        buf[o + 3] = f.forwardingState ? 0x80 : 0;
        o += 4;
      }
      break;
    }
    case 'unknown':
      buf[offset] = c.code;
      c.value.copy(buf, v);
      break;
  }
  return len;
}

function malformed(code: number, offset: number, why: string): BgpError {
  return new BgpError(ErrorCode.OpenMessage, OpenSubcode.Unspecific, `capability ${code}: ${why}`, Buffer.alloc(0), offset);
}

/** Decode the capability TLVs in buf[start, end) (the value of one Capabilities optional parameter). */
export function decodeCapabilities(buf: Buffer, start: number, end: number): Capability[] {
  const out: Capability[] = [];
  let o = start;
  while (o < end) {
    if (o + 2 > end) throw malformed(buf[o], o, 'truncated capability header');
    const code = buf[o];
    const len = buf[o + 1];
    const v = o + 2;
    if (v + len > end) throw malformed(code, o, `length ${len} runs past the parameter`);
    const want = (n: number): void => {
      if (len !== n) throw malformed(code, o, `length ${len}, expected ${n}`);
    };
    switch (code) {
      case CapabilityCode.Multiprotocol:
        want(4);
        out.push({ kind: 'multiprotocol', afi: buf.readUInt16BE(v), safi: buf[v + 3] });
        break;
      case CapabilityCode.RouteRefresh:
        want(0);
        out.push({ kind: 'route-refresh' });
        break;
      case CapabilityCode.RouteRefreshCisco:
        want(0);
        out.push({ kind: 'route-refresh-cisco' });
        break;
      case CapabilityCode.ExtendedMessage:
        want(0);
        out.push({ kind: 'extended-message' });
        break;
      case CapabilityCode.ExtendedNextHop: {
        if (len === 0 || len % 6 !== 0) throw malformed(code, o, `length ${len} is not a non-zero multiple of 6`);
        const families: ExtendedNextHopFamily[] = [];
        for (let f = v; f < v + len; f += 6) families.push({ afi: buf.readUInt16BE(f), safi: buf.readUInt16BE(f + 2), nextHopAfi: buf.readUInt16BE(f + 4) });
        out.push({ kind: 'extended-next-hop', families });
        break;
      }
      case CapabilityCode.FourOctetAs:
        want(4);
        out.push({ kind: 'four-octet-as', asn: buf.readUInt32BE(v) });
        break;
      case CapabilityCode.GracefulRestart: {
        if (len < 2 || (len - 2) % 4 !== 0) throw malformed(code, o, `length ${len} is not 2 + 4n`);
        const word = buf.readUInt16BE(v);
        const families: GracefulRestartFamily[] = [];
        for (let f = v + 2; f < v + len; f += 4) {
          families.push({ afi: buf.readUInt16BE(f), safi: buf[f + 2], forwardingState: (buf[f + 3] & 0x80) !== 0 });
        }
        out.push({
          kind: 'graceful-restart',
          restartState: (word & 0x8000) !== 0,
          notification: (word & 0x4000) !== 0,
          restartTime: word & 0xfff,
          families,
        });
        break;
      }
      default:
        // Unknown capabilities are kept (for logs) and otherwise ignored, as RFC 5492 asks.
        out.push({ kind: 'unknown', code, value: Buffer.from(buf.subarray(v, v + len)) });
    }
    o = v + len;
  }
  return out;
}
