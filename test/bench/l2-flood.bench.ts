// Layer2 flood benchmark (issue 16 target: floods of 100k frames/s, valid requests answered ≥ 99 %,
// invalid ones 0, CPU per frame printed). In a lab (client and node1 namespaces) joined by a direct
// veth pair fl0 <-> fl1 (no bridge: a Linux bridge itself drops frames with a multicast or zero
// source MAC, and we want the announcer to see every class):
//   - `herald l2 announce --interface fl1` on node1 for VIP4/VIP6 (the valid requests' targets) and
//     VIP4_B/VIP6_B (the invalid requests' targets: any answer about them, or about an address we
//     do not own, is an answer to an invalid frame);
//   - trafgen (netsniff-ng, TX ring) on fl0 sends round robin every class of test/lab/hostile-frames.ts:
//     the ones to answer aimed at VIP4/VIP6, the ones to drop aimed at VIP4_B/VIP6_B (conflict
//     claims left out: they are not requests, and a defence answers them once per 10 s by design);
//   - our capture (l2-tool.ts `answers`, a packet socket on fl0) counts what node1 sends back.
// trafgen runs with --no-sock-mem and --notouch-irq: it must not tune the host's sysctls or IRQs.
// Prints one figure per line: valid answered %, invalid answered, offered and received rates, and the
// announcer's CPU per frame (from /proc/PID/stat), per rate of L2_FLOOD_RATES (default 100000).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labUnavailableReason } from '../lab/netns.js';
import { cpuSeconds, l2LabMissing, runTool, startResponder, VIP4, VIP4_B, VIP6, VIP6_B } from '../lab/l2-lab.js';
import { hostileCases } from '../lab/hostile-frames.js';
import { parseMac } from '../../protocols/rawio/mac.js';

/** Whether a command is on PATH. */
function which(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, cmd)));
}

const RATES = (process.env.L2_FLOOD_RATES ?? '100000').split(',').map(Number);
const SECONDS = Number(process.env.L2_FLOOD_SECONDS ?? 5);

