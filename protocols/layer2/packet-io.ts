// The real Layer2Io: one kernel-filtered packet socket per interface: ARP requests and NS to answer,
// ARP replies and NA to notice another host claiming one of our VIPs.
import { PacketSocket } from '../rawio/packet-socket.js';
import { ARP_REPLY, ARP_REQUEST } from '../arp/packet.js';
import { ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION } from '../ndp/messages.js';
import type { Layer2Io, Layer2Port, LinkInfo } from './io.js';

export const packetSocketIo: Layer2Io = {
  open(link: LinkInfo, onFrame: (frame: Buffer) => void, onError: (err: Error) => void): Layer2Port {
    return PacketSocket.open({
      iface: link.name,
      select: { arpOps: [ARP_REQUEST, ARP_REPLY], icmp6Types: [ICMPV6_NEIGHBOR_SOLICITATION, ICMPV6_NEIGHBOR_ADVERTISEMENT] },
      onFrame,
      onError,
    });
  },
};
