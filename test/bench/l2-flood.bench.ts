// Layer2 flood benchmark (issue 16 target: floods of 100k frames/s, valid requests answered >= 99 %,
// invalid ones 0, CPU per frame printed). In a lab (client and node1 namespaces) joined by a direct
// veth pair fl0 <-> fl1 (no bridge: a Linux bridge itself drops frames with a multicast or zero
// source MAC, and we want the announcer to see every class):
//   - `herald l2 announce --interface fl1` on node1 for VIP4/VIP6 (the valid requests' targets) and
//     VIP4_B/VIP6_B (the invalid requests' targets: any answer about them, or about an address we
//     do not own, is an answer to an invalid frame), started afresh for each run so its counters
//     (drops by reason, kernel drops) are that run's;
//   - trafgen (netsniff-ng) on fl0 sends round robin every class of test/lab/hostile-frames.ts:
//     the ones to answer aimed at VIP4/VIP6, the ones to drop aimed at VIP4_B/VIP6_B (conflict
//     claims left out: they are not requests, and a defence answers them once per 10 s by design);
//   - a tbf qdisc on fl0 paces the flood at the asked rate, evenly (trafgen's own --rate sends each
//     second's frames in one burst at full speed, then sleeps: not a steady flood). trafgen goes
//     through the qdisc (--qdisc-path) with one blocking sendto per frame (-t 0ns: its slow path, no
//     sleeps), so when the qdisc holds frames it sleeps on its socket buffer instead of spinning;
//   - our capture (l2-tool.ts `answers`, a packet socket on fl0) counts what node1 sends back.
// trafgen runs with --no-sock-mem and --notouch-irq: it must not tune the host's sysctls or IRQs.
// Prints one figure per line: offered and reached rates, valid answered %, invalid answered, drops by
// reason, CPU per frame (ours, the sender's, the capture's, the whole machine's), date and load.
// Env: L2_FLOOD_RATES (frames/s, comma-separated, default 100000), L2_FLOOD_SECONDS (default 5),
// L2_FLOOD_NICE (announcer niceness per run, comma-separated, default "0,-10").
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
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
const NICES = (process.env.L2_FLOOD_NICE ?? '0,-10').split(',').map(Number);
/** The capture's kernel ring: 196,608 answers (256 bytes each), a whole run's even if the capture gets no CPU. */
const CAPTURE_RING_BYTES = 48 * 1024 * 1024;
/** Frames sent before each measured run (a whole number of mix rounds: 33 classes). */
const WARM_UP_FRAMES = 33 * 1000;

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
  cpuSeconds: number;
}

/** The announcer's counters from its `stopped` log line. */
interface Stopped {
  counters?: Record<string, { responsesSent: number }>;
  receiveDrops?: number;
  invalidFrames?: number;
  sendFailures?: number;
  dropped?: Record<string, number>;
}

