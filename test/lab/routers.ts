// Real BGP routers for the lab: BIRD 2, FRR (zebra + bgpd) and GoBGP (gobgpd), each run directly
// inside a lab namespace with its own config, control socket and pid files in a temp dir (no
// /etc, no /run, no init scripts: FRR's frrinit.sh does not work inside a namespace). Configs are
// generated from one RouterOptions; queries return one normalized route shape for all three.
//
// Safety: routes are exported to the router's kernel table (to see ECMP) only inside its
// namespace, and never 198.18.0.0/15 (benchmark payload only).
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, signalPid } from '../cluster/pids.js';
import type { Lab } from './netns.js';

export type RouterKind = 'bird' | 'frr' | 'gobgp';

export interface RouterPeer {
  /** The neighbor's address (IPv4 or IPv6; with `interface`, its IPv6 link-local one); the session's address family follows it. */
  address: string;
  /**
   * Unnumbered (RFC 8950): the session runs over IPv6 link-local on this interface of the router,
   * IPv4 routes with IPv6 next hops. BIRD: `neighbor <address>%<interface>`, `extended next hop on`;
   * FRR: `neighbor <interface> interface`, `capability extended-nexthop` (the address is learned from RAs).
   */
  interface?: string;
  /** The neighbor's AS, or internal / external (BIRD `neighbor X internal|external`, FRR `remote-as internal|external`). */
  as: number | 'internal' | 'external';
  /** RFC 8654 extended messages: BIRD only offers them when told (`enable extended messages on`); FRR always does. */
  extendedMessages?: boolean;
  /** TCP MD5 password. */
  password?: string;
  /** The router only waits for the neighbor to connect (default true: our speaker connects). */
  passive?: boolean;
  /** Configured shut down (admin-down); GoBGP's benchmark enables it later. */
  disabled?: boolean;
  /** Address families on the session (default: the address's own); [4, 6] = IPv6 unicast too over an IPv4 session. */
  families?: Array<4 | 6>;
}

export interface RouterOptions {
  /** Lab host to run in (default `router`). */
  host?: string;
  as: number;
  /** Default: the host's IPv4 address. */
  routerId?: string;
  peers: RouterPeer[];
  /** Graceful restart helper (keep a restarting peer's routes as stale). Default true. */
  gracefulRestart?: boolean;
  /** Install learned routes (ECMP merged) into the namespace's kernel table. Default true; never 198.18.0.0/15. */
  kernelExport?: boolean;
}

export interface RoutePath {
  prefix: string;
  /** The neighbor that sent it. */
  peer: string;
  nextHop: string;
  asPath: number[];
  localPref?: number;
  med?: number;
  /** "a:b" */
  communities: string[];
  /** "a:b:c" */
  largeCommunities: string[];
  /** Kept by graceful restart while the peer is away. */
  stale: boolean;
}

export interface KernelRoute {
  dst: string;
  /** Gateways: one for a plain route, several for ECMP. */
  nextHops: string[];
}

/** The prefix that benchmark routes come from; it never reaches a kernel table. */
export const BENCH_V4 = '198.18.0.0/15';

export abstract class Router {
  abstract readonly kind: RouterKind;
  readonly host: string;
  readonly dir: string;
  protected readonly opts: Required<Omit<RouterOptions, 'host'>>;

  constructor(
    protected readonly lab: Lab,
    options: RouterOptions,
  ) {
    this.host = options.host ?? 'router';
    const h = lab.host(this.host);
    this.opts = { as: options.as, routerId: options.routerId ?? h.ipv4, peers: options.peers, gracefulRestart: options.gracefulRestart ?? true, kernelExport: options.kernelExport ?? true };
    this.dir = mkdtempSync(join(tmpdir(), `herald-${this.constructor.name.toLowerCase()}-`));
    // FRR drops privileges to the frr user, which must reach its sockets and read its config.
    chmodSync(this.dir, 0o777);
  }

