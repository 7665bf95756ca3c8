// A real Kubernetes API for tests and the lab: etcd + kube-apiserver (built from Debian's
// `kubernetes` source package, see build-kube-apiserver.sh), no kubelet, scheduler or
// controller-manager. Tests and labs play kubelet and endpoint controllers themselves.
// HERALD_KUBE_APISERVER=<binary> runs any kube-apiserver from 1.20 to current instead: its flags
// are chosen by its `--version` (apiserver-flags.ts).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, signalPid } from './pids.js';
import { apiserverFlags, kubeApiserverVersion, type KubeVersion } from './apiserver-flags.js';

export interface ClusterOptions {
  /** Address etcd and kube-apiserver listen on (a lab address inside a netns, for instance). Default 127.0.0.1. */
  listenAddress?: string;
  /** Fixed ports; free loopback ports are picked when omitted (and no commandPrefix is set). */
  ports?: Partial<ClusterPorts>;
  /** Run etcd, kube-apiserver, etcdctl and the readiness probe under this prefix, e.g. ['ip', 'netns', 'exec', 'lab0']. */
  commandPrefix?: string[];
  /** Parent directory of the cluster's temporary directory. Default: os.tmpdir(). */
  baseDir?: string;
  /** Extra kube-apiserver flags, e.g. ['--watch-cache=false'] so watches hit etcd directly. */
  extraApiserverArgs?: string[];
  /** Let the processes outlive this Node process (make cluster-up); stop them later with stopClusterFromState(). */
  detached?: boolean;
  /** Progress lines (build, start); default: stderr. */
  log?: (line: string) => void;
}

export interface ClusterPorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
}

/** What a started cluster leaves on disk (dir/state.json), enough to stop it from another process. */
export interface ClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  etcdEndpoint: string;
  etcdPid: number;
  apiserverPid: number;
}

/** A cluster start or build failed; the message carries the reason and the tail of the process log. */
export class ClusterError extends Error {
  override readonly name = 'ClusterError';
}

/** The static admin token (user "herald-admin", group system:masters) of every test cluster. */
export const ADMIN_TOKEN = 'herald-test-admin-token';

const here = dirname(fileURLToPath(import.meta.url));
const BUILD_SCRIPT = join(here, 'build-kube-apiserver.sh');

/**
 * Builds kube-apiserver if no cached binary exists (several minutes the first time; progress goes
 * to stderr) and returns the cached binary's path. HERALD_KUBE_APISERVER overrides the binary.
 */
let resolvedBinary: Promise<string> | undefined;

export async function ensureKubeApiserver(log: (line: string) => void = defaultLog): Promise<string> {
  // One look-up per process (the script asks apt for the source version, about a second).
  resolvedBinary ??= findOrBuildKubeApiserver(log).catch((err: unknown) => {
    resolvedBinary = undefined;
    throw err;
  });
  return resolvedBinary;
}

