// Helpers for the layer2 labs and benchmark: run `herald l2 announce` (the built CLI) and our client
// tool in lab namespaces, and observe the client side with real tools (arping, ndisc6, tcpdump,
// ip monitor). Every process is started through the lab, which kills it on teardown.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findPacketSocketAddon } from '../../protocols/rawio/addon.js';
import { onLines } from '../cluster/lines.js';
import { HERALD_CLI, REPO_ROOT } from './bgp-speaker.js';
import type { Lab } from './netns.js';

export const L2_TOOL = join(REPO_ROOT, 'test', 'lab', 'l2-tool.ts');

/** VIPs of the labs: TEST-NET-3 and the documentation IPv6 prefix, never on any interface. */
export const VIP4 = '203.0.113.10';
export const VIP6 = '2001:db8:ffff::10';
export const VIP4_B = '203.0.113.20';
export const VIP6_B = '2001:db8:ffff::20';

/** Why the layer2 lab cannot run (the built CLI or the addon missing), or null. */
export function l2LabMissing(): string | null {
  if (!existsSync(HERALD_CLI)) return `${HERALD_CLI} not built: run \`make build\``;
  if (findPacketSocketAddon() === null) return 'packet socket addon not built: run `make build`';
  return null;
}

/** On-link routes to the VIP ranges on a client, as a router or host on the same segment has. */
export async function addVipRoutes(lab: Lab, host: string): Promise<void> {
  await lab.mustExec(host, 'ip', ['route', 'add', '203.0.113.0/24', 'dev', 'eth0']);
  await lab.mustExec(host, 'ip', ['-6', 'route', 'add', '2001:db8:ffff::/64', 'dev', 'eth0']);
}

export interface LogLine {
  msg: string;
  time: number;
  [k: string]: unknown;
}

/** A running `herald l2 announce`. */
export class Responder {
  readonly logs: LogLine[] = [];
  stderr = '';
  private waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  private exited: Promise<number | null>;

  constructor(
    readonly host: string,
    readonly child: ChildProcess,
  ) {
    onLines(child.stdout, (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      this.logs.push(parsed);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(parsed)) return true;
        w.resolve(parsed);
        return false;
      });
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (this.stderr += d));
    // 'close', not 'exit': 'exit' can come before the last stdout lines (the 'stopped' counters) are read.
    this.exited = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves with the first log line (past or future) matching, or rejects after timeoutMs. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const seen = this.logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.host}: no matching log line within ${timeoutMs} ms; stderr: ${this.stderr.trim()}; logs: ${JSON.stringify(this.logs)}`));
      }, timeoutMs);
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.host}: herald exited (${code}) before the expected log line; stderr: ${this.stderr.trim()}`));
      });
    });
  }

  /** SIGTERM; resolves with the exit code (null when it had to be killed after timeoutMs). */
  async stop(timeoutMs = 5000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** Starts `herald l2 announce ARGS` in a host's namespace and waits for its `ready` line. */
export async function startResponder(lab: Lab, host: string, args: string[]): Promise<Responder> {
  const child = lab.spawn(host, process.execPath, [HERALD_CLI, 'l2', 'announce', ...args]);
  const r = new Responder(host, child);
  // Starting node and the CLI takes seconds on a loaded machine: a wait, not a speed claim.
  await r.waitFor((l) => l.msg === 'ready', 30_000);
  return r;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number, procStat: string): number {
  // Fields after the parenthesised command: state is field 3; utime 14, stime 15 (clock ticks, 100/s).
  const rest = procStat.slice(procStat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

export interface ArpingResult {
  replies: Array<{ mac: string; ms: number }>;
  code: number;
}

/** `arping -c N -w W -I eth0 ip` in a host; replies with the MAC (lowercase) and RTT. */
export async function arping(lab: Lab, host: string, ip: string, count: number, waitSeconds = count + 2): Promise<ArpingResult> {
  const r = await lab.exec(host, 'arping', ['-c', String(count), '-w', String(waitSeconds), '-I', 'eth0', ip], { timeoutMs: (waitSeconds + 5) * 1000 });
  const replies = [...r.stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]+)\]\s+([\d.]+)ms/g)].map((m) => ({ mac: m[1].toLowerCase(), ms: Number(m[2]) }));
  return { replies, code: r.code };
}

/** `ndisc6 -n -1 -r N -w MS ip eth0`: the advertised MAC (lowercase) or null. */
export async function ndisc6(lab: Lab, host: string, ip: string, retries = 3, waitMs = 500): Promise<string | null> {
  const r = await lab.exec(host, 'ndisc6', ['-n', '-1', '-r', String(retries), '-w', String(waitMs), ip, 'eth0'], { timeoutMs: 15_000 });
  const m = /Target link-layer address:\s*([0-9A-Fa-f:]+)/.exec(r.stdout);
  return m ? m[1].toLowerCase() : null;
}