  /** Writes the config and starts the daemon(s); resolves once the control socket answers. */
  abstract start(): Promise<void>;
  /** The daemons' pids (from their pid files). */
  protected abstract pids(): number[];
  /** Session state per neighbor address, normalized to BGP FSM names ('Established', 'Active', 'Idle', ...). */
  abstract peerStates(): Promise<Map<string, string>>;
  /** Every path the router holds (IPv4 and IPv6), from all neighbors. */
  abstract routes(): Promise<RoutePath[]>;
  /** How many prefixes the router holds from neighbors (fast: used by benchmark polling). */
  abstract routeCount(): Promise<number>;

  /** Stops the daemons (SIGTERM, then SIGKILL after 5 s) and waits until they are gone. */
  async stop(): Promise<void> {
    const pids = this.pids();
    for (const pid of pids) signalPid(pid, 'SIGCONT');
    for (const pid of pids) signalPid(pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(50);
    for (const pid of pids) if (alive(pid)) signalPid(pid, 'SIGKILL');
    while (pids.some(alive)) await sleep(20);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** SIGSTOP: the router stops answering (and sending keepalives) but keeps its TCP sessions. */
  freeze(): void {
    for (const pid of this.pids()) signalPid(pid, 'SIGSTOP');
  }

  thaw(): void {
    for (const pid of this.pids()) signalPid(pid, 'SIGCONT');
  }

  /** Stops the daemons and removes the temp dir. */
  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The daemon logs, for failure messages. */
  logs(): string {
    return ['bird.log', 'zebra.log', 'bgpd.log', 'gobgpd.log']
      .map((f) => join(this.dir, f))
      .filter((f) => existsSync(f))
      .map((f) => `--- ${f}\n${readFileSync(f, 'utf8').split('\n').slice(-40).join('\n')}`)
      .join('\n');
  }

  async peerState(address: string): Promise<string> {
    return (await this.peerStates()).get(address) ?? 'unknown';
  }

  /** The routes in the router namespace's kernel table that our peers' BGP sessions put there. */
  async kernelRoutes(family: 4 | 6): Promise<KernelRoute[]> {
    const out = await this.lab.mustExec(this.host, 'ip', [`-${family}`, '-j', 'route', 'show', 'proto', this.kind === 'bird' ? 'bird' : 'bgp']);
    // A gateway of the other family (RFC 8950: IPv4 via an IPv6 link-local) is `via inet6 fe80::...`: JSON `via.host`.
    type Hop = { gateway?: string; via?: { family: string; host: string } };
    const rows = JSON.parse(out || '[]') as Array<{ dst: string; nexthops?: Hop[] } & Hop>;
    const gw = (h: Hop): string | undefined => h.gateway ?? h.via?.host;
    return rows.map((r) => ({
      dst: r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`,
      nextHops: (r.nexthops ? r.nexthops.map((n) => gw(n) ?? '') : gw(r) ? [gw(r) as string] : []).sort(),
    }));
  }

  /** Polls until pred holds; throws with the last value and the daemon logs on timeout. */
  async waitFor<T>(what: string, probe: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 20_000, everyMs = 100): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T | undefined;
    let lastErr: unknown;
    for (;;) {
      try {
        last = await probe();
        if (pred(last)) return last;
      } catch (e) {
        lastErr = e;
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.kind}: timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last) ?? String(lastErr)}\n${this.logs()}`);
      }
      await sleep(everyMs);
    }
  }

  waitForState(address: string, state: string, timeoutMs = 20_000): Promise<string> {
    return this.waitFor(`${address} ${state}`, () => this.peerState(address), (s) => s === state, timeoutMs);
  }

  protected peerFamily(p: RouterPeer): 4 | 6 {
    return net.isIP(p.address) === 6 ? 6 : 4;
  }

  protected localAddress(p: RouterPeer): string {
    const h = this.lab.host(this.host);
    return this.peerFamily(p) === 6 ? h.ipv6 : h.ipv4;
  }

  protected readPid(file: string): number[] {
    try {
      const pid = Number(readFileSync(join(this.dir, file), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? [pid] : [];
    } catch {
      return [];
    }
  }

  protected async waitForFile(file: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(join(this.dir, file))) {
      if (Date.now() > deadline) throw new Error(`${this.kind}: ${file} did not appear in ${this.dir}\n${this.logs()}`);
      await sleep(20);
    }
  }
}

// ---------------------------------------------------------------------------------------- BIRD

export class BirdRouter extends Router {
  readonly kind = 'bird' as const;
  private get sock(): string {
    return join(this.dir, 'bird.ctl');
  }

  config(): string {
    const o = this.opts;
    const lines = [`log "${join(this.dir, 'bird.log')}" all;`, `router id ${o.routerId};`, 'protocol device { scan time 10; }'];
    // Benchmark payload never reaches the kernel; everything else learned by BGP does, ECMP merged.
    const kernelFilter = o.kernelExport ? `filter { if net ~ [ ${BENCH_V4}+ ] then reject; if source = RTS_BGP then accept; reject; }` : 'none';
    lines.push(`protocol kernel k4 { ipv4 { import none; export ${kernelFilter}; }; merge paths on; }`);
    lines.push(`protocol kernel k6 { ipv6 { import none; export ${o.kernelExport ? 'filter { if source = RTS_BGP then accept; reject; }' : 'none'}; }; merge paths on; }`);
    for (const [i, p] of o.peers.entries()) {
      const fam = this.peerFamily(p);
      const ibgp = p.as === o.as || p.as === 'internal';
      const neighbor = p.interface ? `${p.address}%${p.interface}` : p.address;
      const body = [
        p.interface ? `local as ${o.as};` : `local ${this.localAddress(p)} as ${o.as};`,
        typeof p.as === 'number' ? `neighbor ${neighbor} as ${p.as};` : `neighbor ${neighbor} ${p.as};`,
        p.extendedMessages ? 'enable extended messages on;' : '',
        // Next hops are on the shared link: resolve them directly (iBGP would otherwise look them up recursively).
        'direct;',
        p.passive === false ? '' : 'passive on;',
        p.password ? `password "${p.password}";` : '',
        p.disabled ? 'disabled;' : '',
        o.gracefulRestart ? 'graceful restart on;' : 'graceful restart off;',
        'connect retry time 1;',
        'error wait time 1, 2;',
        ...(p.families ?? (p.interface ? [4] : [fam])).map((f) => `ipv${f} { import all; export none;${ibgp ? ' gateway direct;' : ''}${p.interface && f === 4 ? ' extended next hop on;' : ''} };`),
      ].filter(Boolean);
      lines.push(`protocol bgp peer${i} {\n  ${body.join('\n  ')}\n}`);
    }
    // Unnumbered links: Router Advertisements (lifetime 0: not a default router) tell the speaker our link-local address.
    const links = o.peers.filter((p) => p.interface).map((p) => `interface "${p.interface}" { max ra interval 4; default lifetime 0; };`);
    if (links.length) lines.push(`protocol radv {\n  ${links.join('\n  ')}\n}`);
    return lines.join('\n') + '\n';
  }

  async start(): Promise<void> {
    writeFileSync(join(this.dir, 'bird.conf'), this.config());
    rmSync(this.sock, { force: true });
    await this.lab.mustExec(this.host, 'bird', ['-c', join(this.dir, 'bird.conf'), '-s', this.sock, '-P', join(this.dir, 'bird.pid')]);
    // Start-up waits are generous: a daemon starting on a loaded machine is slow, not broken.
    await this.waitFor('the control socket', () => this.cmd('show status'), (s) => /Daemon is up and running/.test(s), 30_000, 20);
  }

  protected pids(): number[] {
    return this.readPid('bird.pid');
  }

  /** One command over BIRD's control socket (what birdc does), without spawning birdc. */
  cmd(command: string): Promise<string> {
    return birdCommand(this.sock, command);
  }

  async peerStates(): Promise<Map<string, string>> {
    const states = new Map<string, string>();
    for (const [i, p] of this.opts.peers.entries()) {
      const out = await this.cmd(`show protocols all peer${i}`);
      const m = /BGP state:\s+(\w+)/.exec(out);
      states.set(p.address, m ? m[1] : 'Idle');
    }
    return states;
  }

  async routeCount(): Promise<number> {
    const out = await this.cmd('show route count');
    // "100000 of 100000 routes for 100000 networks in table master4" (one line per table)
    let n = 0;
    for (const m of out.matchAll(/for (\d+) networks in table/g)) n += Number(m[1]);
    return n;
  }

  async routes(): Promise<RoutePath[]> {
    return parseBirdRoutes(await this.cmd('show route all'), this.opts.peers);
  }
}

/** Sends one command to a BIRD control socket and returns the reply text (without reply codes). */
export function birdCommand(sock: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    let buf = '';
    let greeted = false;
    const out: string[] = [];
    const timer = setTimeout(() => (c.destroy(), reject(new Error(`birdc ${command}: no reply in ${timeoutMs} ms`))), timeoutMs);
    c.on('error', (e) => (clearTimeout(timer), reject(e)));
    c.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // Reply lines: "NNNN-text" (more follows), "NNNN text" (last), " text" (continuation).
        const m = /^(\d{4})([ -])(.*)$/.exec(line);
        if (!greeted) {
          if (m && m[2] === ' ') {
            greeted = true;
            c.write(`${command}\n`);
          }
          continue;
        }
        if (m) {
          if (m[1] !== '0000') out.push(m[3]);
          if (m[2] === ' ') {
            clearTimeout(timer);
            c.end();
            if (m[1].startsWith('8') || m[1].startsWith('9')) reject(new Error(`birdc ${command}: ${m[3]}`));
            else resolve(out.join('\n'));
            return;
          }
        } else out.push(line.startsWith(' ') ? line.slice(1) : line);
      }
    });
  });
}

