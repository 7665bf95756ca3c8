// The full lab of issue 7: a real API server, the controller, a BGP router, three nodes each running
// `herald speaker`, and a client, every one in its own network namespace on one bridge.
//
//   control  192.0.2.10  etcd + kube-apiserver (:6443), herald controller
//   router   192.0.2.11  BIRD or FRR (full-router.ts), AS 64512, forwards the BGP VIPs it learns (ECMP) to the nodes
//   node1..3 192.0.2.12-14  herald speaker (AS 64513), HTTP backend on :80, kube-ipvs0 with the VIPs
//   client   192.0.2.15  curl / arping; 203.0.113.0/24 routed via the router
//
// The lab plays kubelet and kube-proxy minimally: it creates the Node objects and EndpointSlices for
// pretend pods, and puts every assigned VIP on each node's kube-ipvs0 dummy (arp_ignore=1,
// arp_announce=2, so only Herald answers ARP for a VIP and traffic to it lands on that node).
//
// Unlike netns.ts's Lab, everything here is detached (daemons log to files in the lab directory) and
// described by a state file, so the lab can outlive the process that built it (`make demo KEEP=1`)
// and be torn down by another (`make demo-down`). Documentation addresses only; nothing touches the
// root namespace's interfaces. Teardown kills only processes inside the lab's namespaces (all
// started by the lab) and deletes the namespaces.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ADMIN_TOKEN, TestCluster, type ClusterState } from '../cluster/cluster.js';
import { alive } from '../cluster/pids.js';
import { HERALD_CLI, assertCliBuilt } from './bgp-speaker.js';
import { killNamespaceProcesses, listNamespaces } from './netns.js';

const execFileP = promisify(execFile);

export const HOSTS = ['control', 'router', 'node1', 'node2', 'node3', 'client'] as const;
export type HostName = (typeof HOSTS)[number];
export const NODES = ['node1', 'node2', 'node3'] as const;
export type NodeName = (typeof NODES)[number];

export const ROUTER_AS = 64512;
export const NODE_AS = 64513;
export const HERALD_NAMESPACE = 'herald-system';
export const CONFIG_MAP = 'herald-config';
/** Layer2 pool: on the lab link itself. */
export const L2_POOL = '192.0.2.200-192.0.2.209';
/** IPv6 layer2 pool (NDP), on the lab link too. */
export const L2_POOL_V6 = '2001:db8:0:1::200-2001:db8:0:1::209';
/** BGP pool: routed by the router to the nodes. */
export const BGP_POOL = '203.0.113.10-203.0.113.19';
export const BGP_NET = '203.0.113.0/24';

export interface HostInfo {
  ns: string;
  ipv4: string;
  ipv6: string;
  mac: string;
}

export interface FullLabState {
  prefix: string;
  dir: string;
  bridgeNs: string;
  hosts: Record<HostName, HostInfo>;
  /** Admin kubeconfig (server on the control namespace's address; use it from inside a lab namespace). */
  kubeconfig: string;
  cluster?: ClusterState;
  /** Daemon name -> pid (all inside lab namespaces). */
  pids: Record<string, number>;
  /** The BGP router daemon in the router namespace (full-router.ts). */
  router: 'bird' | 'frr';
  /** kube-apiserver's command line while it is stopped (stopApiserver / startApiserver). */
  apiserverArgv?: string[];
}

export class LabError extends Error {
  override readonly name = 'LabError';
}

