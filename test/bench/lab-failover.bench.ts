// Layer2 failover on the full lab (issue 7 §4): one layer2 Service with pretend pods on all three
// nodes; the client has a neighbour entry for its VIP (it curls it). Then, ROUNDS times each:
//   - SIGKILL of the owner's speaker (crash: the others wait out its Lease, default timings
//     --lease-renew 1s --lease-duration 3s), and
//   - SIGTERM (graceful: the speaker withdraws, deletes its Lease, the next owner takes over at once).
// Timed from the moment the signal is sent (just before kill(2)) to:
//   .seconds       the client's kernel switching its neighbour entry for the VIP to the new owner's
//                  MAC, as `ip -ts monitor neigh` in the client namespace reports it (kernel
//                  timestamp of the netlink notification: no polling). The entry moves on the new
//                  owner's gratuitous ARP (Linux updates an *existing* entry from a gratuitous ARP
//                  even with arp_accept=0), so this is when the client's next packet goes there;
//   .curl.seconds  the first `curl` answered by the new owner's backend; curl is started as soon as
//                  the entry moved, so this adds one curl (process start + TCP + HTTP) on top.
// Why not arping/curl polling alone: the old owner's node stays up (only its speaker dies) and keeps
// serving the VIP, so curl keeps answering from it until the entry moves; and a client entry that
// is not refreshed by a gratuitous ARP only changes through Linux's neighbour timers (STALE -> DELAY
// 5 s -> unicast probes), which would add seconds that are not the speaker's.
// After each round the speaker is restarted; the VIP stays with the interim owner (no flap back:
// speaker/layer2-owner.ts), checked, and the next round kills whoever owns it then.
//
// Then a second lab whose speakers run the liveness protocol (protocols/liveness, as the chart
// installs them: Lease renew 10 s, duration 30 s, so only liveness explains a takeover within
// seconds), ROUNDS each of the failure modes of issue 13, timed the same way (client's entry moving):
//   kill    SIGKILL of the owner's speaker
//   freeze  SIGSTOP of every process in the owner node's namespace (the whole node hangs)
//   cut     the owner node's link cut: the bridge's port for its veth down (its eth0 loses carrier)
// and after each, the node back (speaker restarted, SIGCONT, port up), while the client keeps
// probing with curl: `back.rejoin` is from then until both other speakers log the end of their
// verdict on it (its new life seen: it is a candidate again), `back.moves` the client's entry
// moving back to it and `back.failed_probes` the curl probes not answered by the interim owner,
// from the node back until 2 s after the rejoin, over all rounds (no flap back: both 0).
// LAB_FAILOVER_LABS=lease,liveness (default both) picks the labs.
import { NODES, type FullLab, type NodeName } from '../lab/full-lab.js';
import { addVipToNodes, placePods, serviceYaml, waitForServiceIps } from '../lab/full-kube.js';
import { curlFromClient, livenessSpeakerArgs, startSpeaker, waitForBgpSessions, type HeraldLab } from '../lab/full-setup.js';
import { captureIn, daemonLogs, figure, loadComment, median, monitorIn, namespacePids, setBridgePort, withBenchLab } from '../lab/full-bench.js';
import { monitorTime, type LineWatch } from '../lab/l2-lab.js';
import { claimsVip, frameTimes, logEventTimes } from '../lab/partition.js';

const ROUNDS = Number(process.env.LAB_FAILOVER_ROUNDS ?? 5);
const LABS = (process.env.LAB_FAILOVER_LABS ?? 'lease,liveness').split(',');
const NS = 'bench';
const NAME = 'lab-failover';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, lab: FullLab, probe: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`${NAME}: timed out after ${timeoutMs} ms waiting for ${what}\n${daemonLogs(lab)}`);
    await sleep(100);
  }
}