export function parseBirdRoutes(text: string, peers: RouterPeer[]): RoutePath[] {
  const paths: RoutePath[] = [];
  let prefix = '';
  let cur: RoutePath | null = null;
  const peerByProto = new Map(peers.map((p, i) => [`peer${i}`, p.address]));
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    // "203.0.113.1/32       unicast [peer0 10:00:00.000] * (100) [AS65001i]" or a continuation "   unicast [peer1 ...]"
    const head = /^(\S+)?\s+\w+ \[(\S+) [^\]]*\]( \*)?/.exec(line);
    if (head && /unicast|blackhole|unreachable/.test(line) && !line.startsWith('\t')) {
      if (head[1]) prefix = head[1];
      cur = { prefix, peer: peerByProto.get(head[2]) ?? head[2], nextHop: '', asPath: [], communities: [], largeCommunities: [], stale: false };
      paths.push(cur);
      continue;
    }
    if (!cur) continue;
    const t = line.trim();
    let m: RegExpExecArray | null;
    if ((m = /^BGP\.next_hop: (\S+)/.exec(t))) cur.nextHop = m[1];
    else if ((m = /^BGP\.as_path:(.*)$/.exec(t))) cur.asPath = m[1].trim() ? m[1].trim().split(/\s+/).map(Number) : [];
    else if ((m = /^BGP\.local_pref: (\d+)/.exec(t))) cur.localPref = Number(m[1]);
    else if ((m = /^BGP\.med: (\d+)/.exec(t))) cur.med = Number(m[1]);
    else if ((m = /^BGP\.community: (.*)$/.exec(t))) {
      cur.communities = [...m[1].matchAll(/\((\d+),(\d+)\)/g)].map((c) => `${c[1]}:${c[2]}`);
    } else if ((m = /^BGP\.large_community: (.*)$/.exec(t))) cur.largeCommunities = [...m[1].matchAll(/\((\d+), (\d+), (\d+)\)/g)].map((c) => `${c[1]}:${c[2]}:${c[3]}`);
    // BIRD 2.0 does not show graceful-restart staleness in `show route`: `stale` stays false.
  }
  return paths;
}