function print(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(value < 10 ? 3 : 1)}`);
}

/** A trafgen packet: its bytes as a C-like list. */
function trafgenPacket(frame: Buffer): string {
  return `{ ${Array.from(frame, (b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')} }`;
}

async function linkCounter(lab: Lab, host: string, iface: string, counter: string): Promise<number> {
  return Number((await lab.mustExec(host, 'cat', [`/sys/class/net/${iface}/statistics/${counter}`])).trim());
}

interface Answers {
  valid4: number;
  valid6: number;
  gratuitous: number;
  others: Record<string, number>;
  captureKernelDrops: number;
}

async function main(): Promise<void> {
  const reason = labUnavailableReason() ?? l2LabMissing() ?? (which('trafgen') ? null : 'trafgen (Debian package netsniff-ng) not installed: run `make deps`');
  if (reason !== null) {
    if (process.env.CI === 'true') throw new Error(`l2-flood bench cannot run: ${reason}`);
    console.log(`# l2-flood bench skipped: ${reason}`);
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'herald-l2-flood-'));
  const lab = await Lab.create({ hosts: ['client', 'node1'], prefix: 'l2f' });
  try {
    const client = lab.host('client');
    const node1 = lab.host('node1');
    await lab.mustExec('client', 'ip', ['link', 'add', 'fl0', 'type', 'veth', 'peer', 'name', 'fl1', 'netns', node1.ns]);
    await lab.mustExec('client', 'ip', ['link', 'set', 'fl0', 'up']);
    await lab.mustExec('node1', 'ip', ['link', 'set', 'fl1', 'up']);
    const macOf = async (host: string, iface: string) => (JSON.parse(await lab.mustExec(host, 'ip', ['-j', 'link', 'show', iface])) as Array<{ address: string }>)[0].address;
    const clientMac = await macOf('client', 'fl0');
    const ownerMac = await macOf('node1', 'fl1');
    const params = (vip4: string, vip6: string) => ({ clientMac: parseMac(clientMac), clientIp4: client.ipv4, clientIp6: client.ipv6, ownerMac: parseMac(ownerMac), vip4, vip6 });
    const valid = hostileCases(params(VIP4, VIP6)).filter((c) => c.expect === 'answer' && !c.name.includes('longer than'));
    const invalid = hostileCases(params(VIP4_B, VIP6_B)).filter((c) => c.expect === 'drop');
    const mix = [...valid, ...invalid];
    const cfg = join(tmp, 'flood.cfg');
    writeFileSync(cfg, mix.map((c) => `# ${c.name}\n${trafgenPacket(c.frame)}\n`).join(''));
    print('l2flood.classes.valid.count', valid.length);
    print('l2flood.classes.invalid.count', invalid.length);

    const responder = await startResponder(lab, 'node1', ['--interface', 'fl1', '--ip', VIP4, '--ip', VIP6, '--ip', VIP4_B, '--ip', VIP6_B, '--garp-count', '1']);
    // Past the one gratuitous round (and IPv6 group joins) before anything is counted.
    await new Promise((r) => setTimeout(r, 1500));
    const stat = () => readFileSync(`/proc/${responder.pid}/stat`, 'utf8');

    // trafgen paces by sleeping between frames, so on a loaded machine it sends slower than asked:
    // a 1 s warm-up at the target rate (also warms the announcer's JIT) calibrates the rate asked of
    // it in the measured run; the figures are the rate it reports having reached.
    // Each rate twice: at normal priority (on a shared machine the announcer gets its fair share of
    // the cores), then reniced to -10, which gives it about a core, as a node would.
    for (const [label, nice] of [['', 0], ['.nice-10', -10]] as const)
    for (const rate of RATES) {
      if (nice !== 0) await lab.mustExec('node1', 'renice', ['-n', String(nice), '-p', String(responder.pid)]);
      let asked = rate;
      for (const warmUp of [true, false]) {
        const seconds = warmUp ? 1 : SECONDS;
        const total = Math.floor((rate * seconds) / mix.length) * mix.length; // whole rounds of the mix
        const ready = join(tmp, `ready-${rate}-${warmUp}-${nice}`);
        const stop = join(tmp, `stop-${rate}-${warmUp}-${nice}`);
        const capture = runTool<Answers>(lab, 'client', 'answers', { iface: 'fl0', 'owner-mac': ownerMac, vip4: VIP4, vip6: VIP6, 'ready-file': ready, 'stop-file': stop }, 180_000);
        for (let i = 0; i < 600 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 50));
        if (!existsSync(ready)) throw new Error('the capture did not start');
        const rx0 = await linkCounter(lab, 'node1', 'fl1', 'rx_packets');
        const cpu0 = cpuSeconds(responder.pid, stat());
        const out = await lab.exec('client', 'trafgen', ['--dev', 'fl0', '--conf', cfg, '--rate', `${Math.round(asked)}pps`, '--num', String(total), '--cpus', '1', '--no-sock-mem', '--notouch-irq'], { timeoutMs: (seconds * 10 + 30) * 1000 });
        await new Promise((r) => setTimeout(r, 500)); // late answers
        const cpu1 = cpuSeconds(responder.pid, stat());
        const rx1 = await linkCounter(lab, 'node1', 'fl1', 'rx_packets');
        writeFileSync(stop, 'stop\n');
        const a = await capture;
        // "      4 sec, 834742 usec on CPU0 (300000 packets)"
        const m = /(\d+) sec, (\d+) usec on CPU\d+ \((\d+) packets\)/.exec(out.stdout + out.stderr);
        if (out.code !== 0 || !m) throw new Error(`trafgen failed (${out.code}): ${out.stderr.trim()}`);
        const sent = Number(m[3]);
        const sendSeconds = Number(m[1]) + Number(m[2]) / 1e6;
        const reached = sent / sendSeconds;
        if (warmUp) {
          asked = Math.min(rate * 4, (rate * rate) / reached);
          continue;
        }
        const rounds = sent / mix.length;
        const validSent = rounds * valid.length;
        const invalidAnswered = Object.values(a.others).reduce((x, y) => x + y, 0);
        const received = rx1 - rx0;
        const k = `l2flood.${rate / 1000}k${label}`;
        print(`${k}.trafgen.rate_asked.pps`, Math.round(asked));
        print(`${k}.sent.frames`, sent);
        print(`${k}.sent.per_second`, Math.round(reached));
        print(`${k}.received_by_node.frames`, received);
        print(`${k}.valid.sent`, validSent);
        print(`${k}.valid.answered`, a.valid4 + a.valid6);
        print(`${k}.valid.answered.percent`, (100 * (a.valid4 + a.valid6)) / validSent);
        print(`${k}.invalid.sent`, rounds * invalid.length);
        print(`${k}.invalid.answered`, invalidAnswered);
        if (invalidAnswered > 0) console.log(`# invalid answered, by address: ${JSON.stringify(a.others)}`);
        print(`${k}.announcer.cpu.seconds`, cpu1 - cpu0);
        print(`${k}.announcer.cpu.cores`, (cpu1 - cpu0) / sendSeconds);
        print(`${k}.announcer.cpu.us_per_frame`, ((cpu1 - cpu0) * 1e6) / Math.max(1, received));
        print(`${k}.capture.kernel_drops`, a.captureKernelDrops);
        print(`${k}.loadavg.1min`, loadavg()[0]);
      }
    }
    const code = await responder.stop();
    if (code !== 0) throw new Error(`responder exited ${code} on SIGTERM`);
    const stopped = responder.logs.find((l) => l.msg === 'stopped') as { receiveDrops?: number } | undefined;
    print('l2flood.announcer.kernel_drops.total', stopped?.receiveDrops ?? -1);
  } finally {
    await lab.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
