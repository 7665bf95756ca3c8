// Shared by the full-lab benchmarks (test/bench/lab-*.bench.ts): bring the lab up with teardown on
// every way out (normal end, exception, Ctrl-C, process exit), watchers that timestamp what the
// kernel tells a lab host (`ip monitor`, tcpdump), kubectl timed at the API request itself, and the
// figure printing / quantiles the benches share.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FullLab, HOSTS, LabError, NODES, type HostName, type NodeName } from './full-lab.js';
import { tail } from './full-kube.js';
import type { LabRouterKind } from './full-router.js';
import { labUp, type HeraldLab } from './full-setup.js';
import { LineWatch, monitorSubscribed } from './l2-lab.js';
import { labUnavailableReason } from './netns.js';

/**
 * Runs `body` on a fresh full lab and tears the lab down afterwards, also when `body` throws, on
 * SIGINT/SIGTERM and at process exit (the lab's daemons are detached and would outlive us).
 * Where no lab can run: fails under CI=true, else prints the reason as a comment line and returns.
 * LAB_BENCH_LOGS=<dir> keeps the daemons' logs (copied there before the teardown) for a timeline.
 */
export async function withBenchLab(
  name: string,
  body: (h: HeraldLab) => Promise<void>,
  opts: { router?: LabRouterKind; speakerArgs?: (dir: string) => string[] } = {},
): Promise<void> {
  const reason = labUnavailableReason();
  if (reason !== null) {
    if (process.env.CI === 'true') throw new Error(`${name} cannot run: ${reason}`);
    process.stdout.write(`# ${name} skipped: ${reason}\n`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), `herald-${name}-`));
  const keepLogs = process.env.LAB_BENCH_LOGS;
  const teardown = (): void => {
    if (keepLogs && existsSync(dir)) {
      mkdirSync(keepLogs, { recursive: true });
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.log'))) cpSync(join(dir, f), join(keepLogs, f));
    }
    FullLab.destroy(dir);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    teardown();
    process.stderr.write(`${name}: ${sig}, lab torn down\n`);
    process.exit(130);
  };
  process.once('exit', teardown);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const h = await labUp({ prefix: `hb${randomBytes(2).toString('hex')}`, dir, router: opts.router, log: () => undefined, speakerArgs: opts.speakerArgs?.(dir) });
    await body(h);
  } finally {
    teardown();
    process.off('exit', teardown);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A long-running command in a lab namespace, its output lines timestamped on arrival (killed by the lab's teardown too). */
export function watchIn(lab: FullLab, host: HostName, cmd: string, args: string[]): LineWatch {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', lab.host(host).ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new LineWatch(child);
}

/** `ip -ts monitor <what>` in a lab namespace; resolves once it is subscribed (it reported a probe change). */
export async function monitorIn(lab: FullLab, host: HostName, what: 'neigh' | 'route'): Promise<LineWatch> {
  const w = watchIn(lab, host, 'ip', ['-ts', '-4', 'monitor', what]);
  await monitorSubscribed(w, what, (args) => lab.mustExec(host, 'ip', args)).catch((e: unknown) => {
    throw new LabError(`${(e as Error).message} (in ${host})`);
  });
  return w;
}

/** tcpdump on a lab host's eth0 (epoch timestamps, link headers, line-buffered); resolves once it listens. */
export async function captureIn(lab: FullLab, host: HostName, filter: string): Promise<LineWatch> {
  const w = watchIn(lab, host, 'tcpdump', ['-l', '-tt', '-n', '-e', '-i', 'eth0', filter]);
  const deadline = Date.now() + 10_000;
  while (!/listening on/.test(w.err)) {
    if (Date.now() > deadline || w.child.exitCode !== null) throw new LabError(`tcpdump in ${host} did not start: ${w.err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return w;
}

/**
 * Epoch milliseconds of a klog line header (`I1122 12:30:01.123456 ...`, local time, no year). The
 * line is logged right after the response arrived, so this is when the API request returned.
 */
export function klogTime(line: string, now = new Date()): number {
  const m = /^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})/.exec(line);
  if (!m) return NaN;
  const [mo, d, h, mi, s] = m.slice(1, 6).map(Number);
  let year = now.getFullYear();
  // A line from Dec 31 read on Jan 1.
  if (mo - 1 > now.getMonth()) year--;
  return new Date(year, mo - 1, d, h, mi, s).getTime() + Number(m[6]) / 1000;
}

/**
 * `kubectl create -f -` (as the admin, in the control namespace) with request logging (-v=6);
 * returns when the POST creating an object of `resource` (e.g. `services`) returned, per kubectl's
 * own log line for that response (`postAt`), and when kubectl had exited (`exitAt`), both epoch ms.
 */
export async function kubectlCreateTimed(lab: FullLab, manifest: string, resource: string): Promise<{ postAt: number; exitAt: number }> {
  const child = spawn('ip', ['netns', 'exec', lab.host('control').ns, 'kubectl', '--kubeconfig', lab.state.kubeconfig, '-v=6', 'create', '-f', '-'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdin.end(manifest);
  // 'close', not 'exit': 'exit' can come before the last stderr chunk (the timed POST line) has been read.
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const exitAt = Date.now();
  if (code !== 0) throw new LabError(`kubectl create failed (${code}): ${out}${err.split('\n').filter((l) => !/^I\d{4} /.test(l)).join('\n')}`);
  const re = new RegExp(`POST\\S* "?https://[^ "]+/${resource}\\?[^ "]*"?.*\\b201\\b`);
  const line = err.split('\n').find((l) => re.test(l));
  const at = line === undefined ? NaN : klogTime(line);
  if (!Number.isFinite(at)) throw new LabError(`no timed POST .../${resource} 201 in kubectl's log:\n${err.slice(-2000)}`);
  return { postAt: at, exitAt };
}

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One figure per line: `name value` (the unit is in the name). */
export function figure(name: string, value: number): void {
  process.stdout.write(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)}\n`);
}

/** The 1-minute load average as a comment: the machine is shared and every lab figure depends on it. */
export function loadComment(name: string, when: string): void {
  process.stdout.write(`# ${name}: load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${when})\n`);
}

/** The daemons' last log lines, for failure messages. */
export function daemonLogs(lab: FullLab, lines = 12): string {
  return ['controller', ...NODES.map((n) => `speaker-${n}`)].map((d) => `--- ${d}\n${tail(lab.logPath(d), lines)}`).join('\n');
}

/** Every process in the node's namespace (the speaker and the node's backend): the whole node. */
export function namespacePids(lab: FullLab, node: NodeName): number[] {
  return execFileSync('ip', ['netns', 'pids', lab.host(node).ns], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

/** Sets the bridge's port for `host` (the switch end of its cable) down or up: its eth0 loses or regains carrier. */
export function setBridgePort(lab: FullLab, host: HostName, up: boolean): void {
  execFileSync('ip', ['-n', lab.state.bridgeNs, 'link', 'set', `p${HOSTS.indexOf(host)}`, up ? 'up' : 'down']);
}
