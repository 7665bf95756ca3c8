// Unnumbered peering (RFC 8950 sessions over IPv6 link-local): a peer named by interface. Its
// address is the router's link-local address on that interface, which protocols/ndp/router-link.ts
// learns from the router's Router Advertisements (and it advertises ours, which FRR waits for).
// The session itself is an ordinary BgpSession to `fe80::x%ifname` with Extended Next Hop offered.

/** What the speaker needs of a router link (protocols/ndp/router-link.ts's startRouterLink fits). */
export interface RouterLinkHandle {
  /** The router's link-local address now (no zone), if known. */
  router(): string | undefined;
  close(): void;
}

export interface RouterLinkLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export type StartRouterLink = (opts: {
  ifname: string;
  /** Send Router Advertisements (lifetime 0) so the router learns our link-local address. */
  sendAdvertisements: boolean;
  /** The router's link-local address when it appears, changes (the new one) or goes (undefined). */
  onRouter: (linkLocal: string | undefined) => void;
  log?: RouterLinkLog;
}) => RouterLinkHandle;

/** The session address of the router on an interface: its link-local address with the interface as zone. */
export function unnumberedPeerAddress(linkLocal: string, ifname: string): string {
  return `${linkLocal.split('%')[0]}%${ifname}`;
}

/** Linux interface names: 1..15 bytes, no '/', whitespace, ':' or '%' (the zone separator). */
export function checkInterfaceName(name: string): string | undefined {
  if (name.length === 0 || Buffer.byteLength(name) > 15) return `interface name ${JSON.stringify(name)} must be 1..15 bytes`;
  if (/[\s/:%]/.test(name) || name === '.' || name === '..') return `interface name ${JSON.stringify(name)} has a character Linux does not allow in one`;
  return undefined;
}

/**
 * Follows the router on one interface: onPeer gets the session address (`fe80::x%ifname`) each time
 * the router's address appears or changes, and undefined when it goes (link down, router silent).
 * The caller restarts only that peer's session on a change.
 */
export function followRouter(ifname: string, start: StartRouterLink, onPeer: (peerAddress: string | undefined) => void, log?: RouterLinkLog): RouterLinkHandle {
  let current: string | undefined;
  const opts: Parameters<StartRouterLink>[0] = {
    ifname,
    sendAdvertisements: true,
    onRouter: (linkLocal) => {
      const next = linkLocal === undefined ? undefined : unnumberedPeerAddress(linkLocal, ifname);
      if (next === current) return;
      current = next;
      onPeer(next);
    },
  };
  if (log) opts.log = log;
  return start(opts);
}