/** A running observer (tcpdump, ip monitor) whose output lines are collected with our receive time. */
export class LineWatch {
  readonly lines: Array<{ at: number; text: string }> = [];
  err = '';
  private waiters: Array<{ pred: (t: string) => boolean; resolve: (t: { at: number; text: string }) => void }> = [];

  constructor(readonly child: ChildProcess) {
    onLines(child.stdout, (text) => {
      const line = { at: Date.now(), text };
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(line.text)) return true;
        w.resolve(line);
        return false;
      });
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (this.err += d));
  }

  waitFor(pred: (t: string) => boolean, timeoutMs: number): Promise<{ at: number; text: string } | null> {
    const seen = this.lines.find((l) => pred(l.text));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGINT');
    await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
  }
}

/** tcpdump on a host's eth0 (or `iface`) with epoch timestamps (-tt), link headers (-e), line-buffered; waits until it listens. */
export async function startCapture(lab: Lab, host: string, filter: string, iface = 'eth0'): Promise<LineWatch> {
  const w = new LineWatch(lab.spawn(host, 'tcpdump', ['-l', '-tt', '-n', '-e', '-i', iface, filter]));
  const deadline = Date.now() + 10_000;
  while (!/listening on/.test(w.err)) {
    if (Date.now() > deadline) throw new Error(`tcpdump in ${host} did not start: ${w.err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return w;
}

/** `ip -ts monitor neigh` on a host; resolves once it is subscribed. */
export async function startNeighMonitor(lab: Lab, host: string): Promise<LineWatch> {
  const w = new LineWatch(lab.spawn(host, 'ip', ['-ts', 'monitor', 'neigh']));
  await monitorSubscribed(w, 'neigh', (args) => lab.mustExec(host, 'ip', args));
  return w;
}

/** The address of a monitor's subscription handshake: in no lab's plan (documentation range). */
const MONITOR_PROBE = '198.51.100.253';

/**
 * Resolves once `ip monitor` (watched by `w`) is subscribed: a probe neighbour entry on eth0 (or an
 * unreachable route) is added, until the monitor reports it, and removed. A fixed pause after the
 * start was a race: on a loaded machine the monitor may subscribe later and miss the test's events.
 */
export async function monitorSubscribed(w: LineWatch, what: 'neigh' | 'route', ip: (args: string[]) => Promise<unknown>, timeoutMs = 15_000): Promise<void> {
  const add = what === 'neigh' ? ['neigh', 'replace', MONITOR_PROBE, 'lladdr', '02:00:00:00:00:fd', 'dev', 'eth0', 'nud', 'permanent'] : ['route', 'replace', 'unreachable', `${MONITOR_PROBE}/32`];
  const del = what === 'neigh' ? ['neigh', 'del', MONITOR_PROBE, 'dev', 'eth0'] : ['route', 'del', 'unreachable', `${MONITOR_PROBE}/32`];
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (w.child.exitCode !== null || w.child.signalCode !== null) throw new Error(`ip monitor ${what} exited: ${w.err}`);
      await ip(add);
      if (await w.waitFor((t) => t.includes(MONITOR_PROBE), 500)) return;
      if (Date.now() > deadline) throw new Error(`ip monitor ${what} did not report a change within ${timeoutMs} ms: ${w.err}`);
      // Removed so that the next add is a change the monitor reports.
      await ip(del);
    }
  } finally {
    await ip(del).catch(() => undefined);
  }
}

/** Epoch milliseconds of an `ip -ts` line (`[2026-11-22T09:45:25.707110] ...`, local time). */
export function monitorTime(line: string): number {
  const m = /^\[(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})\]/.exec(line);
  if (!m) return NaN;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  return new Date(y, mo - 1, d, h, mi, s).getTime() + Number(m[7]) / 1000;
}

/** Epoch milliseconds of a `tcpdump -tt` line (`1795340013.831234 ...`). */
export function captureTime(line: string): number {
  const m = /^(\d+)\.(\d{6})\s/.exec(line);
  return m ? Number(m[1]) * 1000 + Number(m[2]) / 1000 : NaN;
}

/** The client tool (test/lab/l2-tool.ts) in a host's namespace; resolves with its JSON result. */
export async function runTool<T>(lab: Lab, host: string, cmd: string, args: Record<string, string | number>, timeoutMs = 60_000): Promise<T> {
  const argv = ['--import', 'tsx', L2_TOOL, cmd, ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)])];
  const r = await lab.exec(host, process.execPath, argv, { timeoutMs });
  if (r.code !== 0) throw new Error(`l2-tool ${cmd} in ${host} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as T;
}