/** The client's current neighbour entry for `vip`: the node it points at (by MAC) and its state. */
async function clientEntry(lab: FullLab, vip: string): Promise<{ node: NodeName | null; line: string }> {
  const line = (await lab.mustExec('client', 'ip', ['-4', 'neigh', 'show', vip, 'dev', 'eth0'])).trim();
  const mac = /lladdr ([0-9a-f:]{17})/.exec(line)?.[1];
  return { node: NODES.find((n) => lab.host(n).mac === mac) ?? null, line };
}

/** A monitor line (after index `from`) saying the client's entry for `vip` now holds a MAC other than `old`'s. */
function movedAway(lab: FullLab, vip: string, old: NodeName): (text: string) => boolean {
  const re = new RegExp(`^\\[[^\\]]+\\] ${vip.replace(/\./g, '\\.')} dev eth0 lladdr ([0-9a-f:]{17})`);
  return (text) => {
    const mac = re.exec(text)?.[1];
    return mac !== undefined && mac !== lab.host(old).mac;
  };
}

interface Round {
  owner: NodeName;
  next: NodeName;
  neighMs: number;
  curlMs: number;
  /** The client entry's state right after the move (what the gratuitous ARP made of it). */
  state: string;
}

/** Settled: the client's entry points at the node whose backend answers (the owner). */
function settledOwner(lab: FullLab, vip: string): Promise<NodeName> {
  return until('a settled owner', lab, async () => {
    const answer = (await curlFromClient(lab, vip, 1)) as NodeName | null;
    const entry = await clientEntry(lab, vip);
    return answer !== null && entry.node === answer ? answer : null;
  });
}

/**
 * After an event at `t0` on `owner`: the client's entry moving off it (the monitor's kernel
 * timestamp, ms) and then the first curl answered by another node (when, and which).
 */
async function failover(lab: FullLab, vip: string, neigh: LineWatch, from: number, owner: NodeName, t0: number, what: string): Promise<{ neighAt: number; curlAt: number; next: NodeName; state: string }> {
  const pred = movedAway(lab, vip, owner);
  // The monitor's own kernel timestamp is the figure, so polling the collected lines costs nothing.
  let moved: { at: number; text: string } | undefined;
  while (!(moved = neigh.lines.slice(from).find((l) => pred(l.text))) && Date.now() - t0 < 30_000) await sleep(10);
  if (!moved) throw new Error(`${NAME}: ${what}: the client's entry for ${vip} did not move off ${owner} in 30 s\n${(await clientEntry(lab, vip)).line}\n${daemonLogs(lab)}`);
  let next: NodeName | null = null;
  let curlAt = 0;
  while (next === null || next === owner) {
    next = (await curlFromClient(lab, vip, 1)) as NodeName | null;
    curlAt = Date.now();
    if (curlAt - t0 > 30_000) throw new Error(`${NAME}: ${what}: no curl answer from a new owner in 30 s (entry: ${moved.text})`);
  }
  // The entry must name the node that answered.
  const entry = await clientEntry(lab, vip);
  if (entry.node !== next) throw new Error(`${NAME}: ${what}: curl answered from ${next} but the entry says ${entry.line}`);
  return { neighAt: monitorTime(moved.text), curlAt, next, state: moved.text.trim().split(/\s+/).pop() ?? '' };
}

async function round(h: HeraldLab, vip: string, neigh: LineWatch, sig: 'SIGKILL' | 'SIGTERM'): Promise<Round> {
  const { lab } = h;
  const owner = await settledOwner(lab, vip);
  const from = neigh.lines.length;
  const t0 = Date.now();
  lab.signal(`speaker-${owner}`, sig);
  const { neighAt, curlAt, next, state } = await failover(lab, vip, neigh, from, owner, t0, sig);
  // Back to three speakers: the VIP stays with the interim owner (no flap back); the next round kills whoever owns it.
  if (sig === 'SIGTERM') await until(`speaker-${owner} to exit`, lab, async () => (lab.alive(`speaker-${owner}`) ? null : true), 15_000);
  startSpeaker(h, owner);
  await waitForBgpSessions(lab);
  // A few Lease renewals of the returning speaker before the next kill.
  await sleep(2000);
  const after = await clientEntry(lab, vip);
  if (after.node !== next) throw new Error(`${NAME}: ${sig}: the VIP moved again after ${owner} came back: ${after.line}`);
  return { owner, next, neighMs: neighAt - t0, curlMs: curlAt - t0, state };
}

