// Real BFD implementations for the lab: BIRD 2's `bfd` protocol and FRR's bfdd (with zebra), each
// run directly inside a lab namespace with its own config, control sockets and pid files in a temp
// dir (as routers.ts does for BGP). Sessions are configured statically (no BGP needed) and read back
// through `birdc show bfd sessions` / `show bfd peers json`, normalized to BFD state names.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, signalPid } from '../cluster/pids.js';
import type { Lab } from './netns.js';
import net from 'node:net';
import { birdCommand, sleep } from './routers.js';

export interface BfdRouterPeer {
  address: string;
  /** The router's own address on the session. */
  local: string;
}

export interface BfdRouterOptions {
  host: string;
  peers: BfdRouterPeer[];
  intervalMs: number;
  multiplier: number;
  /** RFC 5883 multihop sessions (port 4784) instead of single hop. */
  multihop?: boolean;
}

export type BfdRouterState = 'Up' | 'Down' | 'Init' | 'AdminDown' | 'absent';

export abstract class BfdRouter {
  abstract readonly kind: 'bird' | 'frr';
  readonly dir: string;
  constructor(
    protected readonly lab: Lab,
    protected readonly opts: BfdRouterOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'herald-bfd-router-'));
    // FRR drops privileges to the frr user, which must reach its sockets and read its config.
    chmodSync(this.dir, 0o777);
  }

  abstract start(): Promise<void>;
  /** Session state per peer address. */
  abstract sessions(): Promise<Map<string, BfdRouterState>>;
  protected abstract pids(): number[];

  /** SIGKILL: the router vanishes without telling anyone (no AdminDown). */
  kill(): void {
    for (const pid of this.pids()) signalPid(pid, 'SIGKILL');
  }

  async stop(): Promise<void> {
    const pids = this.pids();
    for (const pid of pids) signalPid(pid, 'SIGCONT');
    for (const pid of pids) signalPid(pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(50);
    for (const pid of pids) if (alive(pid)) signalPid(pid, 'SIGKILL');
    while (pids.some(alive)) await sleep(20);
  }

  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  logs(): string {
    return ['bird.log', 'zebra.log', 'bfdd.log']
      .map((f) => join(this.dir, f))
      .filter((f) => existsSync(f))
      .map((f) => `--- ${f}\n${readFileSync(f, 'utf8').split('\n').slice(-30).join('\n')}`)
      .join('\n');
  }

  async state(peer: string): Promise<BfdRouterState> {
    return (await this.sessions()).get(peer) ?? 'absent';
  }

  /** Polls until the peer's session is in `state`; resolves with Date.now() when seen. Throws with the logs on timeout. */
  async waitForState(peer: string, state: BfdRouterState, timeoutMs = 30_000, everyMs = 50): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last: BfdRouterState | string = 'never read';
    for (;;) {
      try {
        last = await this.state(peer);
        if (last === state) return Date.now();
      } catch (e) {
        last = String(e);
      }
      if (Date.now() > deadline) throw new Error(`${this.kind}: ${peer} not ${state} after ${timeoutMs} ms (last: ${last})\n${this.logs()}`);
      await sleep(everyMs);
    }
  }

  protected readPid(file: string): number[] {
    try {
      const pid = Number(readFileSync(join(this.dir, file), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? [pid] : [];
    } catch {
      return [];
    }
  }

  /** Start-up waits: generous, a daemon starting on a loaded machine is slow, not broken. */
  protected async waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`${this.kind}: ${what} did not happen in ${timeoutMs} ms\n${this.logs()}`);
      await sleep(20);
    }
  }
}

export class BirdBfd extends BfdRouter {
  readonly kind = 'bird' as const;
  private get sock(): string {
    return join(this.dir, 'bird.ctl');
  }

  config(): string {
    const o = this.opts;
    const iface = this.lab.host(o.host).iface;
    const lines = [`log "${join(this.dir, 'bird.log')}" all;`, `router id ${this.lab.host(o.host).ipv4};`, 'protocol device { scan time 10; }', 'protocol bfd lab {'];
    lines.push(`  interface "${iface}" { min rx interval ${o.intervalMs} ms; min tx interval ${o.intervalMs} ms; idle tx interval 1000 ms; multiplier ${o.multiplier}; };`);
    if (o.multihop) lines.push(`  multihop { min rx interval ${o.intervalMs} ms; min tx interval ${o.intervalMs} ms; idle tx interval 1000 ms; multiplier ${o.multiplier}; };`);
    for (const p of o.peers) lines.push(o.multihop ? `  neighbor ${p.address} local ${p.local} multihop on;` : `  neighbor ${p.address} dev "${iface}" local ${p.local};`);
    lines.push('}');
    return lines.join('\n') + '\n';
  }

  async start(): Promise<void> {
    writeFileSync(join(this.dir, 'bird.conf'), this.config());
    rmSync(this.sock, { force: true });
    await this.lab.mustExec(this.opts.host, 'bird', ['-c', join(this.dir, 'bird.conf'), '-s', this.sock, '-P', join(this.dir, 'bird.pid')]);
    await this.waitFor('the control socket', async () => /Daemon is up and running/.test(await birdCommand(this.sock, 'show status')));
  }

