// Crafted Router Advertisements by class, each failing one RFC 4861 §6.1.2 check, with the counter
// the router link must drop it under. One catalogue serves the unit test (fake I/O) and the lab
// (real packet sockets on a veth, sent by router-link-tool.ts `hostile`).
import { icmpv6Checksum } from '../../protocols/ndp/checksum.js';
import { parseIpv6 } from '../../protocols/ndp/ipv6-address.js';
import { routerAdvertisementFrame } from '../../protocols/ndp/router-frames.js';
import type { RouterLinkDrop } from '../../protocols/ndp/router-link.js';
import type { Mac } from '../../protocols/rawio/mac.js';

export interface HostileRouterCase {
  name: string;
  frame: Buffer;
  drop: RouterLinkDrop;
  /** The lab's bridge (br_netfilter validates IPv6 lengths) drops it before it reaches the speaker. */
  unitOnly?: boolean;
}

/** Recomputes the ICMPv6 checksum after an edit, so only the intended check fails. */
export function reseal(f: Buffer): Buffer {
  f.writeUInt16BE(0, 56);
  f.writeUInt16BE(icmpv6Checksum(f.subarray(22, 38), f.subarray(38, 54), f.subarray(54, 54 + f.readUInt16BE(18))), 56);
  return f;
}

/** RAs from `mac` / link-local `src` (lifetime 30 s), each broken in one way. */
export function hostileRouterAdvertisements(mac: Mac, src: Buffer): HostileRouterCase[] {
  const ra = () => routerAdvertisementFrame(mac, src, { routerLifetime: 30, curHopLimit: 64 });
  const withSource = (addr: string) => reseal(Buffer.concat([ra().subarray(0, 22), parseIpv6(addr), ra().subarray(38)]));
  return [
    { name: 'hop limit 64 (forwarded)', frame: reseal(ra().fill(64, 21, 22)), drop: 'hopLimit' },
    { name: 'hop limit 254', frame: reseal(ra().fill(254, 21, 22)), drop: 'hopLimit' },
    { name: 'global source', frame: withSource('2001:db8::aa'), drop: 'source' },
    { name: 'unspecified source', frame: withSource('::'), drop: 'source' },
    { name: 'multicast source', frame: withSource('ff02::1'), drop: 'source' },
    { name: 'ICMP code 1', frame: reseal(ra().fill(1, 55, 56)), drop: 'code' },
    { name: 'bad checksum', frame: ra().fill(0x42, 57, 58), drop: 'checksum' },
    { name: '12-byte RA', frame: reseal(Buffer.from(ra().subarray(0, 54 + 12)).fill(0, 18, 19).fill(12, 19, 20)), drop: 'length' },
    { name: 'payload length beyond the frame', frame: ra().fill(0xff, 18, 19), drop: 'length', unitOnly: true },
    { name: 'option of length 0', frame: reseal(ra().fill(0, 71, 72)), drop: 'malformed' },
  ];
}