type Failure = 'kill' | 'freeze' | 'cut';

interface LivenessRound {
  owner: NodeName;
  next: NodeName;
  neighMs: number;
  /** Node back -> both other speakers ended their verdict on it (ms). */
  rejoinMs: number;
  /** The client's entry moving back to the old owner after it came back. */
  moves: number;
  /** ARP frames from the old owner claiming the VIP after it came back. */
  claims: number;
  /** curl probes after it came back not answered by the interim owner. */
  failedProbes: number;
  probes: number;
}

/** Epoch ms of the first `livenessVerdictEnded` for `node` at or after `since` in `daemon`'s log, or undefined. */
function verdictEnded(lab: FullLab, daemon: string, node: NodeName, since: number): number | undefined {
  return logEventTimes(lab.logPath(daemon), 'livenessVerdictEnded', node).find((t) => t >= since);
}

async function livenessRound(h: HeraldLab, vip: string, neigh: LineWatch, arp: LineWatch, failure: Failure): Promise<LivenessRound> {
  const { lab } = h;
  const owner = await settledOwner(lab, vip);
  const from = neigh.lines.length;
  let t0: number;
  let back: () => Promise<void>;
  if (failure === 'kill') {
    t0 = Date.now();
    lab.signal(`speaker-${owner}`, 'SIGKILL');
    back = async () => {
      while (lab.alive(`speaker-${owner}`)) await sleep(20);
      startSpeaker(h, owner);
    };
  } else if (failure === 'freeze') {
    const pids = namespacePids(lab, owner);
    t0 = Date.now();
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    back = async () => {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    };
  } else {
    t0 = Date.now();
    setBridgePort(lab, owner, false);
    back = async () => setBridgePort(lab, owner, true);
  }
  let failed = true;
  try {
    const { neighAt, next } = await failover(lab, vip, neigh, from, owner, t0, failure);
    failed = false;
    const backAt = Date.now();
    await back();
    // The client probes all along while the node comes back and rejoins.
    let probing = true;
    const answers: string[] = [];
    const probe = (async () => {
      while (probing) answers.push((await curlFromClient(lab, vip, 2)) ?? 'none');
    })();
    const others = NODES.filter((n) => n !== owner);
    const rejoinAt = await until(`both others ending their verdict on ${owner}`, lab, async () => {
      const ts = others.map((n) => verdictEnded(lab, `speaker-${n}`, owner, backAt));
      return ts.every((t) => t !== undefined) ? Math.max(...(ts as number[])) : null;
    });
    await sleep(2000);
    probing = false;
    await probe;
    const ownerMac = lab.host(owner).mac.toLowerCase();
    const moves = neigh.lines.filter((l) => l.at >= backAt && l.text.includes(`${vip} `) && l.text.toLowerCase().includes(ownerMac)).length;
    const claims = frameTimes(arp.lines, claimsVip(vip, ownerMac)).filter((t) => t >= backAt).length;
    return { owner, next, neighMs: neighAt - t0, rejoinMs: rejoinAt - backAt, moves, claims, failedProbes: answers.filter((a) => a !== next).length, probes: answers.length };
  } finally {
    if (failed) await back().catch(() => undefined);
  }
}

/** A layer2 Service `name` with pretend pods on every node; its VIP. */
async function setupService(h: HeraldLab, name = 'failover'): Promise<string> {
  const { lab } = h;
  await waitForBgpSessions(lab);
  await lab.kubectl(['create', 'namespace', NS]).catch(() => undefined); // there already
  await lab.kubectl(['apply', '-f', '-'], serviceYaml(name, NS, 'lan'));
  await placePods(lab, NS, name, NODES);
  const [vip] = await waitForServiceIps(lab, NS, name);
  await addVipToNodes(lab, vip);
  return vip;
}

