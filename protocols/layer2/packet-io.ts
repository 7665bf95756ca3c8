// The real Layer2Io: one kernel-filtered packet socket per interface (ARP requests and NS only).
import { PacketSocket } from '../rawio/packet-socket.js';
import { ARP_REQUEST } from '../arp/packet.js';
import { ICMPV6_NEIGHBOR_SOLICITATION } from '../ndp/messages.js';
import type { Layer2Io, Layer2Port, LinkInfo } from './io.js';

export const packetSocketIo: Layer2Io = {
  open(link: LinkInfo, onFrame: (frame: Buffer) => void, onError: (err: Error) => void): Layer2Port {
    return PacketSocket.open({
      iface: link.name,
      select: { arpOps: [ARP_REQUEST], icmp6Types: [ICMPV6_NEIGHBOR_SOLICITATION] },
      onFrame,
      onError,
    });
  },
};