// ----------------------------------------------------------------------------------------- FRR

export interface FrrOptions extends RouterOptions {
  /** Run zebra (needed for kernel routes and next-hop tracking). Default true. */
  zebra?: boolean;
}

export class FrrRouter extends Router {
  readonly kind = 'frr' as const;
  private readonly zebra: boolean;

  constructor(lab: Lab, options: FrrOptions) {
    super(lab, options);
    this.zebra = options.zebra ?? true;
  }

  bgpdConfig(): string {
    const o = this.opts;
    const l = [`hostname ${this.host}`, `router bgp ${o.as}`, ` bgp router-id ${o.routerId}`, ' no bgp ebgp-requires-policy', ' no bgp network import-check', ' bgp log-neighbor-changes'];
    if (o.gracefulRestart) l.push(' bgp graceful-restart');
    l.push(' bgp bestpath as-path multipath-relax');
    for (const p of o.peers) {
      if (p.interface) {
        // The neighbor's address comes from its Router Advertisements (zebra); FRR advertises ours.
        l.push(` neighbor ${p.interface} interface remote-as ${p.as}`, ` neighbor ${p.interface} capability extended-nexthop`, ` neighbor ${p.interface} timers connect 1`);
        continue;
      }
      l.push(` neighbor ${p.address} remote-as ${p.as}`);
      if (p.passive !== false) l.push(` neighbor ${p.address} passive`);
      if (p.password) l.push(` neighbor ${p.address} password ${p.password}`);
      if (p.disabled) l.push(` neighbor ${p.address} shutdown`);
      // Retry fast after a failure (router restart tests).
      l.push(` neighbor ${p.address} timers connect 1`);
    }
    for (const fam of [4, 6] as const) {
      l.push(` address-family ipv${fam} unicast`, '  maximum-paths 8', '  maximum-paths ibgp 8');
      for (const p of o.peers) l.push(`  ${(p.families ?? [p.interface ? 4 : this.peerFamily(p)]).includes(fam) ? '' : 'no '}neighbor ${p.interface ?? p.address} activate`);
      if (fam === 4) l.push('  table-map NOKERNEL');
      l.push(' exit-address-family');
    }
    // table-map decides what bgpd gives zebra: never the benchmark payload; nothing at all without kernel export.
    l.push(`ip prefix-list BENCH seq 5 permit ${BENCH_V4} le 32`);
    if (o.kernelExport) l.push('route-map NOKERNEL deny 10', ' match ip address prefix-list BENCH', 'route-map NOKERNEL permit 20');
    else l.push('route-map NOKERNEL deny 10');
    return l.join('\n') + '\n';
  }

