// The IPv6 next hop for IPv6 routes sent over an IPv4 session (MP-BGP, RFC 4760): the global IPv6
// address of the interface that carries the session, as FRR does. The session only knows its local
// IPv4 address; this finds the interface holding it and that interface's global IPv6 address.
import os from 'node:os';

/** What the lookup found: the interface carrying the IPv4 address (if any) and its global IPv6 address (if any). */
export interface Ipv6NextHop {
  interface?: string;
  address?: string;
}

type Interfaces = NodeJS.Dict<os.NetworkInterfaceInfo[]>;

/** fe80::/10 (the only non-global unicast scope Linux gives an interface address besides ::1). */
function isLinkLocal(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

/**
 * The global IPv6 address on the interface that holds `localAddress` (the session's IPv4 address,
 * or its IPv6 link-local one on an unnumbered session; the first global the kernel lists), from
 * `interfaces` (default: this network namespace's, os.networkInterfaces()).
 */
export function ipv6NextHopFor(localAddress: string, interfaces: Interfaces = os.networkInterfaces()): Ipv6NextHop {
  const family = localAddress.includes(':') ? 'IPv6' : 'IPv4';
  const wanted = localAddress.split('%')[0].toLowerCase();
  for (const [name, addrs] of Object.entries(interfaces)) {
    if (!addrs?.some((a) => a.family === family && a.address.toLowerCase() === wanted)) continue;
    const global = addrs.find((a) => a.family === 'IPv6' && !a.internal && a.scopeid === 0 && !isLinkLocal(a.address) && a.address !== '::1');
    return global ? { interface: name, address: global.address } : { interface: name };
  }
  return {};
}
