// Whole Ethernet frames carrying ARP: parse a received frame, build replies and gratuitous ARPs.
import * as ethernet from '../rawio/ethernet.js';
import { ETHERTYPE_ARP, ETHERNET_HEADER_LENGTH, type EthernetHeader } from '../rawio/ethernet.js';
import { FrameError } from '../rawio/frame-error.js';
import { BROADCAST_MAC, ZERO_MAC, type Mac } from '../rawio/mac.js';
import * as arp from './packet.js';
import { ARP_PACKET_LENGTH, ARP_REPLY, ARP_REQUEST, type ArpPacket } from './packet.js';

/** Ethernet minimum frame without FCS: the NIC pads shorter ones, a packet socket does not. */
const MIN_FRAME = 60;

export interface ArpFrame {
  eth: EthernetHeader;
  arp: ArpPacket;
}

/** Decodes an Ethernet frame that must carry ARP; throws FrameError otherwise. */
export function decodeArpFrame(frame: Buffer): ArpFrame {
  const eth = ethernet.decode(frame, 0);
  if (eth.etherType !== ETHERTYPE_ARP) {
    throw new FrameError('ethernet', 'ethernet.etherType', `expected 0x0806 (ARP), got 0x${eth.etherType.toString(16)}`, 12);
  }
  return { eth, arp: arp.decode(frame, ETHERNET_HEADER_LENGTH) };
}

export function encodeArpFrame(f: ArpFrame): Buffer {
  const buf = Buffer.alloc(Math.max(MIN_FRAME, ETHERNET_HEADER_LENGTH + ARP_PACKET_LENGTH));
  const n = ethernet.encode({ ...f.eth, etherType: ETHERTYPE_ARP }, buf, 0);
  arp.encode(f.arp, buf, n);
  return buf;
}

/** The unicast reply to `request` saying `ip` is at `mac`. */
export function arpReplyFrame(request: ArpPacket, ip: string, mac: Mac): Buffer {
  return encodeArpFrame({
    eth: { dst: request.senderMac, src: mac, etherType: ETHERTYPE_ARP },
    arp: { op: ARP_REPLY, senderMac: mac, senderIp: ip, targetMac: request.senderMac, targetIp: request.senderIp },
  });
}

/**
 * The two broadcast gratuitous ARPs (sender = target = ip): a request, which every stack processes,
 * and a reply, for the ones that only learn from replies.
 */
export function gratuitousArpFrames(ip: string, mac: Mac): [Buffer, Buffer] {
  return [
    encodeArpFrame({
      eth: { dst: BROADCAST_MAC, src: mac, etherType: ETHERTYPE_ARP },
      arp: { op: ARP_REQUEST, senderMac: mac, senderIp: ip, targetMac: ZERO_MAC, targetIp: ip },
    }),
    encodeArpFrame({
      eth: { dst: BROADCAST_MAC, src: mac, etherType: ETHERTYPE_ARP },
      arp: { op: ARP_REPLY, senderMac: mac, senderIp: ip, targetMac: BROADCAST_MAC, targetIp: ip },
    }),
  ];
}

/** A broadcast who-has request, as a client sends (used by the lab flood sender). */
export function arpRequestFrame(senderIp: string, senderMac: Mac, targetIp: string): Buffer {
  return encodeArpFrame({
    eth: { dst: BROADCAST_MAC, src: senderMac, etherType: ETHERTYPE_ARP },
    arp: { op: ARP_REQUEST, senderMac, senderIp, targetMac: ZERO_MAC, targetIp },
  });
}