  private daemonArgs(name: string): string[] {
    const d = this.dir;
    return ['-d', '--vty_socket', d, '-z', join(d, 'zserv.api'), '-i', join(d, `${name}.pid`), '-f', join(d, `${name}.conf`), '-u', 'frr', '-g', 'frr', '-P', '0', '--log', `file:${join(d, `${name}.log`)}`];
  }

  async start(): Promise<void> {
    const d = this.dir;
    writeFileSync(join(d, 'zebra.conf'), `hostname ${this.host}\n`, { mode: 0o644 });
    writeFileSync(join(d, 'bgpd.conf'), this.bgpdConfig(), { mode: 0o644 });
    writeFileSync(join(d, 'vtysh.conf'), '', { mode: 0o644 });
    for (const f of ['zebra.pid', 'bgpd.pid']) rmSync(join(d, f), { force: true });
    if (this.zebra) {
      await this.lab.mustExec(this.host, '/usr/lib/frr/zebra', this.daemonArgs('zebra'));
      await this.waitForFile('zserv.api');
    }
    await this.lab.mustExec(this.host, '/usr/lib/frr/bgpd', [...this.daemonArgs('bgpd'), ...(this.zebra ? [] : ['-Z'])]);
    await this.waitFor('bgpd vty', () => this.cmd('show bgp summary json'), (s) => s.includes('{'), 30_000, 20);
  }