/** Busy and total CPU seconds of the whole machine (every CPU, softirq included) from /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: (user + nice + system + irq + softirq + steal) / 100, total: (user + nice + system + idle + iowait + irq + softirq + steal) / 100 };
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
    // The requester's own stack stays out of the answers' path: on a network the announcer's answer
    // leaves through a NIC, while here its delivery (ARP and IPv6 input in the client namespace) would
    // run inside the announcer's send() and be counted as its CPU. The capture socket still sees all.
    await lab.mustExec('client', 'ip', ['link', 'set', 'fl0', 'arp', 'off']);
    await lab.mustExec('client', 'sysctl', ['-qw', 'net.ipv6.conf.fl0.disable_ipv6=1']);
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

    // The tbf qdisc paces the flood: rate in bits for the mix's mean frame length, a bucket of 1 ms of
    // frames (at least the longest frame), and a queue long enough that trafgen's socket buffer, not
    // the queue, is what fills: the sender then waits, and no frame is dropped before the wire.
    const meanBytes = mix.reduce((n, c) => n + c.frame.length, 0) / mix.length;
    const longest = Math.max(...mix.map((c) => c.frame.length));
    print('l2flood.frame.mean_bytes', meanBytes);
    console.log(`# ${new Date().toISOString()} ${cpus().length} CPUs; uptime: ${(await lab.mustExec('client', 'uptime', [])).trim()}`);

    for (const nice of NICES)
    for (const rate of RATES) {
      const k = `l2flood.${rate / 1000}k${nice === 0 ? '' : `.nice${nice}`}`;
      const bits = Math.round(rate * meanBytes * 8);
      const burst = Math.max(longest, Math.ceil((rate * meanBytes) / 1000));
      await lab.mustExec('client', 'tc', ['qdisc', 'replace', 'dev', 'fl0', 'root', 'tbf', 'rate', `${bits}bit`, 'burst', String(burst), 'limit', String(4 * 1024 * 1024)]);
      const responder = await startResponder(lab, 'node1', ['--interface', 'fl1', '--ip', VIP4, '--ip', VIP6, '--ip', VIP4_B, '--ip', VIP6_B, '--garp-count', '1']);
      if (nice !== 0) await lab.mustExec('node1', 'renice', ['-n', String(nice), '-p', String(responder.pid)]);
      // Past the one gratuitous round (and IPv6 group joins) before anything is counted, and past
      // the JIT: a warm-up of WARM_UP_FRAMES at the same rate (its frames are in the announcer's
      // counters, printed as drops, but not in the measured rates, answers or CPU).
      await new Promise((r) => setTimeout(r, 1500));
      const warm = await lab.exec('client', 'trafgen', ['--dev', 'fl0', '--conf', cfg, '--qdisc-path', '-t', '0ns', '--num', String(WARM_UP_FRAMES), '--cpus', '1', '--no-sock-mem', '--notouch-irq'], { timeoutMs: 60_000 });
      if (warm.code !== 0) throw new Error(`trafgen warm-up failed (${warm.code}): ${warm.stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 300));
      const stat = () => readFileSync(`/proc/${responder.pid}/stat`, 'utf8');
      const total = Math.floor((rate * SECONDS) / mix.length) * mix.length; // whole rounds of the mix
      const ready = join(tmp, `ready-${rate}-${nice}`);
      const stop = join(tmp, `stop-${rate}-${nice}`);
      const capture = runTool<Answers>(lab, 'client', 'answers', { iface: 'fl0', 'owner-mac': ownerMac, vip4: VIP4, vip6: VIP6, 'ready-file': ready, 'stop-file': stop, 'ring-bytes': CAPTURE_RING_BYTES }, 180_000);
      for (let i = 0; i < 600 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 50));
      if (!existsSync(ready)) throw new Error('the capture did not start');
      const rx0 = await linkCounter(lab, 'node1', 'fl1', 'rx_packets');
      const cpu0 = cpuSeconds(responder.pid, stat());
      const m0 = machineCpu();
      const t0 = performance.now();
      // `times` prints the shell's, then its children's (trafgen's) user and system time.
      const out = await lab.exec(
        'client',
        'bash',
        ['-c', 'trafgen "$@" && times', 'trafgen', '--dev', 'fl0', '--conf', cfg, '--qdisc-path', '-t', '0ns', '--num', String(total), '--cpus', '1', '--no-sock-mem', '--notouch-irq'],
        { timeoutMs: (SECONDS * 40 + 60) * 1000 }, // a loaded machine sends far slower than asked
      );
      await new Promise((r) => setTimeout(r, 500)); // late answers
      const cpu1 = cpuSeconds(responder.pid, stat());
      const m1 = machineCpu();
      const wall = (performance.now() - t0) / 1000 - 0.5;
      const rx1 = await linkCounter(lab, 'node1', 'fl1', 'rx_packets');
      const rxDropped = (await linkCounter(lab, 'node1', 'fl1', 'rx_dropped')) + (await linkCounter(lab, 'client', 'fl0', 'tx_dropped'));
      const qdisc = await lab.mustExec('client', 'tc', ['-s', 'qdisc', 'show', 'dev', 'fl0']);
      writeFileSync(stop, 'stop\n');
      const a = await capture;
      const code = await responder.stop();
      if (code !== 0) throw new Error(`responder exited ${code} on SIGTERM`);
      const st = (responder.logs.find((l) => l.msg === 'stopped') ?? {}) as Stopped;
      // "      4 sec, 834742 usec on CPU0 (300000 packets)"
      const m = /(\d+) sec, (\d+) usec on CPU\d+ \((\d+) packets\)/.exec(out.stdout + out.stderr);
      if (out.code !== 0 || !m) throw new Error(`trafgen failed (${out.code}): ${out.stderr.trim()} ${out.stdout.trim()}`);
      const times = [...out.stdout.matchAll(/(\d+)m([\d.]+)s/g)].map((x) => Number(x[1]) * 60 + Number(x[2]));
      const senderCpu = times.length >= 4 ? times[2] + times[3] : NaN;
      const sent = Number(m[3]);
      const sendSeconds = Number(m[1]) + Number(m[2]) / 1e6;
      const rounds = sent / mix.length;
      const validSent = rounds * valid.length;
      const invalidAnswered = Object.values(a.others).reduce((x, y) => x + y, 0);
      const received = rx1 - rx0;
      const ours = cpu1 - cpu0;
      const qdiscDrops = Number(/dropped (\d+)/.exec(qdisc)?.[1] ?? NaN);
      print(`${k}.offered.per_second`, rate);
      print(`${k}.sent.frames`, sent);
      print(`${k}.sent.per_second`, Math.round(sent / sendSeconds));
      print(`${k}.received_by_node.frames`, received);
      print(`${k}.valid.sent`, validSent);
      print(`${k}.valid.answered`, a.valid4 + a.valid6);
      print(`${k}.valid.answered.percent`, (100 * (a.valid4 + a.valid6)) / validSent);
      print(`${k}.invalid.sent`, rounds * invalid.length);
      print(`${k}.invalid.answered`, invalidAnswered);
      // The announcer's own count (warm-up included), against the capture's: they differ only by
      // what the capture lost (drops.capture_ring_full) and the warm-up's answers.
      const sentBy = (ip: string) => st.counters?.[ip]?.responsesSent ?? 0;
      print(`${k}.announcer.answers_sent.valid_incl_warm_up`, sentBy(VIP4) + sentBy(VIP6));
      print(`${k}.announcer.answers_sent.invalid_incl_warm_up`, sentBy(VIP4_B) + sentBy(VIP6_B));
      if (invalidAnswered > 0) console.log(`# invalid answered, by address: ${JSON.stringify(a.others)}`);
      // Where frames were lost, by reason: before the wire (qdisc, veth), in the announcer's kernel
      // ring (full), and the announcer's own RFC drops (expected: the invalid classes). The announcer's
      // counts include the warm-up's frames.
      print(`${k}.announcer.frames_incl_warm_up`, sent + WARM_UP_FRAMES);
      print(`${k}.drops.qdisc`, qdiscDrops);
      print(`${k}.drops.veth`, rxDropped);
      print(`${k}.drops.announcer_ring_full`, st.receiveDrops ?? -1);
      for (const [reason, n] of Object.entries(st.dropped ?? {})) print(`${k}.drops.announcer_rfc.${reason}`, n);
      print(`${k}.drops.announcer_malformed`, st.invalidFrames ?? -1);
      print(`${k}.drops.announcer_send_failures`, st.sendFailures ?? -1);
      print(`${k}.drops.capture_ring_full`, a.captureKernelDrops);
      print(`${k}.cpu.announcer.seconds`, ours);
      print(`${k}.cpu.announcer.cores`, ours / sendSeconds);
      print(`${k}.cpu.announcer.us_per_frame`, (ours * 1e6) / Math.max(1, received));
      print(`${k}.cpu.sender.seconds`, senderCpu);
      print(`${k}.cpu.sender.us_per_frame`, (senderCpu * 1e6) / Math.max(1, sent));
      print(`${k}.cpu.capture.seconds`, a.cpuSeconds);
      // Everything the machine did meanwhile (all processes, softirq): only meaningful when quiet.
      print(`${k}.cpu.machine.busy_cores`, (m1.busy - m0.busy) / wall);
      print(`${k}.cpu.machine.us_per_frame`, ((m1.busy - m0.busy) * 1e6) / Math.max(1, received));
      print(`${k}.loadavg.1min`, loadavg()[0]);
    }
  } finally {
    await lab.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
