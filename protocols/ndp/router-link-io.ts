// What a router link needs from the system, behind an interface so its state machine is unit-tested
// with a fake: the interface's MAC, carrier and link-local address, and a packet socket that passes
// only Router Solicitations and Advertisements.
import { readFileSync } from 'node:fs';
import { readLinkFacts, selectInterfaces } from '../layer2/interfaces.js';
import { PacketSocket } from '../rawio/packet-socket.js';
import type { Mac } from '../rawio/mac.js';
import { ICMPV6_ROUTER_ADVERTISEMENT, ICMPV6_ROUTER_SOLICITATION } from './router-advertisement.js';

/** The interface while it can carry RS/RA: up, with carrier, Ethernet, with a usable link-local address. */
export interface RouterLinkFacts {
  mac: Mac;
  /** 16 bytes, fe80::/10. */
  linkLocal: Buffer;
}

/** Raw frame I/O on the interface. */
export interface RouterLinkPort {
  /** Sends a whole Ethernet frame; false when dropped (queue full). May throw (link gone). */
  send(frame: Buffer): boolean;
  /** IPv6 multicast membership (ff02::2, to hear solicitations when we advertise). */
  joinGroup(group: Buffer): void;
  close(): void;
}

export interface RouterLinkIo {
  /** The interface now; undefined when absent, down, without carrier, not Ethernet or without a link-local address yet (DAD). */
  facts(ifname: string): RouterLinkFacts | undefined;
  /** Starts receiving RS and RA frames (the Buffer is valid only during the call). */
  open(ifname: string, onFrame: (frame: Buffer) => void, onError: (err: Error) => void): RouterLinkPort;
}

// IFA_F_* flags of /proc/net/if_inet6 that make an address unusable as a source.
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;
const SCOPE_LINK = 0x20;

/** The first usable link-local address of `ifname` in /proc/net/if_inet6 text (one line per address). */
export function linkLocalFromIfInet6(text: string, ifname: string): Buffer | undefined {
  for (const line of text.split('\n')) {
    // "fe800000000000000000000000000001 02 40 20 80 eth0": address, ifindex, prefix length, scope, flags, name.
    const f = line.trim().split(/\s+/);
    if (f.length !== 6 || f[5] !== ifname || !/^[0-9a-f]{32}$/i.test(f[0])) continue;
    if (parseInt(f[3], 16) !== SCOPE_LINK || parseInt(f[4], 16) & (IFA_F_DADFAILED | IFA_F_TENTATIVE)) continue;
    return Buffer.from(f[0], 'hex');
  }
  return undefined;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The real I/O: sysfs and procfs of the current network namespace, our packet socket. */
export const systemRouterLinkIo: RouterLinkIo = {
  facts(ifname: string): RouterLinkFacts | undefined {
    const f = readLinkFacts(ifname);
    // The announcer's eligibility rule (Ethernet, up, broadcast, not NOARP) for an explicitly named interface.
    const link = f && selectInterfaces([f], { include: [ifname] }).links[0];
    if (!link) return undefined;
    // Reads fail while the interface is administratively down; "0": no carrier (cable, veth peer down).
    if (readOr(`/sys/class/net/${ifname}/carrier`)?.trim() !== '1') return undefined;
    const ll = linkLocalFromIfInet6(readOr('/proc/net/if_inet6') ?? '', ifname);
    return ll ? { mac: link.mac, linkLocal: ll } : undefined;
  },
  open(ifname, onFrame, onError): RouterLinkPort {
    // RS/RA come a few a minute: the smallest kernel ring (4 blocks, 256 KiB), not the flood-sized default.
    return PacketSocket.open({ iface: ifname, select: { icmp6Types: [ICMPV6_ROUTER_SOLICITATION, ICMPV6_ROUTER_ADVERTISEMENT] }, onFrame, onError, kernelRingBytes: 256 * 1024 });
  },
};