  protected pids(): number[] {
    return this.readPid('bird.pid');
  }

  /** `birdc show bfd sessions`: "192.0.2.11   eth0   Up   10:00:00.000   0.300   0.900". */
  async sessions(): Promise<Map<string, BfdRouterState>> {
    const out = await birdCommand(this.sock, 'show bfd sessions');
    const states = new Map<string, BfdRouterState>();
    for (const line of out.split('\n')) {
      const m = /^(\S+)\s+\S+\s+(Up|Down|Init|AdminDown)\b/.exec(line.trim());
      if (m) states.set(m[1], m[2] as BfdRouterState);
    }
    return states;
  }
}

export class FrrBfd extends BfdRouter {
  readonly kind = 'frr' as const;

  bfddConfig(): string {
    const o = this.opts;
    const l = [`hostname ${o.host}`, 'bfd'];
    for (const p of o.peers) {
      l.push(` peer ${p.address}${o.multihop ? ' multihop' : ''} local-address ${p.local}`, `  receive-interval ${o.intervalMs}`, `  transmit-interval ${o.intervalMs}`, `  detect-multiplier ${o.multiplier}`, ' exit');
    }
    l.push('exit');
    return l.join('\n') + '\n';
  }

  private daemonArgs(name: string): string[] {
    const d = this.dir;
    return ['-d', '--vty_socket', d, '-z', join(d, 'zserv.api'), '-i', join(d, `${name}.pid`), '-f', join(d, `${name}.conf`), '-u', 'frr', '-g', 'frr', '-P', '0', '--log', `file:${join(d, `${name}.log`)}`];
  }

  async start(): Promise<void> {
    const d = this.dir;
    writeFileSync(join(d, 'zebra.conf'), `hostname ${this.opts.host}\n`, { mode: 0o644 });
    writeFileSync(join(d, 'bfdd.conf'), this.bfddConfig(), { mode: 0o644 });
    for (const f of ['zebra.pid', 'bfdd.pid']) rmSync(join(d, f), { force: true });
    await this.lab.mustExec(this.opts.host, '/usr/lib/frr/zebra', this.daemonArgs('zebra'));
    await this.waitFor('zserv.api', async () => existsSync(join(d, 'zserv.api')));
    // --bfdctl: bfdd's control socket defaults to /var/run/frr, shared with any other FRR: keep it here.
    await this.lab.mustExec(this.opts.host, '/usr/lib/frr/bfdd', [...this.daemonArgs('bfdd'), '--bfdctl', join(d, 'bfdd.sock')]);
    await this.waitFor('bfdd vty', async () => (await this.cmd('show bfd peers json')).includes('['));
  }

  protected pids(): number[] {
    return [...this.readPid('bfdd.pid'), ...this.readPid('zebra.pid')];
  }

  /** Kills bfdd only (zebra stays): the BFD speaker vanishes. */
  override kill(): void {
    for (const pid of this.readPid('bfdd.pid')) signalPid(pid, 'SIGKILL');
  }

  /** bfdd's show commands live in the enable node: `enable` first, then the command, on one vty connection. */
  cmd(command: string): Promise<string> {
    return vtyCommands(join(this.dir, 'bfdd.vty'), ['enable', command]);
  }

  async sessions(): Promise<Map<string, BfdRouterState>> {
    const j = JSON.parse(await this.cmd('show bfd peers json')) as Array<{ peer: string; status: string }>;
    const names: Record<string, BfdRouterState> = { up: 'Up', down: 'Down', init: 'Init', shutdown: 'AdminDown' };
    return new Map(j.map((p) => [p.peer, names[p.status] ?? 'Down']));
  }
}

export function createBfdRouter(kind: 'bird' | 'frr', lab: Lab, opts: BfdRouterOptions): BfdRouter {
  return kind === 'bird' ? new BirdBfd(lab, opts) : new FrrBfd(lab, opts);
}

/** Runs commands in turn on one FRR vty socket connection (vtysh's protocol: command NUL; reply ends NUL NUL NUL status); the last reply. */
function vtyCommands(sock: string, commands: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    let chunks: Buffer[] = [];
    let i = 0;
    const timer = setTimeout(() => (c.destroy(), reject(new Error(`vty ${commands.join('; ')}: no reply in ${timeoutMs} ms`))), timeoutMs);
    c.on('error', (e) => (clearTimeout(timer), reject(e)));
    c.on('connect', () => c.write(`${commands[0]}\0`));
    c.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      const n = all.length;
      if (n < 4 || all[n - 4] !== 0 || all[n - 3] !== 0 || all[n - 2] !== 0) return;
      const text = all.subarray(0, n - 4).toString('utf8');
      if (all[n - 1] !== 0) {
        clearTimeout(timer);
        c.end();
        reject(new Error(`vty ${commands[i]}: status ${all[n - 1]}: ${text.trim()}`));
        return;
      }
      chunks = [];
      if (++i < commands.length) {
        c.write(`${commands[i]}\0`);
        return;
      }
      clearTimeout(timer);
      c.end();
      resolve(text);
    });
  });
}