  protected pids(): number[] {
    return [...this.readPid('bgpd.pid'), ...this.readPid('zebra.pid')];
  }

  /** One command to bgpd over its vty socket (vtysh's protocol: command NUL; reply ends with NUL NUL NUL status). */
  cmd(command: string): Promise<string> {
    return frrCommand(join(this.dir, 'bgpd.vty'), command);
  }

  async peerStates(): Promise<Map<string, string>> {
    const states = new Map<string, string>();
    const j = JSON.parse(await this.cmd('show bgp neighbors json')) as Record<string, { bgpState?: string }>;
    for (const p of this.opts.peers) states.set(p.address, j[p.interface ?? p.address]?.bgpState ?? 'Idle');
    return states;
  }

  async routeCount(): Promise<number> {
    const j = JSON.parse(await this.cmd('show bgp summary json')) as Record<string, { peers?: Record<string, { pfxRcd?: number }> }>;
    let n = 0;
    for (const af of Object.values(j)) for (const p of Object.values(af.peers ?? {})) n += p.pfxRcd ?? 0;
    return n;
  }

  async routes(): Promise<RoutePath[]> {
    const out: RoutePath[] = [];
    for (const fam of ['ipv4', 'ipv6']) {
      // FRR 8.4's table JSON lacks communities: list the prefixes, then ask for each.
      const j = JSON.parse(await this.cmd(`show bgp ${fam} unicast json`)) as FrrDetail;
      const prefixes = Object.keys(j.routes ?? {});
      for (const prefix of prefixes) {
        const pj = JSON.parse(await this.cmd(`show bgp ${fam} unicast ${prefix} json`)) as FrrPrefix;
        for (const path of pj.paths ?? []) out.push(frrPath(prefix, path));
      }
    }
    return out;
  }
}

interface FrrDetail {
  routes?: Record<string, unknown>;
}
interface FrrPrefix {
  paths?: FrrPathJson[];
}
export interface FrrPathJson {
  aspath?: { string?: string; segments?: Array<{ list: number[] }> };
  locPrf?: number;
  metric?: number;
  community?: { string: string };
  largeCommunity?: { string: string };
  stale?: boolean;
  peer?: { peerId: string };
  nexthops?: Array<{ ip: string; scope?: string }>;
}

export function frrPath(prefix: string, p: FrrPathJson): RoutePath {
  const asPath = (p.aspath?.segments ?? []).flatMap((s) => s.list);
  const path: RoutePath = {
    prefix,
    peer: p.peer?.peerId ?? '',
    nextHop: (p.nexthops ?? []).find((n) => n.scope !== 'link-local')?.ip ?? '',
    asPath,
    communities: p.community?.string ? p.community.string.split(' ') : [],
    largeCommunities: p.largeCommunity?.string ? p.largeCommunity.string.split(' ') : [],
    stale: p.stale === true,
  };
  if (p.locPrf !== undefined) path.localPref = p.locPrf;
  if (p.metric !== undefined) path.med = p.metric;
  return path;
}

