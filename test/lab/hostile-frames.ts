// Crafted ARP/NDP frames by class, with what a layer2 announcer that owns the VIPs must do with each:
// answer it, drop it silently, or treat it as another host claiming the VIP. One catalogue serves the
// unit test (fake I/O) and the lab (real packet sockets on a veth, via l2-tool.ts `hostile`).
import { encodeArpFrame } from '../../protocols/arp/frames.js';
import { parseIpv4 } from '../../protocols/arp/ipv4-address.js';
import { icmpv6Checksum } from '../../protocols/ndp/checksum.js';
import { encodeNdpFrame } from '../../protocols/ndp/frames.js';
import { parseIpv6 } from '../../protocols/ndp/ipv6-address.js';
import { ALL_NODES, multicastMac, solicitedNodeAddress } from '../../protocols/ndp/multicast.js';
import { BROADCAST_MAC, parseMac, ZERO_MAC, type Mac } from '../../protocols/rawio/mac.js';

/** What the owner of the VIPs must do. */
export type Expectation =
  /** One answer to the sender (ARP reply / solicited NA), or for a DAD probe an NA to all nodes. */
  | 'answer'
  /** Nothing on the wire. */
  | 'drop'
  /** A conflict: noticed, and (first time in the defend interval) one defensive announcement. */
  | 'conflict';

export interface HostileCase {
  name: string;
  frame: Buffer;
  expect: Expectation;
  family: 4 | 6;
  /** Needs the real kernel (VLAN tags become metadata the fake I/O cannot model; MTU-sized slots). */
  labOnly?: boolean;
}

export interface HostileParams {
  /** The sender's (client's) MAC and addresses. */
  clientMac: Mac;
  clientIp4: string;
  clientIp6: string;
  /** The announcer's interface MAC (for unicast requests). */
  ownerMac: Mac;
  vip4: string;
  vip6: string;
  /** Bytes of the long NS (jumbo-frame case); default 4,000. */
  jumboLength?: number;
}

const MULTICAST_MAC = parseMac('01:00:5e:00:00:fb');

function arp(p: HostileParams, o: { ethSrc?: Mac; ethDst?: Mac; op?: number; senderMac?: Mac; senderIp?: string; targetIp?: string }): Buffer {
  return encodeArpFrame({
    eth: { dst: o.ethDst ?? BROADCAST_MAC, src: o.ethSrc ?? p.clientMac, etherType: 0x0806 },
    arp: { op: o.op ?? 1, senderMac: o.senderMac ?? p.clientMac, senderIp: o.senderIp ?? p.clientIp4, targetMac: ZERO_MAC, targetIp: o.targetIp ?? p.vip4 },
  });
}

function ns(p: HostileParams, o: { ethSrc?: Mac; ethDst?: Mac; src?: Buffer; dst?: Buffer; lladdr?: Mac | null; target?: Buffer }): Buffer {
  const target = o.target ?? parseIpv6(p.vip6);
  const group = solicitedNodeAddress(target);
  const dst = o.dst ?? group;
  return encodeNdpFrame({
    eth: { dst: o.ethDst ?? multicastMac(dst), src: o.ethSrc ?? p.clientMac, etherType: 0x86dd },
    ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src: o.src ?? parseIpv6(p.clientIp6), dst },
    msg: o.lladdr === null ? { type: 135, target } : { type: 135, target, sourceLinkLayer: o.lladdr ?? p.clientMac },
  });
}

/** Inserts extension headers (next header 0 = hop-by-hop, 60 = destination options) of 8 bytes each before the ICMPv6 header. */
export function withExtensionHeaders(frame: Buffer, kinds: number[]): Buffer {
  // Each: next header, length 0 (8 bytes), then a PadN option of 4 bytes. The ICMPv6 checksum does not change.
  const exts = kinds.map((_, i) => Buffer.from([i + 1 < kinds.length ? kinds[i + 1] : 58, 0, 1, 4, 0, 0, 0, 0]));
  const head = Buffer.from(frame.subarray(0, 54));
  head[20] = kinds[0];
  const out = Buffer.concat([head, ...exts, frame.subarray(54)]);
  out.writeUInt16BE(out.length - 54, 18);
  return out;
}

