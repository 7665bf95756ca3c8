// The RA side of BGP unnumbered against real FRR: zebra in one namespace with RAs on (`no ipv6 nd
// suppress-ra`, `ipv6 nd ra-interval 3`, as FRR's unnumbered interfaces run), our router link
// (test/lab/router-link-tool.ts) in another on the same segment. Our link learns zebra's link-local
// address from its RAs; zebra learns ours from our RAs (its interface's neighbour list, which bgpd's
// `neighbor IF interface` reads). Then link down/up and a silent router are followed.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signalPid } from '../cluster/pids.js';
import { REPO_ROOT } from './bgp-speaker.js';
import { l2LabMissing, Responder } from './l2-lab.js';
import { describeLab, Lab } from './netns.js';
import { eventually } from './eventually.js';
import { frrCommand } from './routers.js';
import { hostileRouterAdvertisements } from './hostile-router-frames.js';
import { parseIpv6 } from '../../protocols/ndp/ipv6-address.js';
import { parseMac } from '../../protocols/rawio/mac.js';

const TOOL = join(REPO_ROOT, 'test', 'lab', 'router-link-tool.ts');
/** A second "router" on the segment, sending the crafted RAs. */
const HOSTILE_MAC = '02:00:00:00:00:66';
const HOSTILE_LL = 'fe80::66';

/** zebra alone, RAs on eth0; its own dir for config, sockets, pid and log. */
class Zebra {
  readonly dir = mkdtempSync(join(tmpdir(), 'herald-zebra-'));
  constructor(private readonly lab: Lab) {
    chmodSync(this.dir, 0o777);
  }

  async start(): Promise<void> {
    const d = this.dir;
    writeFileSync(join(d, 'zebra.conf'), ['hostname router', 'interface eth0', ' ipv6 nd ra-interval 3', ' no ipv6 nd suppress-ra', ''].join('\n'), { mode: 0o644 });
    writeFileSync(join(d, 'vtysh.conf'), '', { mode: 0o644 });
    const args = ['-d', '--vty_socket', d, '-z', join(d, 'zserv.api'), '-i', join(d, 'zebra.pid'), '-f', join(d, 'zebra.conf'), '-u', 'frr', '-g', 'frr', '-P', '0', '--log', `file:${join(d, 'zebra.log')}`];
    await this.lab.mustExec('router', '/usr/lib/frr/zebra', args);
    await eventually('zebra vty', async () => (await this.cmd('show version').catch(() => '')).includes('FRRouting'), 10_000, 50);
  }

  cmd(c: string): Promise<string> {
    return frrCommand(join(this.dir, 'zebra.vty'), c);
  }

