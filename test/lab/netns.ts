// Network-namespace labs: one bridge namespace plus one namespace per host, each host wired to the
// bridge by a veth pair. Every name carries a per-run prefix so parallel labs and leftovers never
// collide. Documentation addresses only (192.0.2.0/24 and 2001:db8:0:1::/64 for the hosts).
// Nothing here touches the root namespace's interfaces.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, it } from 'vitest';
import { signalPid } from '../cluster/pids.js';

const execFileP = promisify(execFile);

export interface LabHost {
  /** Logical name, e.g. `router`, `node1`, `client`. */
  name: string;
  /** The network namespace's name (prefixed). */
  ns: string;
  /** The host's interface toward the bridge. */
  iface: string;
  mac: string;
  ipv4: string;
  ipv6: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Why a lab cannot run on this machine, or null when it can. */
export function labUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `lab needs Linux network namespaces (platform is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'lab needs root (network namespaces, raw sockets)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'lab needs iproute2 (`ip`): run `make deps`';
  }
  const probe = `hlprobe${randomBytes(3).toString('hex')}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
  } catch (e) {
    return `cannot create a network namespace: ${(e as Error).message.split('\n')[0]}`;
  }
  return null;
}

let cachedReason: string | null | undefined;

/**
 * `describe` for lab tests. Where a lab cannot run: under CI=true the suite fails with the reason
 * (never a silent skip); elsewhere it is skipped and the reason is in the test's name.
 */
