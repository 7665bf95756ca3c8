// The full lab's router reconfigured per scenario for e2e-wire.test.ts: a list of passive neighbors,
// each with the router's local address and AS, and optionally multihop, a TCP-MD5 password and an
// IPv6 unicast channel on an IPv4 session. BIRD is reconfigured live (`birdc configure`); FRR
// (zebra + bgpd) is restarted on the new bgpd.conf. Also the router-side views the scenarios read:
// one neighbor's session as the router reports it, the paths of one prefix, and packets captured
// at the router (TTL and arrival times).
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROUTER_AS, type FullLab } from './full-lab.js';
import { restartRouter, stopRouter } from './full-router.js';
import { birdCommand, frrCommand, frrPath, parseBirdRoutes, type FrrPathJson, type RoutePath } from './routers.js';

export interface WireNeighbor {
  /** BIRD protocol name (letters and digits). */
  name: string;
  /** The router's address for this session (BIRD listens on it). */
  local: string;
  /** The node's address the session comes from. */
  remote: string;
  remoteAs: number;
  /** The router's AS on this session (default ROUTER_AS; equal to remoteAs = iBGP). */
  localAs?: number;
  multihop?: boolean;
  password?: string;
  /** Also IPv6 unicast on this (IPv4) session. */
  ipv6?: boolean;
  /** BFD for this session (300 ms x 3, the default profile): BIRD's `bfd on`, FRR's `neighbor bfd` (bfdd runs). */
  bfd?: boolean;
}

/** The router's BFD timers for `bfd` neighbors: MetalLB's (FRR's) defaults. */
export const ROUTER_BFD = { intervalMs: 300, multiplier: 3 };

const dir = (lab: FullLab): string => join(lab.dir, lab.state.router);
const birdSock = (lab: FullLab): string => join(dir(lab), 'bird.ctl');
const bgpdVty = (lab: FullLab): string => join(dir(lab), 'bgpd.vty');

function birdConfig(lab: FullLab, neighbors: readonly WireNeighbor[]): string {
  const lines = [
    `log "${join(dir(lab), 'bird.log')}" all;`,
    `router id ${lab.host('router').ipv4};`,
    'protocol device { scan time 10; }',
    'protocol kernel k4 { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }',
    'protocol kernel k6 { ipv6 { import none; export where source = RTS_BGP; }; merge paths on; }',
  ];
  const { intervalMs, multiplier } = ROUTER_BFD;
  if (neighbors.some((n) => n.bfd)) {
    lines.push(`protocol bfd { interface "*" { min rx interval ${intervalMs} ms; min tx interval ${intervalMs} ms; multiplier ${multiplier}; }; multihop { min rx interval ${intervalMs} ms; min tx interval ${intervalMs} ms; multiplier ${multiplier}; }; }`);
  }
  for (const n of neighbors) {
    const ibgp = (n.localAs ?? ROUTER_AS) === n.remoteAs;
    const body = [
      `local ${n.local} as ${n.localAs ?? ROUTER_AS};`,
      `neighbor ${n.remote} as ${n.remoteAs};`,
      'passive on;',
      // Next hops are on the link: resolve them directly (multihop and iBGP would look them up recursively).
      n.multihop ? 'multihop;' : 'direct;',
      n.password ? `password "${n.password}";` : '',
      n.bfd ? 'bfd on;' : '',
      'connect retry time 1;',
      'error wait time 1, 2;',
      `ipv4 { import all; export none;${ibgp ? ' gateway direct;' : ''} };`,
      n.ipv6 ? 'ipv6 { import all; export none; };' : '',
    ].filter(Boolean);
    lines.push(`protocol bgp ${n.name} {\n  ${body.join('\n  ')}\n}`);
  }
  return `${lines.join('\n')}\n`;
}

function frrConfig(lab: FullLab, neighbors: readonly WireNeighbor[]): string {
  const l = ['hostname router', `router bgp ${ROUTER_AS}`, ` bgp router-id ${lab.host('router').ipv4}`, ' no bgp ebgp-requires-policy', ' no bgp network import-check', ' bgp bestpath as-path multipath-relax'];
  for (const n of neighbors) {
    if ((n.localAs ?? ROUTER_AS) !== ROUTER_AS) throw new Error(`FRR lab router: one AS (${ROUTER_AS}) for all neighbors`);
    l.push(` neighbor ${n.remote} remote-as ${n.remoteAs}`, ` neighbor ${n.remote} passive`, ` neighbor ${n.remote} timers connect 1`);
    if (n.multihop) l.push(` neighbor ${n.remote} ebgp-multihop 255`);
    if (n.password) l.push(` neighbor ${n.remote} password ${n.password}`);
    if (n.bfd) l.push(` neighbor ${n.remote} bfd ${ROUTER_BFD.multiplier} ${ROUTER_BFD.intervalMs} ${ROUTER_BFD.intervalMs}`);
  }
  l.push(' address-family ipv4 unicast', '  maximum-paths 8', '  maximum-paths ibgp 8', ' exit-address-family');
  l.push(' address-family ipv6 unicast', '  maximum-paths 8', ...neighbors.filter((n) => n.ipv6).map((n) => `  neighbor ${n.remote} activate`), ' exit-address-family');
  return `${l.join('\n')}\n`;
}