/** Pads an NS with an unknown option (receivers ignore it: RFC 4861 §4.6) up to `length` bytes, checksum fixed. */
export function paddedSolicitation(frame: Buffer, length: number): Buffer {
  const icmpLen = frame.length - 54;
  const pad = Math.max(8, Math.floor((length - frame.length) / 8) * 8);
  // An option's length is one byte of 8-octet units: 2,040 bytes at most each.
  const options: Buffer[] = [];
  for (let left = pad; left > 0; left -= Math.min(left, 2040)) {
    const option = Buffer.alloc(Math.min(left, 2040));
    option[0] = 250;
    option[1] = option.length / 8;
    options.push(option);
  }
  const out = Buffer.concat([frame, ...options]);
  out.writeUInt16BE(icmpLen + pad, 18);
  out.writeUInt16BE(0, 56);
  out.writeUInt16BE(icmpv6Checksum(out.subarray(22, 38), out.subarray(38, 54), out.subarray(54)), 56);
  return out;
}

/** Inserts an 802.1Q tag with `vid` after the MAC addresses. */
export function vlanTagged(frame: Buffer, vid: number): Buffer {
  const tag = Buffer.from([0x81, 0x00, (vid >> 8) & 0x0f, vid & 0xff]);
  return Buffer.concat([frame.subarray(0, 12), tag, frame.subarray(12)]);
}