export function describeLab(name: string, fn: () => void): void {
  if (cachedReason === undefined) cachedReason = labUnavailableReason();
  const reason = cachedReason;
  if (reason === null) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it(`cannot run: ${reason}`, () => {
        throw new Error(`lab test cannot run: ${reason}`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${reason})`, fn);
  }
}

const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last-resort teardown when a test process dies without running afterAll.
  process.on('exit', () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const lab of liveLabs) lab.destroySync();
      process.exit(130);
    });
  }
}

export interface LabOptions {
  /** Host names in order; host i gets 192.0.2.(10+i) and 2001:db8:0:1::(10+i). */
  hosts: string[];
  /** Prefix of namespace names; a random suffix is always added. */
  prefix?: string;
}

export class Lab {
  readonly id: string;
  readonly bridgeNs: string;
  readonly hosts = new Map<string, LabHost>();
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(id: string) {
    this.id = id;
    this.bridgeNs = `${id}-br`;
  }

  static async create(opts: LabOptions): Promise<Lab> {
    const id = `${opts.prefix ?? 'hl'}${randomBytes(3).toString('hex')}`;
    const lab = new Lab(id);
    installExitHook();
    liveLabs.add(lab);
    try {
      await lab.setUp(opts.hosts);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`lab ${this.id} has no host ${name}`);
    return h;
  }

  private async setUp(names: string[]): Promise<void> {
    const br = this.bridgeNs;
    await run('ip', ['netns', 'add', br]);
    await run('ip', ['-n', br, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    // The bridge itself must not send IPv6 router solicitations or DAD probes into the lab.
    await run('ip', ['netns', 'exec', br, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    await run('ip', ['-n', br, 'link', 'set', 'br0', 'up']);
    for (const [i, name] of names.entries()) {
      const ns = `${this.id}-${name}`;
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      // DAD off so addresses are usable at once; the lab has no duplicates by construction.
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      const port = `p${i}`;
      await run('ip', ['-n', br, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await run('ip', ['-n', br, 'link', 'set', port, 'master', 'br0', 'up']);
      const ipv4 = `192.0.2.${10 + i}`;
      const ipv6 = `2001:db8:0:1::${(10 + i).toString(16)}`;
      await run('ip', ['-n', ns, 'addr', 'add', `${ipv4}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      const { stdout } = await run('ip', ['-n', ns, '-j', 'link', 'show', 'eth0']);
      const mac = (JSON.parse(stdout) as Array<{ address: string }>)[0].address;
      this.hosts.set(name, { name, ns, iface: 'eth0', mac, ipv4, ipv6 });
    }
  }

  /**
   * A point-to-point veth link between two hosts, up, with no IPv4 address (IPv6 link-local only:
   * an unnumbered BGP link). Resolves with each end's link-local address.
   */
  async link(a: string, ifA: string, b: string, ifB: string): Promise<{ a: string; b: string }> {
    const nsA = this.host(a).ns;
    const nsB = this.host(b).ns;
    await run('ip', ['-n', nsA, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    await run('ip', ['-n', nsA, 'link', 'set', ifA, 'up']);
    await run('ip', ['-n', nsB, 'link', 'set', ifB, 'up']);
    return { a: await this.linkLocal(a, ifA), b: await this.linkLocal(b, ifB) };
  }

  /** The IPv6 link-local address of a host's interface (waits for the kernel to assign it). */
  async linkLocal(host: string, ifname: string): Promise<string> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { stdout } = await run('ip', ['-n', this.host(host).ns, '-j', '-6', 'addr', 'show', 'dev', ifname, 'scope', 'link']);
      const rows = JSON.parse(stdout || '[]') as Array<{ addr_info?: Array<{ local: string; tentative?: boolean }> }>;
      const ll = rows[0]?.addr_info?.find((x) => !x.tentative)?.local;
      if (ll) return ll;
      if (Date.now() > deadline) throw new Error(`${host} ${ifname}: no IPv6 link-local address after 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Runs a command inside a host's namespace; resolves with its output and exit code (never rejects on a non-zero exit). */
  async exec(host: string, cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const ns = this.host(host).ns;
    try {
      const { stdout, stderr } = await execFileP('ip', ['netns', 'exec', ns, cmd, ...args], {
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      return { stdout, stderr, code: 0 };
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; code?: number | string };
      return { stdout: err.stdout ?? '', stderr: err.stderr ?? String(e), code: typeof err.code === 'number' ? err.code : 1 };
    }
  }

  /** Like exec, but throws with the command's stderr when it fails. */
  async mustExec(host: string, cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    const r = await this.exec(host, cmd, args, opts);
    if (r.code !== 0) throw new Error(`[${host}] ${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Starts a long-running process inside a host's namespace; the lab kills it on teardown. */
  spawn(host: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const ns = this.host(host).ns;
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Tears the lab down: kills what it started and everything left in its namespaces, deletes them. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const waits = [...this.children].map(
      (c) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve()))),
    );
    for (const c of this.children) c.kill('SIGKILL');
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 2000))]);
    this.destroySync();
  }

  /** Synchronous teardown, also used from the process exit hook. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    for (const c of this.children) c.kill('SIGKILL');
    const namespaces = [...[...this.hosts.values()].map((h) => h.ns), this.bridgeNs];
    // Also namespaces whose setUp failed half way: everything named with our id.
    for (const ns of listNamespaces()) if (ns.startsWith(`${this.id}-`) && !namespaces.includes(ns)) namespaces.push(ns);
    for (const ns of namespaces) {
      // Processes inside our namespaces were started by this lab (daemons it spawned and their children).
      killNamespaceProcesses(ns);
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* not there (setUp failed before creating it) */
      }
    }
  }
}

/** SIGKILLs every process in network namespace `ns` (nothing when it is not there). */
export function killNamespaceProcesses(ns: string): void {
  let pids: string[];
  try {
    pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean);
  } catch {
    return;
  }
  for (const pid of pids) signalPid(Number(pid), 'SIGKILL');
}

/** The names of all network namespaces (`ip netns list`); none when that fails. */
export function listNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter(Boolean);
  } catch {
    return [];
  }
}

async function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileP(cmd, args, { timeout: 30_000 });
  } catch (e) {
    const err = e as { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(err.stderr ?? String(e)).trim()}`);
  }
}
