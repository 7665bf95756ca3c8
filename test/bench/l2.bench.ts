// Layer2 responder benchmark, in a lab (client + node1 on one bridge):
//  - reply latency as the client sees it, for our responder (`herald l2 announce` on node1, VIPs on
//    no interface) and, in the same run, for node1's kernel answering for its own address (the
//    reference), with the ratio: arping (one `arping -c 1` per sample, its printed RTT) and our
//    client tool (request/answer round trips timed in-process, IPv4 ARP and IPv6 NS);
//  - a bounded ARP request flood from the client tool (paced, fixed count and time) for one VIP
//    with every 50th request for a second VIP: replies per second, the responder's CPU, and the
//    answers lost for the second VIP; once at normal priority and once with the responder reniced
//    to -10 (on a shared 2-core machine that is what gives it about one core).
// Prints one figure per line: name (unit in the name) and value; also the 1-minute load average,
// since every figure here depends on how busy the (shared, 2-core) machine is.
import { readFileSync } from 'node:fs';
import { Lab, labUnavailableReason } from '../lab/netns.js';
import { addVipRoutes, cpuSeconds, l2LabMissing, runTool, startResponder, VIP4, VIP4_B, VIP6 } from '../lab/l2-lab.js';

const SAMPLES_ARPING = Number(process.env.L2_BENCH_ARPING ?? 60);
const SAMPLES_TOOL = Number(process.env.L2_BENCH_RTT ?? 400);
const FLOOD_RATE = Number(process.env.L2_BENCH_FLOOD_RATE ?? 30000);
const FLOOD_SECONDS = Number(process.env.L2_BENCH_FLOOD_SECONDS ?? 4);

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function print(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(value < 10 ? 3 : 1)}`);
}

/** One `arping -c 1` per sample, alternating the two targets so load changes hit both alike. */
async function arpingPairs(lab: Lab, ours: string, kernel: string, n: number): Promise<[number[], number[]]> {
  const out: [number[], number[]] = [[], []];
  for (let i = 0; i < n; i++) {
    for (const [k, ip] of [ours, kernel].entries()) {
      const r = await lab.exec('client', 'arping', ['-c', '1', '-w', '1', '-I', 'eth0', ip]);
      const m = /reply from \S+ \[[0-9A-Fa-f:]+\]\s+([\d.]+)ms/.exec(r.stdout);
      if (m) out[k].push(Number(m[1]));
    }
  }
  return out;
}

interface Rtt {
  rttsMs: number[];
  lost: number;
}

async function main(): Promise<void> {
  const reason = labUnavailableReason() ?? l2LabMissing();
  if (reason !== null) {
    if (process.env.CI === 'true') throw new Error(`l2 bench cannot run: ${reason}`);
    console.log(`# l2 bench skipped: ${reason}`);
    return;
  }
  const lab = await Lab.create({ hosts: ['client', 'node1'], prefix: 'l2b' });
  try {
    await addVipRoutes(lab, 'client');
    const client = lab.host('client');
    const node1 = lab.host('node1');
    const responder = await startResponder(lab, 'node1', ['--ip', VIP4, '--ip', VIP4_B, '--ip', VIP6, '--garp-count', '1']);
    const tool = (cmd: string, target: string, src: string, count: number) =>
      runTool<Rtt>(lab, 'client', cmd, { iface: 'eth0', 'src-ip': src, 'src-mac': client.mac, target, count, 'interval-ms': 2 });

    // Warm-up (JIT of the responder's hot path), not measured.
    await tool('rtt4', VIP4, client.ipv4, 200);
    await tool('rtt6', VIP6, client.ipv6, 200);

    // Latency, interleaved in rounds so load changes (the machine is shared) hit both sides alike.
    const lat: Record<string, number[]> = { arpingOurs: [], arpingKernel: [], rtt4Ours: [], rtt4Kernel: [], rtt6Ours: [], rtt6Kernel: [] };
    let lost = 0;
    const ROUNDS = 4;
    for (let round = 0; round < ROUNDS; round++) {
      const [o, k] = await arpingPairs(lab, VIP4, node1.ipv4, SAMPLES_ARPING / ROUNDS);
      lat.arpingOurs.push(...o);
      lat.arpingKernel.push(...k);
      for (const [key, cmd, target, src] of [
        ['rtt4Ours', 'rtt4', VIP4, client.ipv4],
        ['rtt4Kernel', 'rtt4', node1.ipv4, client.ipv4],
        ['rtt6Ours', 'rtt6', VIP6, client.ipv6],
        ['rtt6Kernel', 'rtt6', node1.ipv6, client.ipv6],
      ] as const) {
        const r = await tool(cmd, target, src, SAMPLES_TOOL / ROUNDS);
        lat[key].push(...r.rttsMs);
        lost += r.lost;
      }
    }
    const pairs: Array<[string, string, string]> = [
      ['l2.arping.v4', 'arpingOurs', 'arpingKernel'],
      ['l2.rtt.v4', 'rtt4Ours', 'rtt4Kernel'],
      ['l2.rtt.v6', 'rtt6Ours', 'rtt6Kernel'],
    ];
    for (const [name, ours, kernel] of pairs) {
      const p50o = quantile(lat[ours], 0.5);
      const p50k = quantile(lat[kernel], 0.5);
      print(`${name}.herald.p50.ms`, p50o);
      print(`${name}.herald.p99.ms`, quantile(lat[ours], 0.99));
      print(`${name}.kernel.p50.ms`, p50k);
      print(`${name}.kernel.p99.ms`, quantile(lat[kernel], 0.99));
      print(`${name}.p50.ratio`, p50o / p50k);
      print(`${name}.samples`, Math.min(lat[ours].length, lat[kernel].length));
    }
    print('l2.rtt.lost.count', lost);
    print('l2.loadavg.1min', Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));

    // Flood: a short warm-up flood, then the measured one.
    const flood = (rate: number, seconds: number) =>
      runTool<{ sent: number; sentOther: number; replies: number; repliesOther: number; sendSeconds: number }>(
        lab,
        'client',
        'flood',
        { iface: 'eth0', 'src-ip': client.ipv4, 'src-mac': client.mac, target: VIP4, other: VIP4_B, rate, seconds, 'other-every': 50 },
        (seconds + 30) * 1000,
      );
    await flood(10000, 1);
    const stat = () => readFileSync(`/proc/${responder.pid}/stat`, 'utf8');
    // Twice: at normal priority (on a shared machine the responder gets only its fair share of the
    // cores), then reniced to -10 so that it gets about a core, which is what the target assumes.
    for (const [label, nice] of [['flood', 0], ['flood.nice-10', -10]] as const) {
      if (nice !== 0) await lab.mustExec('node1', 'renice', ['-n', String(nice), '-p', String(responder.pid)]);
      const cpu0 = cpuSeconds(responder.pid, stat());
      const f = await flood(FLOOD_RATE, FLOOD_SECONDS);
      const cpu1 = cpuSeconds(responder.pid, stat());
      const offered = (f.sent + f.sentOther) / f.sendSeconds;
      const answered = (f.replies + f.repliesOther) / f.sendSeconds;
      print(`l2.${label}.offered.per_second`, Math.round(offered));
      print(`l2.${label}.replies.per_second`, Math.round(answered));
      print(`l2.${label}.requests.count`, f.sent + f.sentOther);
      print(`l2.${label}.unanswered.count`, f.sent + f.sentOther - f.replies - f.repliesOther);
      print(`l2.${label}.other_vip.requests.count`, f.sentOther);
      print(`l2.${label}.other_vip.lost.count`, f.sentOther - f.repliesOther);
      print(`l2.${label}.responder.cpu.cores`, (cpu1 - cpu0) / f.sendSeconds);
      print(`l2.${label}.responder.replies_per_cpu_second`, Math.round((f.replies + f.repliesOther) / Math.max(cpu1 - cpu0, 0.01)));
      print(`l2.${label}.loadavg.1min`, Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
    }

    expectStop(await responder.stop());
    const stopped = responder.logs.find((l) => l.msg === 'stopped') as { receiveDrops?: number } | undefined;
    print('l2.flood.responder.kernel_drops.total.count', stopped?.receiveDrops ?? -1);
  } finally {
    await lab.destroy();
  }
}

function expectStop(code: number | null): void {
  if (code !== 0) throw new Error(`responder exited ${code} on SIGTERM`);
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