/** Replaces the router's neighbors (and so its sessions) with `neighbors`. */
export async function configureRouter(lab: FullLab, neighbors: readonly WireNeighbor[]): Promise<void> {
  if (lab.state.router === 'bird') {
    writeFileSync(join(dir(lab), 'bird.conf'), birdConfig(lab, neighbors));
    const out = await birdCommand(birdSock(lab), 'configure');
    if (!/Reconfigured|Reconfiguration in progress/.test(out)) throw new Error(`birdc configure: ${out.trim()}`);
    return;
  }
  await stopRouter(lab, 'SIGTERM');
  writeFileSync(join(dir(lab), 'bgpd.conf'), frrConfig(lab, neighbors), { mode: 0o644 });
  // bfdd runs (restartRouter starts it) while a bfdd.conf is there: only for BFD neighbors.
  if (neighbors.some((n) => n.bfd)) writeFileSync(join(dir(lab), 'bfdd.conf'), 'hostname router\nbfd\nexit\n', { mode: 0o644 });
  else rmSync(join(dir(lab), 'bfdd.conf'), { force: true });
  await restartRouter(lab);
}

/** One neighbor's session as the router reports it. */
export interface RouterNeighbor {
  state: string;
  /** The BGP identifier the node sent. */
  routerId?: string;
  /** Negotiated hold time (s). */
  holdTime?: number;
  /** The session's addresses: the router's and the node's. */
  local?: string;
  remote?: string;
  /** The router's command and its raw answer, for failure messages and the report. */
  raw: string;
}

export async function routerNeighbor(lab: FullLab, n: WireNeighbor): Promise<RouterNeighbor> {
  if (lab.state.router === 'bird') {
    const raw = await birdCommand(birdSock(lab), `show protocols all ${n.name}`);
    const get = (re: RegExp): string | undefined => re.exec(raw)?.[1];
    const r: RouterNeighbor = { state: get(/BGP state:\s+(\w+)/) ?? 'unknown', raw };
    const id = get(/Neighbor ID:\s+(\S+)/);
    if (id) r.routerId = id;
    const hold = get(/Hold timer:\s+[\d.]+\/(\d+)/);
    if (hold) r.holdTime = Number(hold);
    const local = get(/Source address:\s+(\S+)/);
    if (local) r.local = local;
    const remote = get(/Neighbor address:\s+(\S+)/);
    if (remote) r.remote = remote;
    return r;
  }
  const raw = await frrCommand(bgpdVty(lab), `show bgp neighbors ${n.remote} json`);
  const j = (JSON.parse(raw) as Record<string, { bgpState?: string; remoteRouterId?: string; bgpTimerHoldTimeMsecs?: number; hostLocal?: string; hostForeign?: string }>)[n.remote] ?? {};
  const r: RouterNeighbor = { state: j.bgpState ?? 'unknown', raw };
  if (j.remoteRouterId && j.remoteRouterId !== '0.0.0.0') r.routerId = j.remoteRouterId;
  if (j.bgpTimerHoldTimeMsecs !== undefined && j.bgpState === 'Established') r.holdTime = j.bgpTimerHoldTimeMsecs / 1000;
  if (j.hostLocal) r.local = j.hostLocal;
  if (j.hostForeign) r.remote = j.hostForeign;
  return r;
}

/** Every path the router holds for `prefix` (BIRD: `peer` is the protocol name; FRR: the neighbor address). */
export async function routerPaths(lab: FullLab, prefix: string): Promise<RoutePath[]> {
  const v6 = prefix.includes(':');
  if (lab.state.router === 'bird') {
    try {
      return parseBirdRoutes(await birdCommand(birdSock(lab), `show route ${prefix} all`), []).filter((p) => p.prefix === prefix);
    } catch (e) {
      if (/Network not found/.test((e as Error).message)) return [];
      throw e;
    }
  }
  const j = JSON.parse(await frrCommand(bgpdVty(lab), `show bgp ${v6 ? 'ipv6' : 'ipv4'} unicast ${prefix} json`)) as { paths?: FrrPathJson[] };
  return (j.paths ?? []).map((p) => frrPath(prefix, p));
}

/** A BGP packet from the node as the router received it. */
export interface CapturedPacket {
  /** Arrival time, seconds. */
  time: number;
  ttl: number;
  src: string;
}

/**
 * Captures up to `count` BGP KEEPALIVEs (TCP payload of exactly 19 bytes, so an UPDATE burst cannot
 * pass for one) that `from` sends to the router's port 179, on the router's eth0 (tcpdump -v prints
 * each packet's IP TTL), for at most `seconds`.
 */
export async function captureAtRouter(lab: FullLab, from: string, count: number, seconds: number): Promise<{ packets: CapturedPacket[]; raw: string }> {
  const filter = `src host ${from} and tcp dst port 179 and (ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) = 19`;
  const r = await lab.exec('router', 'timeout', [String(seconds), 'tcpdump', '-i', 'eth0', '-n', '-l', '-tt', '-v', '-c', String(count), filter], (seconds + 5) * 1000);
  const packets = [...r.stdout.matchAll(/^(\d+\.\d+) IP \(.*?ttl (\d+),.*\n\s+(\S+?)\.\d+ >/gm)].map((m) => ({ time: Number(m[1]), ttl: Number(m[2]), src: m[3] }));
  return { packets, raw: r.stdout };
}