/** Runs a command; rejects with its stderr. */
async function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new LabError(`${cmd} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export interface FullLabOptions {
  /** Namespace name prefix (`hdemo` for the demo, random for tests). */
  prefix: string;
  /** Directory for the state file, cluster PKI, configs and daemon logs (created). */
  dir: string;
  /** BGP router: BIRD (default) or FRR. */
  router?: 'bird' | 'frr';
  /**
   * 'stand-in' (default): the API server on `control` and the lab playing kube-proxy (kube-ipvs0 on
   * every node). 'none': only namespaces, link, router forwarding and the client's route; the real
   * cluster (real/real-cluster.ts) brings its own control plane, kubelets and kube-proxies.
   */
  kube?: 'stand-in' | 'none';
  log?: (line: string) => void;
}

export class FullLab {
  private constructor(readonly state: FullLabState) {}

  get dir(): string {
    return this.state.dir;
  }

  host(name: HostName): HostInfo {
    return this.state.hosts[name];
  }

  static statePath(dir: string): string {
    return join(dir, 'lab.json');
  }

  /** The lab described by a state file (for make demo-down and tools). */
  static load(dir: string): FullLab {
    return new FullLab(JSON.parse(readFileSync(FullLab.statePath(dir), 'utf8')) as FullLabState);
  }

  save(): void {
    writeFileSync(FullLab.statePath(this.dir), `${JSON.stringify(this.state, null, 2)}\n`);
  }

  /** Namespaces, bridge, addresses, node plumbing and the API server; the daemons come later. */
  static async create(opts: FullLabOptions): Promise<FullLab> {
    const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    assertCliBuilt();
    const taken = listNamespaces().filter((n) => n.startsWith(`${opts.prefix}-`));
    if (taken.length) throw new LabError(`namespaces ${taken.join(', ')} exist already (a lab is up: tear it down first)`);
    mkdirSync(opts.dir, { recursive: true });
    const hosts = {} as Record<HostName, HostInfo>;
    const lab = new FullLab({
      prefix: opts.prefix,
      dir: opts.dir,
      bridgeNs: `${opts.prefix}-br`,
      hosts,
      kubeconfig: '',
      pids: {},
      router: opts.router ?? 'bird',
    });
    lab.save();
    try {
      await lab.wire();
      await lab.plumbRouter();
      log(`lab: namespaces ${Object.values(hosts).map((h) => h.ns).join(' ')} on bridge ${lab.state.bridgeNs}`);
      if (opts.kube === 'none') return lab;
      await lab.plumbNodes();
      const control = hosts.control;
      const cluster = await TestCluster.start({
        listenAddress: control.ipv4,
        commandPrefix: ['ip', 'netns', 'exec', control.ns],
        baseDir: opts.dir,
        detached: true,
        log,
      });
      lab.state.cluster = cluster.state();
      // A stable path for users of a kept lab (the cluster's own directory has a random name).
      lab.state.kubeconfig = join(opts.dir, 'kubeconfig');
      symlinkSync(cluster.kubeconfig, lab.state.kubeconfig);
      lab.state.pids.etcd = cluster.state().etcdPid;
      lab.state.pids['kube-apiserver'] = cluster.state().apiserverPid;
      lab.save();
    } catch (err) {
      FullLab.destroy(opts.dir);
      throw err;
    }
    return lab;
  }

  private async wire(): Promise<void> {
    const br = this.state.bridgeNs;
    await run('ip', ['netns', 'add', br]);
    await run('ip', ['netns', 'exec', br, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    await run('ip', ['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', br, 'link', 'set', 'br0', 'up']);
    for (const [i, name] of HOSTS.entries()) {
      const ns = `${this.state.prefix}-${name}`;
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      await run('ip', ['-n', br, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await run('ip', ['-n', br, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
      const ipv4 = `192.0.2.${10 + i}`;
      const ipv6 = `2001:db8:0:1::${(10 + i).toString(16)}`;
      await run('ip', ['-n', ns, 'addr', 'add', `${ipv4}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      const mac = (JSON.parse(await run('ip', ['-n', ns, '-j', 'link', 'show', 'eth0'])) as Array<{ address: string }>)[0].address;
      this.state.hosts[name] = { ns, ipv4, ipv6, mac };
      this.save();
    }
  }

  /** kube-proxy's part: a kube-ipvs0 dummy per node, ARP only for addresses on the asking interface. */
  private async plumbNodes(): Promise<void> {
    for (const node of NODES) {
      const ns = this.host(node).ns;
      // A dummy like kube-proxy's; where the dummy module is unavailable (containers cannot load
      // modules), a port-less bridge does the same job: an up, non-ARP-facing holder of local addresses.
      await run('ip', ['-n', ns, 'link', 'add', 'kube-ipvs0', 'type', 'dummy']).catch(() => run('ip', ['-n', ns, 'link', 'add', 'kube-ipvs0', 'type', 'bridge']));
      await run('ip', ['-n', ns, 'link', 'set', 'kube-ipvs0', 'up']);
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.eth0.arp_ignore=1', 'net.ipv4.conf.eth0.arp_announce=2']);
    }
  }

  /** The router forwards (BGP VIPs to the nodes); the client reaches the BGP VIPs through it. */
  private async plumbRouter(): Promise<void> {
    const router = this.host('router');
    await run('ip', ['netns', 'exec', router.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.eth0.send_redirects=0']);
    await run('ip', ['-n', this.host('client').ns, 'route', 'add', BGP_NET, 'via', router.ipv4]);
  }

  /** A command inside a lab namespace; resolves with stdout, stderr and the exit code. */
  async exec(host: HostName, cmd: string, args: string[], timeoutMs = 30_000): Promise<{ stdout: string; stderr: string; code: number }> {
    try {
      const { stdout, stderr } = await execFileP('ip', ['netns', 'exec', this.host(host).ns, cmd, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
      return { stdout, stderr, code: 0 };
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; code?: number | string };
      return { stdout: err.stdout ?? '', stderr: err.stderr ?? String(e), code: typeof err.code === 'number' ? err.code : 1 };
    }
  }

  async mustExec(host: HostName, cmd: string, args: string[], input?: string): Promise<string> {
    return run('ip', ['netns', 'exec', this.host(host).ns, cmd, ...args], { input });
  }

  /** kubectl as the admin, run in the control namespace (the API server is reachable only inside the lab). */
  kubectl(args: string[], input?: string): Promise<string> {
    return this.mustExec('control', 'kubectl', ['--kubeconfig', this.state.kubeconfig, ...args], input);
  }

  /** The shell command a user runs for kubectl against the lab. */
  kubectlCommand(): string {
    return `ip netns exec ${this.host('control').ns} kubectl --kubeconfig ${this.state.kubeconfig}`;
  }

  /** Starts a detached daemon in a lab namespace, output to <dir>/<name>.log; returns its pid. */
  startDaemon(name: string, host: HostName, cmd: string, args: string[], env: Record<string, string> = {}): number {
    const fd = openSync(this.logPath(name), 'a');
    const child = spawn('ip', ['netns', 'exec', this.host(host).ns, cmd, ...args], { stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, ...env } });
    closeSync(fd);
    child.unref();
    // `ip netns exec` execs the command, so this pid is the daemon's.
    if (!child.pid) throw new LabError(`could not start ${name}`);
    this.state.pids[name] = child.pid;
    this.save();
    return child.pid;
  }

  /** Starts `herald <args>` as a daemon. */
  startHerald(name: string, host: HostName, args: string[]): number {
    return this.startDaemon(name, host, process.execPath, [HERALD_CLI, ...args]);
  }

  logPath(name: string): string {
    return join(this.dir, `${name}.log`);
  }

  /** Signals a daemon the lab started (by its recorded pid). */
  signal(name: string, sig: NodeJS.Signals): void {
    const pid = this.state.pids[name];
    if (!pid) throw new LabError(`no daemon ${name}`);
    process.kill(pid, sig);
  }

  /**
   * SIGCONT to a daemon stopped with SIGSTOP, if it still runs: for `finally` blocks, where a daemon that
   * died meanwhile must not replace the test's own failure with an ESRCH.
   */
  resume(name: string): void {
    if (!this.alive(name)) return;
    try {
      this.signal(name, 'SIGCONT');
    } catch {
      // exited between the check and the signal
    }
  }

  alive(name: string): boolean {
    const pid = this.state.pids[name];
    return pid ? alive(pid) : false;
  }

  /** Signals a daemon the lab started and waits until it has exited; resolves with how long that took (ms). */
  async stopDaemon(name: string, sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number> {
    const t0 = Date.now();
    if (!this.running(name)) return 0;
    this.signal(name, sig);
    while (this.running(name)) {
      if (Date.now() - t0 > timeoutMs) throw new LabError(`${name} still running ${timeoutMs} ms after ${sig}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return Date.now() - t0;
  }

  /** Alive and not a zombie (an exited child not reaped yet counts as stopped). */
  private running(name: string): boolean {
    if (!this.alive(name)) return false;
    try {
      // /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces, the state follows the last ')'.
      const stat = readFileSync(`/proc/${this.state.pids[name]}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  }

  /**
   * Stops kube-apiserver (etcd keeps running with all data) and remembers its command line, so
   * startApiserver() brings the same server back on the same address, certificates and etcd.
   * SIGTERM first; after `graceMs` SIGKILL (it stops listening at once but may linger draining
   * watches). Resolves with the signal that ended it.
   */
  async stopApiserver(graceMs = 5000): Promise<NodeJS.Signals> {
    const pid = this.state.pids['kube-apiserver'];
    if (!pid || !this.running('kube-apiserver')) throw new LabError('kube-apiserver is not running');
    // `ip netns exec` exec'd the server, so the pid's command line is the server's own.
    this.state.apiserverArgv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    this.save();
    try {
      await this.stopDaemon('kube-apiserver', 'SIGTERM', graceMs);
      return 'SIGTERM';
    } catch {
      await this.stopDaemon('kube-apiserver', 'SIGKILL', 10_000);
      return 'SIGKILL';
    }
  }

  /** Starts kube-apiserver again after stopApiserver() and waits until /readyz answers ok. */
  async startApiserver(timeoutMs = 90_000): Promise<void> {
    const argv = this.state.apiserverArgv;
    const cluster = this.state.cluster;
    if (!argv?.length || !cluster) throw new LabError('startApiserver: no stopped kube-apiserver to start (stopApiserver first)');
    const fd = openSync(join(cluster.dir, 'kube-apiserver.log'), 'a');
    const child = spawn('ip', ['netns', 'exec', this.host('control').ns, ...argv], { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    child.unref();
    if (!child.pid) throw new LabError('could not start kube-apiserver');
    this.state.pids['kube-apiserver'] = child.pid;
    cluster.apiserverPid = child.pid;
    this.save();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.exec('control', 'curl', ['-s', '--max-time', '2', '--cacert', join(cluster.dir, 'ca.crt'), '-H', `Authorization: Bearer ${ADMIN_TOKEN}`, `${cluster.server}/readyz`], 5000);
      if (r.code === 0 && r.stdout.trim() === 'ok') return;
      if (!this.running('kube-apiserver')) throw new LabError(`kube-apiserver exited on start; see ${join(cluster.dir, 'kube-apiserver.log')}`);
      if (Date.now() > deadline) throw new LabError(`kube-apiserver not ready ${timeoutMs} ms after start`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /** A tiny HTTP backend per node that answers with the node's name (the pretend pods). */
  startBackends(): void {
    for (const node of NODES) {
      const script = `require('http').createServer((q,s)=>s.end(${JSON.stringify(node)}+'\\n')).listen(80)`; // '::' dual stack
      this.startDaemon(`backend-${node}`, node, process.execPath, ['-e', script]);
    }
  }

  /** Tears down the lab described in `dir`: kills every process in its namespaces, deletes them and the directory. */
  static destroy(dir: string): string[] {
    let prefix: string;
    try {
      prefix = (JSON.parse(readFileSync(FullLab.statePath(dir), 'utf8')) as FullLabState).prefix;
    } catch {
      return [];
    }
    const namespaces = listNamespaces().filter((n) => n.startsWith(`${prefix}-`));
    // Everything inside our namespaces was started by the lab (daemons and their children).
    for (const ns of namespaces) killNamespaceProcesses(ns);
    for (const ns of namespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
    return namespaces;
  }
}