/** Sends one command to an FRR daemon's vty socket. */
export function frrCommand(sock: string, command: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => (c.destroy(), reject(new Error(`vtysh ${command}: no reply in ${timeoutMs} ms`))), timeoutMs);
    c.on('error', (e) => (clearTimeout(timer), reject(e)));
    c.on('connect', () => c.write(Buffer.from(`${command}\0`)));
    c.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      const n = all.length;
      if (n >= 4 && all[n - 4] === 0 && all[n - 3] === 0 && all[n - 2] === 0) {
        clearTimeout(timer);
        c.end();
        const status = all[n - 1];
        const text = all.subarray(0, n - 4).toString('utf8');
        if (status !== 0) reject(new Error(`vtysh ${command}: status ${status}: ${text.trim()}`));
        else resolve(text);
      }
    });
  });
}

// --------------------------------------------------------------------------------------- GoBGP

export class GobgpRouter extends Router {
  readonly kind = 'gobgp' as const;

  config(): string {
    const o = this.opts;
    const h = this.lab.host(this.host);
    const l = ['[global.config]', `  as = ${o.as}`, `  router-id = "${o.routerId}"`, `  local-address-list = ["${h.ipv4}", "${h.ipv6}"]`];
    for (const p of o.peers) {
      l.push('[[neighbors]]', '  [neighbors.config]', `    neighbor-address = "${p.address}"`, `    peer-as = ${p.as}`);
      if (p.password) l.push(`    auth-password = "${p.password}"`);
      if (p.disabled) l.push('    admin-down = true');
      if (p.passive !== false) l.push('  [neighbors.transport.config]', '    passive-mode = true');
      l.push('  [neighbors.timers.config]', '    connect-retry = 1');
      l.push('  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', `      afi-safi-name = "ipv${this.peerFamily(p)}-unicast"`);
    }
    return l.join('\n') + '\n';
  }

  async start(): Promise<void> {
    const conf = join(this.dir, 'gobgpd.toml');
    writeFileSync(conf, this.config());
    // gobgpd does not daemonize: the lab owns the process (and kills it on teardown).
    const child = this.lab.spawn(this.host, 'sh', ['-c', `echo $$ > ${join(this.dir, 'gobgpd.pid')}; exec gobgpd -f ${conf} --api-hosts=127.0.0.1:50051 --pprof-disable -l warn -p > ${join(this.dir, 'gobgpd.log')} 2>&1`]);
    child.stdout?.resume();
    child.stderr?.resume();
    await this.waitFor('gobgpd API', () => this.cli(['global']), (s) => s.includes('AS:'), 30_000, 50);
  }

  protected pids(): number[] {
    return this.readPid('gobgpd.pid');
  }

  /** Runs the gobgp CLI against this gobgpd. */
  cli(args: string[]): Promise<string> {
    return this.lab.mustExec(this.host, 'gobgp', ['-u', '127.0.0.1', '-p', '50051', ...args]);
  }

  async peerStates(): Promise<Map<string, string>> {
    const j = JSON.parse(await this.cli(['neighbor', '-j'])) as Array<{ conf: { neighbor_address: string }; state: { session_state: number | string } }>;
    const names = ['Unknown', 'Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'];
    const states = new Map<string, string>();
    for (const n of j) {
      const s = n.state.session_state;
      states.set(n.conf.neighbor_address, typeof s === 'number' ? names[s] ?? String(s) : s.replace(/^./, (c) => c.toUpperCase()));
    }
    return states;
  }

  async routeCount(): Promise<number> {
    let n = 0;
    for (const fam of ['ipv4', 'ipv6']) {
      const out = await this.cli(['global', 'rib', 'summary', '-a', fam]);
      const m = /Destination:\s*(\d+)/.exec(out);
      if (m) n += Number(m[1]);
    }
    return n;
  }

  async routes(): Promise<RoutePath[]> {
    throw new Error('GobgpRouter.routes: not used (GoBGP is only a benchmark sender)');
  }
}

export function createRouter(kind: 'bird' | 'frr', lab: Lab, options: FrrOptions): BirdRouter | FrrRouter {
  return kind === 'bird' ? new BirdRouter(lab, options) : new FrrRouter(lab, options);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