  pid(): number {
    return Number(readFileSync(join(this.dir, 'zebra.pid'), 'utf8').trim());
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'zebra.log'), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  }

  close(): void {
    try {
      signalPid(this.pid(), 'SIGCONT');
      signalPid(this.pid(), 'SIGKILL');
    } catch {
      /* never started */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function linkLocal(lab: Lab, host: string): Promise<string> {
  const out = await lab.mustExec(host, 'ip', ['-6', '-j', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
  // iproute2's JSON keeps an empty object for each address the scope filter left out.
  const rows = JSON.parse(out) as Array<{ addr_info: Array<{ local?: string }> }>;
  const ll = rows[0]?.addr_info.find((a) => a.local?.startsWith('fe80:'))?.local;
  if (!ll) throw new Error(`[${host}] no link-local address on eth0: ${out}`);
  return ll;
}

describeLab('router link against FRR (RA side of BGP unnumbered)', () => {
  let lab: Lab;
  let zebra: Zebra;
  let tool: Responder;
  let routerLl: string;
  let ourLl: string;

  beforeAll(async () => {
    const missing = l2LabMissing();
    if (missing) throw new Error(missing);
    lab = await Lab.create({ hosts: ['router', 'speaker'], prefix: 'hra' });
    zebra = new Zebra(lab);
    await zebra.start();
    routerLl = await linkLocal(lab, 'router');
    ourLl = await linkLocal(lab, 'speaker');
    tool = new Responder('speaker', lab.spawn('speaker', process.execPath, ['--import', 'tsx', TOOL, 'link', '--iface', 'eth0', '--interval-ms', '2000']));
  });

  afterAll(async () => {
    zebra?.close();
    await lab?.destroy();
  });

  /** Log lines carry the tool's own timestamps: order events by them, not by the test's clock. */
  const learned = (after: number) => (l: { msg: string; router?: unknown; time: number }) => l.msg === 'router learned' && l.router === routerLl && l.time >= after;
  const context = () => `router ${routerLl}, speaker ${ourLl}`;

  it("learns FRR's link-local address from its RAs, and FRR learns ours", async () => {
    await tool.waitFor((l) => l.msg === 'router link up' && l.linkLocal === ourLl, 30_000).catch((e: Error) => Promise.reject(new Error(`${context()}: ${e.message}`)));
    await tool.waitFor(learned(0), 30_000).catch((e: Error) => Promise.reject(new Error(`${context()}: ${e.message}`)));
    // zebra lists the RA senders it heard as the interface's neighbours (what bgpd's unnumbered peer uses).
    await eventually(
      `zebra to list ${ourLl} as a neighbour on eth0`,
      async () => {
        // "ND router advertisements sent: 4 rcvd: 2" ... "Neighbor address(s):\n  inet6 fe80::.../128"
        const t = await zebra.cmd('show interface eth0');
        const rcvd = Number(/ND router advertisements sent: \d+ rcvd: (\d+)/.exec(t)?.[1] ?? 0);
        const neighbours = t.split('Neighbor address(s):')[1] ?? '';
        return rcvd > 0 && neighbours.includes(`inet6 ${ourLl}/128`);
      },
      30_000,
      200,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await zebra.cmd('show interface eth0')}\n${zebra.log()}`);
    });
  });

  it('follows link down and up', async () => {
    const t0 = Date.now();
    await lab.mustExec('speaker', 'ip', ['link', 'set', 'eth0', 'down']);
    const lost = await tool.waitFor((l) => l.msg === 'router lost' && l.time >= t0, 30_000);
    await lab.mustExec('speaker', 'ip', ['link', 'set', 'eth0', 'up']);
    // Our solicitation at link up gets zebra's answer at once: often before `ip` has returned.
    await tool.waitFor(learned(lost.time), 30_000);
  });

  it('forgets a router that falls silent, and learns it again when it speaks', async () => {
    const t0 = Date.now();
    signalPid(zebra.pid(), 'SIGSTOP');
    let lost;
    try {
      // FRR's router lifetime is 3 x ra-interval: 9 s.
      lost = await tool.waitFor((l) => l.msg === 'router expired' && l.time >= t0, 60_000);
      expect(Number(lost.silentMs)).toBeGreaterThanOrEqual(9000);
    } finally {
      signalPid(zebra.pid(), 'SIGCONT');
    }
    // zebra's overdue RA timer fires as soon as it runs again.
    await tool.waitFor(learned(lost.time), 30_000);
  });

  it('drops and counts every crafted RA class from the wire; a second router is counted, not followed', async () => {
    const cases = hostileRouterAdvertisements(parseMac(HOSTILE_MAC), parseIpv6(HOSTILE_LL));
    const r = await lab.exec('router', process.execPath, ['--import', 'tsx', TOOL, 'hostile', '--iface', 'eth0', '--src-mac', HOSTILE_MAC, '--src-ll', HOSTILE_LL]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ sent: cases.length + 1 });
    const want: Partial<Record<string, number>> = {};
    for (const c of cases) if (!c.unitOnly) want[c.drop] = (want[c.drop] ?? 0) + 1;
    // The tool prints its counters on SIGUSR2; the valid RA went last, so once it is counted all were.
    const counters = await eventually('the crafted frames to be counted', async () => {
      const t = Date.now();
      process.kill(tool.pid, 'SIGUSR2');
      const line = await tool.waitFor((l) => l.msg === 'counters' && l.time >= t, 30_000);
      const c = line.counters as { dropped: Record<string, number>; otherRouter: number };
      return c.otherRouter >= 1 && c;
    });
    for (const [reason, n] of Object.entries(want)) expect(counters.dropped[reason], reason).toBeGreaterThanOrEqual(n ?? 0);
    expect(tool.logs.filter((l) => l.msg === 'router learned').every((l) => l.router === routerLl)).toBe(true);
  });
});