/** Every class; conflicts last (a VIP is defended once per interval, so their order matters). */
export function hostileCases(p: HostileParams): HostileCase[] {
  const c4: HostileCase[] = [
    { name: 'arp: broadcast request', frame: arp(p, {}), expect: 'answer', family: 4 },
    { name: 'arp: unicast request to the owner', frame: arp(p, { ethDst: p.ownerMac }), expect: 'answer', family: 4 },
    { name: 'arp: RFC 5227 probe (sender 0.0.0.0)', frame: arp(p, { senderIp: '0.0.0.0' }), expect: 'answer', family: 4 },
    { name: 'arp: sender at a .255 host address', frame: arp(p, { senderIp: '198.51.100.255' }), expect: 'answer', family: 4 },
    { name: 'arp: priority-tagged (VLAN id 0)', frame: vlanTagged(arp(p, {}), 0), expect: 'answer', family: 4, labOnly: true },
    { name: 'arp: tagged for VLAN 100', frame: vlanTagged(arp(p, {}), 100), expect: 'drop', family: 4, labOnly: true },
    { name: 'arp: Ethernet source broadcast', frame: arp(p, { ethSrc: BROADCAST_MAC }), expect: 'drop', family: 4 },
    { name: 'arp: Ethernet source multicast', frame: arp(p, { ethSrc: MULTICAST_MAC }), expect: 'drop', family: 4 },
    { name: 'arp: Ethernet source zero', frame: arp(p, { ethSrc: ZERO_MAC }), expect: 'drop', family: 4 },
    { name: 'arp: sender MAC broadcast', frame: arp(p, { senderMac: BROADCAST_MAC }), expect: 'drop', family: 4 },
    { name: 'arp: sender MAC multicast', frame: arp(p, { senderMac: MULTICAST_MAC }), expect: 'drop', family: 4 },
    { name: 'arp: sender MAC zero', frame: arp(p, { senderMac: ZERO_MAC }), expect: 'drop', family: 4 },
    { name: 'arp: sender IP 255.255.255.255', frame: arp(p, { senderIp: '255.255.255.255' }), expect: 'drop', family: 4 },
    { name: 'arp: sender IP multicast', frame: arp(p, { senderIp: '224.0.0.251' }), expect: 'drop', family: 4 },
    { name: 'arp: sender IP loopback', frame: arp(p, { senderIp: '127.0.0.1' }), expect: 'drop', family: 4 },
    { name: 'arp: sender IP class E', frame: arp(p, { senderIp: '240.0.0.1' }), expect: 'drop', family: 4 },
    { name: 'arp: request for an address we do not own', frame: arp(p, { targetIp: '203.0.113.254' }), expect: 'drop', family: 4 },
    { name: 'arp: reply for the VIP from another MAC', frame: arp(p, { op: 2, senderIp: p.vip4, ethDst: p.ownerMac }), expect: 'conflict', family: 4 },
  ];
  const vip6 = parseIpv6(p.vip6);
  const plain = ns(p, {});
  const c6: HostileCase[] = [
    { name: 'ns: multicast solicitation', frame: plain, expect: 'answer', family: 6 },
    { name: 'ns: unicast without source link-layer option (NUD)', frame: ns(p, { ethDst: p.ownerMac, dst: vip6, lladdr: null }), expect: 'answer', family: 6 },
    { name: 'ns: behind a hop-by-hop header', frame: withExtensionHeaders(plain, [0]), expect: 'answer', family: 6 },
    { name: 'ns: behind a destination options header', frame: withExtensionHeaders(plain, [60]), expect: 'answer', family: 6 },
    { name: 'ns: DAD probe (from ::, no option)', frame: ns(p, { src: Buffer.alloc(16), lladdr: null }), expect: 'answer', family: 6 },
    { name: 'ns: longer than 2,048 bytes (jumbo link)', frame: paddedSolicitation(plain, p.jumboLength ?? 4000), expect: 'answer', family: 6, labOnly: true },
    { name: 'ns: tagged for VLAN 100', frame: vlanTagged(plain, 100), expect: 'drop', family: 6, labOnly: true },
    { name: 'ns: from :: with a source link-layer option', frame: ns(p, { src: Buffer.alloc(16) }), expect: 'drop', family: 6 },
    { name: 'ns: DAD probe not to the solicited-node group', frame: ns(p, { src: Buffer.alloc(16), dst: ALL_NODES, lladdr: null }), expect: 'drop', family: 6 },
    { name: 'ns: source multicast', frame: ns(p, { src: parseIpv6('ff02::1') }), expect: 'drop', family: 6 },
    { name: 'ns: source loopback', frame: ns(p, { src: parseIpv6('::1') }), expect: 'drop', family: 6 },
    { name: 'ns: source IPv4-mapped', frame: ns(p, { src: Buffer.from([...Buffer.alloc(10), 0xff, 0xff, ...parseIpv4(p.clientIp4)]) }), expect: 'drop', family: 6 },
    { name: 'ns: Ethernet source multicast', frame: ns(p, { ethSrc: multicastMac(ALL_NODES) }), expect: 'drop', family: 6 },
    { name: 'ns: link-layer option multicast', frame: ns(p, { lladdr: BROADCAST_MAC }), expect: 'drop', family: 6 },
    { name: 'ns: link-layer option zero', frame: ns(p, { lladdr: ZERO_MAC }), expect: 'drop', family: 6 },
    { name: 'ns: behind two extension headers', frame: withExtensionHeaders(plain, [0, 60]), expect: 'drop', family: 6 },
    { name: 'ns: for an address we do not own', frame: ns(p, { target: parseIpv6('2001:db8:ffff::fe') }), expect: 'drop', family: 6 },
    { name: 'ns: from the VIP itself (another MAC)', frame: ns(p, { src: vip6 }), expect: 'conflict', family: 6 },
  ];
  return [...c4, ...c6];
}

/** A gratuitous ARP / override NA from another host claiming the VIP: the conflicts a defence answers. */
export function claimFrames(p: HostileParams): { arp: Buffer; na: Buffer } {
  const vip6 = parseIpv6(p.vip6);
  return {
    arp: arp(p, { senderIp: p.vip4, targetIp: p.vip4 }),
    na: encodeNdpFrame({
      eth: { dst: multicastMac(ALL_NODES), src: p.clientMac, etherType: 0x86dd },
      ip: { trafficClass: 0, flowLabel: 0, hopLimit: 255, src: vip6, dst: ALL_NODES },
      msg: { type: 136, router: false, solicited: false, override: true, target: vip6, targetLinkLayer: p.clientMac },
    }),
  };
}