if (LABS.includes('lease')) await withBenchLab(NAME, async (h) => {
  const { lab } = h;
  const vip = await setupService(h);
  const neigh = await monitorIn(lab, 'client', 'neigh');
  const arpAccept = (await lab.mustExec('client', 'sysctl', ['-n', 'net.ipv4.conf.eth0.arp_accept'])).trim();
  process.stdout.write(`# client net.ipv4.conf.eth0.arp_accept=${arpAccept} (gratuitous ARPs update existing entries, create none)\n`);
  loadComment(NAME, 'start');
  for (const sig of ['SIGKILL', 'SIGTERM'] as const) {
    const rounds: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await round(h, vip, neigh, sig));
    const key = sig === 'SIGKILL' ? 'lab.l2.sigkill_failover' : 'lab.l2.sigterm_handover';
    process.stdout.write(`# ${key}: ${rounds.map((r) => `${r.owner}->${r.next} ${(r.neighMs / 1000).toFixed(3)}/${(r.curlMs / 1000).toFixed(3)} s ${r.state}`).join(', ')} (entry/curl, entry state after the move)\n`);
    const neighS = rounds.map((r) => r.neighMs / 1000);
    const curlS = rounds.map((r) => r.curlMs / 1000);
    figure(`${key}.median.seconds`, median(neighS));
    figure(`${key}.max.seconds`, Math.max(...neighS));
    figure(`${key}.curl.median.seconds`, median(curlS));
    figure(`${key}.curl.max.seconds`, Math.max(...curlS));
  }
  loadComment(NAME, 'end');
  await neigh.stop();
});

if (LABS.includes('liveness')) {
  await withBenchLab(
    `${NAME}-liveness`,
    async (h) => {
      const { lab } = h;
      await waitForBgpSessions(lab);
      const neigh = await monitorIn(lab, 'client', 'neigh');
      const arp = await captureIn(lab, 'client', 'arp');
      loadComment(`${NAME}-liveness`, 'start');
      for (const failure of ['kill', 'freeze', 'cut'] as const) {
        const rounds: LivenessRound[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          // A Service per round, created after every speaker's current life began: the no-flap-back
          // rule keeps it with the speakers older than it (speaker/layer2-owner.ts; a Service older
          // than every speaker has no such tier: see the README).
          const name = `lv-${failure}-${i}`;
          const vip = await setupService(h, name);
          rounds.push(await livenessRound(h, vip, neigh, arp, failure));
          await lab.kubectl(['-n', NS, 'delete', 'service', name]);
          await waitForBgpSessions(lab);
          // A few liveness periods with every speaker back before the next event.
          await sleep(2000);
        }
        const key = `lab.l2.liveness.${failure}`;
        process.stdout.write(
          `# ${key}: ${rounds.map((r) => `${r.owner}->${r.next} ${(r.neighMs / 1000).toFixed(3)} s, back: rejoin ${(r.rejoinMs / 1000).toFixed(3)} s, ${r.moves} moves, ${r.claims} claims, ${r.failedProbes}/${r.probes} probes failed`).join('; ')}\n`,
        );
        const neighS = rounds.map((r) => r.neighMs / 1000);
        const rejoinS = rounds.map((r) => r.rejoinMs / 1000);
        figure(`${key}.median.seconds`, median(neighS));
        figure(`${key}.max.seconds`, Math.max(...neighS));
        figure(`${key}.back.rejoin.median.seconds`, median(rejoinS));
        figure(`${key}.back.rejoin.max.seconds`, Math.max(...rejoinS));
        figure(`${key}.back.moves`, rounds.reduce((a, r) => a + r.moves, 0));
        figure(`${key}.back.claims`, rounds.reduce((a, r) => a + r.claims, 0));
        figure(`${key}.back.failed_probes`, rounds.reduce((a, r) => a + r.failedProbes, 0));
        loadComment(`${NAME}-liveness`, `after ${failure}`);
      }
      await arp.stop();
      await neigh.stop();
    },
    { speakerArgs: (dir) => livenessSpeakerArgs(dir) },
  );
}
