// The full lab's BGP router: BIRD 2 (default) or FRR (zebra + bgpd) in the router namespace, passive
// eBGP (AS 64512) to the three nodes (AS 64513), learned routes ECMP-merged into the namespace's
// kernel table so the router forwards the client's traffic to the nodes. One query surface for both
// (sessions, next hops per VIP, and the CLI text the demo shows). IPv6 BGP (one more session per
// node, over IPv6) is opt-in through enableRouterIpv6, so the default lab and the demo stay IPv4.
import { existsSync, mkdirSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { LabError, NODE_AS, NODES, ROUTER_AS, type FullLab, type NodeName } from './full-lab.js';
import { birdCommand, frrCommand } from './routers.js';

export type LabRouterKind = 'bird' | 'frr';

/** IPv6 BGP VIPs (documentation space), routed by the router to the nodes once enableRouterIpv6 ran. */
export const BGP_NET_V6 = '2001:db8:203::/120';

/** BIRD's name for a node's IPv6 session (`node1v6`; the IPv4 one is `node1`). */
const v6Protocol = (node: NodeName): string => `${node}v6`;

function routerDir(lab: FullLab): string {
  return join(lab.dir, lab.state.router);
}

const birdSock = (lab: FullLab): string => join(routerDir(lab), 'bird.ctl');
const bgpdVty = (lab: FullLab): string => join(routerDir(lab), 'bgpd.vty');

async function waitForFile(path: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new LabError(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The pid a daemon wrote to `path`. BIRD creates its pid file before it daemonizes and writes it
 * after, so the file can exist and still be empty: wait for a number, not for the file.
 */
async function waitForPid(path: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let pid = 0;
    try {
      pid = Number(readFileSync(path, 'utf8').trim());
    } catch {
      // not there yet
    }
    if (Number.isInteger(pid) && pid > 0) return pid;
    if (Date.now() > deadline) throw new LabError(`${path} holds no pid after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts the lab's router daemon(s) (they daemonize; their pids go into the lab state). */
export async function startRouter(lab: FullLab): Promise<void> {
  const dir = routerDir(lab);
  mkdirSync(dir, { recursive: true });
  const me = lab.host('router').ipv4;
  if (lab.state.router === 'bird') {
    writeFileSync(join(dir, 'bird.conf'), birdConfig(lab, false));
    await lab.mustExec('router', 'bird', ['-c', join(dir, 'bird.conf'), '-s', birdSock(lab), '-P', join(dir, 'bird.pid')]);
    lab.state.pids.bird = await waitForPid(join(dir, 'bird.pid'));
  } else {
    // FRR drops privileges to the frr user, which must reach its sockets and read its config
    // (the lab dir itself only needs to be traversable: mkdtemp makes it 0700).
    chmodSync(lab.dir, 0o711);
    chmodSync(dir, 0o777);
    const bgpd = [
      'hostname router',
      `router bgp ${ROUTER_AS}`,
      ` bgp router-id ${me}`,
      ' no bgp ebgp-requires-policy',
      ' bgp bestpath as-path multipath-relax',
      ...NODES.flatMap((n) => [` neighbor ${lab.host(n).ipv4} remote-as ${NODE_AS}`, ` neighbor ${lab.host(n).ipv4} passive`, ` neighbor ${lab.host(n).ipv4} timers connect 1`]),
      ' address-family ipv4 unicast',
      '  maximum-paths 8',
      ' exit-address-family',
    ];
    writeFileSync(join(dir, 'zebra.conf'), 'hostname router\n', { mode: 0o644 });
    writeFileSync(join(dir, 'bgpd.conf'), `${bgpd.join('\n')}\n`, { mode: 0o644 });
    const args = (name: string): string[] => ['-d', '--vty_socket', dir, '-z', join(dir, 'zserv.api'), '-i', join(dir, `${name}.pid`), '-f', join(dir, `${name}.conf`), '-u', 'frr', '-g', 'frr', '-P', '0', '--log', `file:${join(dir, `${name}.log`)}`];
    await lab.mustExec('router', '/usr/lib/frr/zebra', args('zebra'));
    await waitForFile(join(dir, 'zserv.api'));
    await lab.mustExec('router', '/usr/lib/frr/bgpd', args('bgpd'));
    lab.state.pids.bgpd = await waitForPid(join(dir, 'bgpd.pid'));
    await waitForFile(bgpdVty(lab));
    lab.state.pids.zebra = await waitForPid(join(dir, 'zebra.pid'));
  }
  lab.save();
}

/** BIRD's config: an IPv4 session per node, and with `ipv6` an IPv6 session per node and the IPv6 kernel table. */
function birdConfig(lab: FullLab, ipv6: boolean): string {
  const me = lab.host('router').ipv4;
  const lines = [
    `log "${join(routerDir(lab), 'bird.log')}" all;`,
    `router id ${me};`,
    'protocol device { scan time 10; }',
    'protocol kernel k4 { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }',
  ];
  // graceful restart on: BIRD keeps a restarting speaker's routes (stale) when the speaker offers it (herald speaker --graceful-restart).
  const session = (name: string, local: string, neighbor: string, family: 'ipv4' | 'ipv6'): string =>
    `protocol bgp ${name} {\n  local ${local} as ${ROUTER_AS};\n  neighbor ${neighbor} as ${NODE_AS};\n  passive on;\n  graceful restart on;\n  connect retry time 1;\n  error wait time 1, 2;\n  ${family} { import all; export none; };\n}`;
  for (const node of NODES) lines.push(session(node, me, lab.host(node).ipv4, 'ipv4'));
  if (ipv6) {
    lines.push('protocol kernel k6 { ipv6 { import none; export where source = RTS_BGP; }; merge paths on; }');
    // One IPv6-only session per node, as MetalLB's IPv6 peers: the routes' next hop is then the
    // node's global address on the link (the session's own address), which the kernel resolves directly.
    for (const node of NODES) lines.push(session(v6Protocol(node), lab.host('router').ipv6, lab.host(node).ipv6, 'ipv6'));
  }
  return `${lines.join('\n')}\n`;
}

/** Sends config commands to FRR's bgpd over one vty connection (the config node persists per connection). */
function frrConfigure(sock: string, commands: readonly string[], timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    const queue = ['enable', 'configure terminal', ...commands, 'end'];
    let chunks: Buffer[] = [];
    let current = '';
    const timer = setTimeout(() => (c.destroy(), reject(new LabError(`bgpd config: no reply to "${current}" in ${timeoutMs} ms`))), timeoutMs);
    const next = (): void => {
      const cmd = queue.shift();
      if (cmd === undefined) {
        clearTimeout(timer);
        c.end();
        resolve();
        return;
      }
      current = cmd;
      c.write(Buffer.from(`${cmd}\0`));
    };
    c.on('error', (e) => (clearTimeout(timer), reject(e)));
    c.on('connect', next);
    c.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      const n = all.length;
      // vtysh framing: the reply ends with three NULs and a status byte (0 = success).
      if (n < 4 || all[n - 4] !== 0 || all[n - 3] !== 0 || all[n - 2] !== 0) return;
      chunks = [];
      // `enable` fails harmlessly where the vty starts in enable mode already.
      if (all[n - 1] !== 0 && current !== 'enable') {
        clearTimeout(timer);
        c.destroy();
        reject(new LabError(`bgpd config "${current}": status ${all[n - 1]}: ${all.subarray(0, n - 4).toString('utf8').trim()}`));
        return;
      }
      next();
    });
  });
}

/**
 * IPv6 over BGP: the router forwards IPv6, takes one passive IPv6 session per node (IPv6 unicast
 * only) and installs the learned /128s ECMP-merged; the client routes BGP_NET_V6 via the router and
 * ignores redirects (so its traffic really goes through the router, as for IPv4). The ConfigMap
 * must then list the router's IPv6 address as a peer. Idempotent.
 */
export async function enableRouterIpv6(lab: FullLab): Promise<void> {
  const router = lab.host('router');
  await lab.mustExec('router', 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  await lab.mustExec('client', 'sysctl', ['-qw', 'net.ipv6.conf.all.accept_redirects=0', 'net.ipv6.conf.eth0.accept_redirects=0']);
  await lab.mustExec('client', 'ip', ['-6', 'route', 'replace', BGP_NET_V6, 'via', router.ipv6]);
  if (lab.state.router === 'bird') {
    writeFileSync(join(routerDir(lab), 'bird.conf'), birdConfig(lab, true));
    const out = await birdCommand(birdSock(lab), 'configure');
    if (!/Reconfigured|Reconfiguration in progress/.test(out)) throw new LabError(`birdc configure: ${out.trim()}`);
    return;
  }
  await frrConfigure(bgpdVty(lab), [
    `router bgp ${ROUTER_AS}`,
    ...NODES.flatMap((n) => {
      const a = lab.host(n).ipv6;
      return [` neighbor ${a} remote-as ${NODE_AS}`, ` neighbor ${a} passive`, ` neighbor ${a} timers connect 1`, ' address-family ipv4 unicast', `  no neighbor ${a} activate`, ' exit-address-family'];
    }),
    ' address-family ipv6 unicast',
    ...NODES.map((n) => `  neighbor ${lab.host(n).ipv6} activate`),
    '  maximum-paths 8',
    ' exit-address-family',
  ]);
}

/** BGP state per node ('Established', ...): of its IPv4 session, or with `family` 6 of its IPv6 one (after enableRouterIpv6). */
export async function routerSessions(lab: FullLab, family: 4 | 6 = 4): Promise<Map<NodeName, string>> {
  const states = new Map<NodeName, string>();
  if (lab.state.router === 'bird') {
    const out = await birdCommand(birdSock(lab), 'show protocols');
    for (const n of NODES) {
      const protocol = family === 6 ? v6Protocol(n) : n;
      states.set(n, new RegExp(`^${protocol}\\s+BGP\\s+\\S+\\s+up\\s+.*Established`, 'm').test(out) ? 'Established' : 'down');
    }
  } else {
    const j = JSON.parse(await frrCommand(bgpdVty(lab), 'show bgp neighbors json')) as Record<string, { bgpState?: string }>;
    for (const n of NODES) states.set(n, j[family === 6 ? lab.host(n).ipv6 : lab.host(n).ipv4]?.bgpState ?? 'Idle');
  }
  return states;
}

/**
 * The next hops (sorted) the router holds for `vip`/32 (or /128: global next hops only, link-local
 * ones left out); empty when it has no route.
 */
export async function routerHops(lab: FullLab, vip: string): Promise<string[]> {
  const v6 = vip.includes(':');
  const prefix = `${vip}/${v6 ? 128 : 32}`;
  if (lab.state.router === 'bird') {
    let out: string;
    try {
      out = await birdCommand(birdSock(lab), `show route for ${vip} all`);
    } catch (e) {
      // BIRD answers an unknown prefix with an error reply.
      if (/Network not found/.test((e as Error).message)) return [];
      throw e;
    }
    if (!out.includes(prefix)) return [];
    const via = v6 ? /via ([0-9a-f:]+) on /g : /via (192\.0\.2\.\d+)/g;
    return [...out.matchAll(via)].map((m) => m[1]).filter((a) => !a.startsWith('fe80:')).sort();
  }
  const j = JSON.parse(await frrCommand(bgpdVty(lab), `show bgp ${v6 ? 'ipv6' : 'ipv4'} unicast ${prefix} json`)) as { paths?: Array<{ nexthops?: Array<{ ip: string; scope?: string }> }> };
  return (j.paths ?? []).flatMap((p) => (p.nexthops ?? []).filter((h) => h.scope !== 'link-local').map((h) => h.ip)).sort();
}

/** The router's own view, as its CLI prints it: [command shown to the user, output]. */
export async function routerShow(lab: FullLab, what: 'sessions' | { route: string }): Promise<[string, string]> {
  if (lab.state.router === 'bird') {
    const cmd = what === 'sessions' ? 'show protocols' : `show route for ${what.route}`;
    return [`birdc ${cmd}`, await birdCommand(birdSock(lab), cmd)];
  }
  const cmd = what === 'sessions' ? 'show bgp summary' : `show bgp ipv4 unicast ${what.route}/32`;
  return [`vtysh -c '${cmd}'`, await frrCommand(bgpdVty(lab), cmd)];
}

/** How a user queries the router of a kept lab. */
export function routerCliHint(lab: FullLab): string {
  return lab.state.router === 'bird'
    ? `birdc -s ${birdSock(lab)} show route`
    : `ip netns exec ${lab.host('router').ns} vtysh --vty_socket ${routerDir(lab)} -c 'show bgp ipv4 unicast'`;
}

// ------------------------------------------------------------------- restarts (e2e-restarts.test.ts)

/**
 * Stops the router daemon(s) with `signal` and waits until they are gone. SIGKILL is a crash: the
 * sessions drop without NOTIFICATION and the routes BIRD put in the router's kernel table stay there.
 */
export async function stopRouter(lab: FullLab, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000): Promise<void> {
  const names = lab.state.router === 'bird' ? ['bird'] : ['bgpd', 'bfdd', 'zebra'];
  for (const name of names) if (lab.alive(name)) lab.signal(name, signal);
  const deadline = Date.now() + timeoutMs;
  while (names.some((n) => lab.alive(n))) {
    if (Date.now() > deadline) throw new LabError(`${names.join(', ')} still running ${timeoutMs} ms after ${signal}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts the router daemon(s) again, on the config files startRouter wrote (after stopRouter); resolves once the router answers its CLI. */
export async function restartRouter(lab: FullLab, timeoutMs = 15_000): Promise<void> {
  const dir = routerDir(lab);
  const pidOf = (name: string): number => {
    try {
      return Number(readFileSync(join(dir, `${name}.pid`), 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  };
  const deadline = Date.now() + timeoutMs;
  // A killed daemon leaves its pid file behind: wait for the new daemon's pid in it.
  const newPid = async (name: string, old: number): Promise<number> => {
    for (;;) {
      const pid = pidOf(name);
      if (pid !== 0 && pid !== old) return pid;
      if (Date.now() > deadline) throw new LabError(`${name} did not write a new pid file`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const answers = async (query: () => Promise<string>): Promise<void> => {
    for (;;) {
      if (await query().then(() => true, () => false)) return;
      if (Date.now() > deadline) throw new LabError(`the restarted router does not answer its CLI after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  if (lab.state.router === 'bird') {
    const old = pidOf('bird');
    await lab.mustExec('router', 'bird', ['-c', join(dir, 'bird.conf'), '-s', birdSock(lab), '-P', join(dir, 'bird.pid')]);
    lab.state.pids.bird = await newPid('bird', old);
    await answers(() => birdCommand(birdSock(lab), 'show status'));
  } else {
    const args = (name: string): string[] => ['-d', '--vty_socket', dir, '-z', join(dir, 'zserv.api'), '-i', join(dir, `${name}.pid`), '-f', join(dir, `${name}.conf`), '-u', 'frr', '-g', 'frr', '-P', '0', '--log', `file:${join(dir, `${name}.log`)}`];
    // bfdd (BGP's `neighbor bfd` goes to it through zebra) only when a test wrote its config; its control socket stays in the dir.
    const bfdd = existsSync(join(dir, 'bfdd.conf'));
    if (!bfdd) delete lab.state.pids.bfdd;
    for (const name of ['zebra', ...(bfdd ? ['bfdd'] : []), 'bgpd']) {
      const old = pidOf(name);
      await lab.mustExec('router', `/usr/lib/frr/${name}`, [...args(name), ...(name === 'bfdd' ? ['--bfdctl', join(dir, 'bfdd.sock')] : [])]);
      lab.state.pids[name] = await newPid(name, old);
    }
    await answers(() => frrCommand(bgpdVty(lab), 'show bgp summary'));
  }
  lab.save();
}

/** The router's detail on one node's session: BIRD's `show protocols all <node>` (capabilities, graceful-restart state); FRR's neighbor JSON. */
export async function routerNeighborDetail(lab: FullLab, node: NodeName): Promise<string> {
  if (lab.state.router === 'bird') return birdCommand(birdSock(lab), `show protocols all ${node}`);
  return frrCommand(bgpdVty(lab), `show bgp neighbors ${lab.host(node).ipv4} json`);
}