async function findOrBuildKubeApiserver(log: (line: string) => void): Promise<string> {
  const override = process.env.HERALD_KUBE_APISERVER;
  if (override) {
    if (!existsSync(override)) throw new ClusterError(`HERALD_KUBE_APISERVER=${override} does not exist`);
    return override;
  }
  log('test cluster: looking for a cached kube-apiserver (building it the first time takes several minutes)');
  // Asynchronous, so a vitest run keeps serving other projects while the first build runs.
  const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const status = await new Promise<number | string>((resolve) => {
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  if (status !== 0) throw new ClusterError(`building kube-apiserver failed (${BUILD_SCRIPT}: ${status}); see the output above`);
  const bin = out.trim().split('\n').pop() ?? '';
  if (!bin || !existsSync(bin)) throw new ClusterError(`build script printed no usable binary path: ${JSON.stringify(out)}`);
  return bin;
}

function defaultLog(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** A free TCP port on the given local address (bound, then released). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new ClusterError(`openssl ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

/** Throwaway CA, server certificate for the listen address, and a service-account key pair. */
function makePki(dir: string, address: string): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=herald-test-ca', '-days', '30', '-out', 'ca.crt'], dir);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key'], dir);
  openssl(['req', '-new', '-key', 'server.key', '-subj', '/CN=kube-apiserver', '-out', 'server.csr'], dir);
  const sans = [`IP:${address}`, 'IP:127.0.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default.svc', 'IP:10.96.0.1'];
  writeFileSync(
    join(dir, 'server.ext'),
    `subjectAltName=${[...new Set(sans)].join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`,
  );
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', 'server.ext', '-out', 'server.crt'],
    dir,
  );
  // ECDSA service-account key (ES256 tokens): generating an RSA key costs seconds on a busy machine.
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key'], dir);
  openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function kubeconfigYaml(server: string, caPem: string, token: string, user = 'herald-admin'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: herald-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: herald-test',
    '  context:',
    '    cluster: herald-test',
    `    user: ${user}`,
    'current-context: herald-test',
    '',
  ].join('\n');
}

/** Last lines of a process log, for error messages. */
function logTail(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One GET; resolves with the status code and body, or rejects on connection errors. */
function get(url: string, opts: { ca?: Buffer; token?: string; timeoutMs?: number }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      { method: 'GET', ca: opts.ca, headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {}, timeout: opts.timeoutMs ?? 2000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** True if the PID still runs the named program (guards against a recycled PID from a stale state file). */
function runs(pid: number, program: string): boolean {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return (argv0.split('/').pop() ?? '').startsWith(program);
  } catch {
    return false;
  }
}

/** SIGTERM, wait, then SIGKILL: only the given PID, which this module started. */
async function stopPid(pid: number, program: string, graceMs = 10_000): Promise<void> {
  if (!alive(pid) || !runs(pid, program)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    signalPid(pid, 'SIGKILL');
    while (alive(pid)) await sleep(20);
  }
}

export class TestCluster {
  readonly kubeconfig: string;
  readonly server: string;
  readonly etcdEndpoint: string;
  readonly caFile: string;
  readonly token = ADMIN_TOKEN;
  private etcd: ChildProcess | undefined;
  private apiserver: ChildProcess | undefined;
  private stopped = false;
  private readonly exitHook = (): void => this.killNow();

  private constructor(
    readonly dir: string,
    readonly address: string,
    readonly ports: ClusterPorts,
    private readonly binary: string,
    private readonly opts: ClusterOptions,
    /** The binary's release: it chooses the flags (apiserver-flags.ts). */
    readonly version: KubeVersion,
  ) {
    this.kubeconfig = join(dir, 'kubeconfig');
    this.server = `https://${hostPort(address, ports.apiserver)}`;
    this.etcdEndpoint = `http://${hostPort(address, ports.etcdClient)}`;
    this.caFile = join(dir, 'ca.crt');
  }

  /** Builds (if needed) and starts etcd and kube-apiserver; resolves once /readyz answers ok. */
  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const log = opts.log ?? defaultLog;
    const binary = await ensureKubeApiserver(log);
    let version: KubeVersion;
    try {
      version = kubeApiserverVersion(binary);
    } catch (err) {
      throw new ClusterError(`cannot tell the version of ${binary}: ${(err as Error).message}`);
    }
    const address = opts.listenAddress ?? '127.0.0.1';
    const pick = async (fixed: number | undefined, dflt: number): Promise<number> =>
      fixed ?? (opts.commandPrefix ? dflt : await freePort(address));
    const ports: ClusterPorts = {
      etcdClient: await pick(opts.ports?.etcdClient, 2379),
      etcdPeer: await pick(opts.ports?.etcdPeer, 2380),
      apiserver: await pick(opts.ports?.apiserver, 6443),
    };
    const base = opts.baseDir ?? tmpdir();
    mkdirSync(base, { recursive: true });
    const dir = mkdtempSync(join(base, 'herald-cluster-'));
    const cluster = new TestCluster(dir, address, ports, binary, opts, version);
    try {
      const t0 = Date.now();
      makePki(dir, address);
      writeFileSync(join(dir, 'tokens.csv'), `${ADMIN_TOKEN},herald-admin,herald-admin,"system:masters"\n`);
      writeFileSync(cluster.kubeconfig, kubeconfigYaml(cluster.server, readFileSync(cluster.caFile, 'utf8'), ADMIN_TOKEN));
      // Until it is up, even a detached cluster dies with this process (Ctrl-C during make cluster-up).
      process.on('exit', cluster.exitHook);
      const tPki = Date.now();
      await cluster.startEtcd();
      const tEtcd = Date.now();
      await cluster.startApiserver();
      cluster.writeState();
      if (opts.detached) process.off('exit', cluster.exitHook);
      const s = (a: number, b: number): string => ((b - a) / 1000).toFixed(1);
      log(
        `test cluster: kube-apiserver ${version.text} up at ${cluster.server} in ${s(t0, Date.now())} s (certificates ${s(t0, tPki)}, etcd ${s(tPki, tEtcd)}, ` +
          `kube-apiserver ${s(tEtcd, Date.now())}); kubeconfig ${cluster.kubeconfig}`,
      );
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  private wrap(cmd: string, args: string[]): [string, string[]] {
    const prefix = this.opts.commandPrefix ?? [];
    return prefix.length ? [prefix[0], [...prefix.slice(1), cmd, ...args]] : [cmd, args];
  }

  private launch(name: string, cmd: string, args: string[]): ChildProcess {
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const [c, a] = this.wrap(cmd, args);
    const child = spawn(c, a, { stdio: ['ignore', fd, fd], detached: this.opts.detached ?? false });
    closeSync(fd);
    if (this.opts.detached) child.unref();
    child.on('error', () => undefined); // reported through the readiness wait and the log
    return child;
  }

  private async waitReady(name: string, child: ChildProcess, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited: string | undefined;
    child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
    child.once('error', (e) => (exited = `could not be started: ${e.message}`));
    while (Date.now() < deadline) {
      if (exited) break;
      if (await probe().catch(() => false)) return;
      await sleep(150);
    }
    const why = exited ?? `not ready after ${timeoutMs / 1000} s`;
    throw new ClusterError(`${name} ${why}; last log lines (${join(this.dir, `${name}.log`)}):\n${logTail(join(this.dir, `${name}.log`))}`);
  }

  private async startEtcd(): Promise<void> {
    const a = this.address;
    // etcd data in /dev/shm when available: fsyncs on a VM disk would dominate write-heavy tests.
    const dataRoot = existsSync('/dev/shm') && !this.opts.commandPrefix ? mkdtempSync('/dev/shm/herald-etcd-') : join(this.dir, 'etcd');
    writeFileSync(join(this.dir, 'etcd-data-dir'), dataRoot);
    const peer = `http://${hostPort(a, this.ports.etcdPeer)}`;
    this.etcd = this.launch('etcd', 'etcd', [
      '--name=herald',
      `--data-dir=${dataRoot}`,
      `--listen-client-urls=${this.etcdEndpoint}`,
      `--advertise-client-urls=${this.etcdEndpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=herald=${peer}`,
      '--initial-cluster-state=new',
      '--log-level=warn',
    ]);
    await this.waitReady('etcd', this.etcd, async () => (await this.probe(`${this.etcdEndpoint}/health`)).includes('"true"'), 30_000);
  }

  private apiserverArgs(): string[] {
    // One function for the test cluster and the lab (full-lab.ts starts its API server through here).
    const ctx = { dir: this.dir, address: this.address, port: this.ports.apiserver, etcdEndpoint: this.etcdEndpoint };
    return apiserverFlags(this.version, ctx, this.opts.extraApiserverArgs ?? []);
  }

  /** Starts kube-apiserver against the running etcd and waits for /readyz (longer with 100,000s of objects in etcd). */
  async startApiserver(readyTimeoutMs = 90_000): Promise<void> {
    if (this.apiserver && this.apiserver.exitCode === null && this.apiserver.signalCode === null) return;
    this.apiserver = this.launch('kube-apiserver', this.binary, this.apiserverArgs());
    const ca = readFileSync(this.caFile);
    await this.waitReady(
      'kube-apiserver',
      this.apiserver,
      async () => {
        const body = await this.probe(`${this.server}/readyz`, ca);
        return body.trim() === 'ok';
      },
      readyTimeoutMs,
    );
    this.writeState();
  }

  /** Stops kube-apiserver (etcd keeps running with all data). */
  async stopApiserver(): Promise<void> {
    const pid = this.apiserver?.pid;
    if (pid) await stopPid(pid, 'kube-apiserver');
  }

  async restartApiserver(): Promise<void> {
    await this.stopApiserver();
    await this.startApiserver();
  }

  /** Compacts etcd at its current revision, so every older resourceVersion is gone (410 on watch). */
  compact(): number {
    const status = this.etcdctl(['endpoint', 'status', '-w', 'json']);
    const rev = (JSON.parse(status) as { Status: { header: { revision: number } } }[])[0].Status.header.revision;
    this.etcdctl(['compact', String(rev), '--physical']);
    return rev;
  }

  private etcdctl(args: string[]): string {
    const [c, a] = this.wrap('etcdctl', [`--endpoints=${this.etcdEndpoint}`, ...args]);
    const r = spawnSync(c, a, { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
    if (r.status !== 0) throw new ClusterError(`etcdctl ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
    return r.stdout;
  }

  /** Readiness probe: in-process over HTTPS, or with curl under the command prefix (inside a netns). */
  private async probe(url: string, ca?: Buffer): Promise<string> {
    if (this.opts.commandPrefix?.length) {
      const [c, a] = this.wrap('curl', ['-s', '--max-time', '2', '--cacert', this.caFile, '-H', `Authorization: Bearer ${ADMIN_TOKEN}`, url]);
      const r = spawnSync(c, a, { encoding: 'utf8' });
      return r.status === 0 ? r.stdout : '';
    }
    const res = await get(url, { ca, token: ADMIN_TOKEN });
    return res.status === 200 ? res.body : '';
  }

  state(): ClusterState {
    return {
      dir: this.dir,
      kubeconfig: this.kubeconfig,
      server: this.server,
      etcdEndpoint: this.etcdEndpoint,
      etcdPid: this.etcd?.pid ?? 0,
      apiserverPid: this.apiserver?.pid ?? 0,
    };
  }

  private writeState(): void {
    writeFileSync(join(this.dir, 'state.json'), `${JSON.stringify(this.state(), null, 2)}\n`);
  }

  /** Stops both processes (by the PIDs started here) and removes all temporary data. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.off('exit', this.exitHook);
    await stopClusterFromState(this.state());
  }

  /** Synchronous last resort when the test process exits without calling stop(). */
  private killNow(): void {
    for (const p of [this.apiserver, this.etcd]) {
      if (p?.pid && alive(p.pid)) process.kill(p.pid, 'SIGKILL');
    }
    removeClusterData(this.dir);
  }
}

function removeClusterData(dir: string): void {
  const etcdDirFile = join(dir, 'etcd-data-dir');
  if (existsSync(etcdDirFile)) rmSync(readFileSync(etcdDirFile, 'utf8').trim(), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

/** Stops a cluster described by its state (possibly started by another process) and removes its data. */
export async function stopClusterFromState(state: ClusterState): Promise<void> {
  if (state.apiserverPid) await stopPid(state.apiserverPid, 'kube-apiserver');
  if (state.etcdPid) await stopPid(state.etcdPid, 'etcd');
  removeClusterData(state.dir);
}
