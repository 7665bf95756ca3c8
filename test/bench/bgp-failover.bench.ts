// BGP failure modes on the full lab (issue 13, item 4), with BIRD and with FRR, with and without BFD
// in the same run (bfd-lab.ts: node1 runs BFD with the router, 300 ms x 3; node3's BFD never comes
// up, so it runs on the BGP hold timer alone, hold-time 9 s to keep the run short: MetalLB's
// default is 90 s). ROUNDS (default 5) of each, median and max:
//   kill    SIGKILL of the node's speaker (its kernel closes the TCP session: fast either way)
//   freeze  SIGSTOP of every process in the node's namespace (the node hangs: no FIN, no packets)
//   cut     the node's link down (its eth0, inside its namespace)
//   back    the link up again, after the path was gone: until the path is back
// Each timed from the event to the router's kernel route for the VIP losing (or regaining) the
// node's next hop, polled in the router namespace (`ip -j route show <vip>`, about every 20 ms plus
// one `ip` run under the machine's load). A wait is capped at CAP_S: a capped figure prints as >= cap.
import { bfdSettled, HOLD_S, logEvents, setupBfdLab } from '../lab/bfd-lab.js';
import { NODES, type FullLab, type NodeName } from '../lab/full-lab.js';
import { startSpeaker, type HeraldLab } from '../lab/full-setup.js';
import { figure, loadComment, median, namespacePids as nsPids, withBenchLab } from '../lab/full-bench.js';

const ROUNDS = Number(process.env.BGP_FAILOVER_ROUNDS ?? 5);
const ROUTERS = (process.env.BGP_FAILOVER_ROUTERS ?? 'bird,frr').split(',') as Array<'bird' | 'frr'>;
const CAP_S = 30;
const NAME = 'bgp-failover';
const NS = 'bench-bfd';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The next hops of `vip` in the router's kernel table. */
async function kernelHops(lab: FullLab, vip: string): Promise<string[]> {
  const rows = JSON.parse((await lab.mustExec('router', 'ip', ['-4', '-j', 'route', 'show', vip])) || '[]') as Array<{ gateway?: string; nexthops?: Array<{ gateway: string }> }>;
  return rows.flatMap((r) => (r.nexthops ? r.nexthops.map((n) => n.gateway) : r.gateway ? [r.gateway] : []));
}

/** Seconds from t0 until the kernel route has (or has not) the node's next hop; CAP_S as Infinity. */
async function until(lab: FullLab, vip: string, node: NodeName, present: boolean, t0: number): Promise<number> {
  const hop = lab.host(node).ipv4;
  for (;;) {
    if ((await kernelHops(lab, vip)).includes(hop) === present) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > CAP_S * 1000) return Infinity;
    await sleep(20);
  }
}

/** Every node's next hop in the kernel route (the lab settled), or throws after 120 s. */
async function settled(lab: FullLab, vip: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await kernelHops(lab, vip)).length < NODES.length) {
    if (Date.now() > deadline) throw new Error(`${NAME}: ${vip} not via every node after 120 s: ${(await kernelHops(lab, vip)).join(', ')}`);
    await sleep(200);
  }
}

type Mode = 'kill' | 'freeze' | 'cut' | 'back';

async function rounds(h: HeraldLab, vip: string, node: NodeName, bfd: boolean): Promise<Record<Mode, number[]>> {
  const { lab } = h;
  const r: Record<Mode, number[]> = { kill: [], freeze: [], cut: [], back: [] };
  const present = async (): Promise<boolean> => (await kernelHops(lab, vip)).length === NODES.length;
  /**
   * Settled again after an event: every path back, and with BFD its session Up again (logged after
   * `mark`) before a path that stays (bfdSettled: after a restart quicker than the router's Detection
   * Time, the router drops the new BGP session once more; a freeze timed from a path already gone
   * measured nothing and left the bench waiting for a BFD change that never came).
   */
  const readyAgain = async (mark?: number): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      if (bfd && mark !== undefined) await bfdSettled(lab, node, mark, present, 60_000);
      else await settled(lab, vip);
      await sleep(1000);
      // Each event is timed from a path that is there: one already gone would measure nothing.
      if (await present()) return;
      if (attempt === 3) throw new Error(`${NAME}: the path via ${node} keeps going away before the next event: ${(await kernelHops(lab, vip)).join(', ')}`);
    }
  };
  const mark = (): number => logEvents(lab, node, 'bfdState').length;
  await readyAgain();
  for (let i = 0; i < ROUNDS; i++) {
    let m = mark();
    let t0 = Date.now();
    lab.signal(`speaker-${node}`, 'SIGKILL');
    r.kill.push(await until(lab, vip, node, false, t0));
    while (lab.alive(`speaker-${node}`)) await sleep(20);
    startSpeaker(h, node);
    await readyAgain(m);

    m = mark();
    const pids = nsPids(lab, node);
    t0 = Date.now();
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      r.freeze.push(await until(lab, vip, node, false, t0));
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    await readyAgain(m);

    m = mark();
    t0 = Date.now();
    await lab.mustExec(node, 'ip', ['link', 'set', 'eth0', 'down']);
    try {
      r.cut.push(await until(lab, vip, node, false, t0));
    } finally {
      t0 = Date.now();
      await lab.mustExec(node, 'ip', ['link', 'set', 'eth0', 'up']);
    }
    r.back.push(await until(lab, vip, node, true, t0));
    await readyAgain(m);
  }
  return r;
}

const fmt = (xs: number[]): string => xs.map((x) => (Number.isFinite(x) ? x.toFixed(3) : `>=${CAP_S}`)).join(' ');

for (const router of ROUTERS) {
  await withBenchLab(
    `${NAME}-${router}`,
    async (h) => {
      const vip = await setupBfdLab(h.lab, NS);
      loadComment(`${NAME}-${router}`, 'start');
      for (const [node, bfd] of [['node1', true], ['node3', false]] as const) {
        const key = `lab.bgp.${router}.${bfd ? 'bfd' : `holdtime_${HOLD_S}s`}`;
        const r = await rounds(h, vip, node, bfd);
        for (const mode of ['kill', 'freeze', 'cut', 'back'] as const) {
          process.stdout.write(`# ${key}.${mode}: ${fmt(r[mode])} s\n`);
          const finite = r[mode].filter(Number.isFinite);
          if (finite.length < r[mode].length) {
            process.stdout.write(`${key}.${mode}.max.seconds >=${CAP_S}\n`);
            continue;
          }
          figure(`${key}.${mode}.median.seconds`, median(finite));
          figure(`${key}.${mode}.max.seconds`, Math.max(...finite));
        }
      }
      loadComment(`${NAME}-${router}`, 'end');
    },
    { router },
  );
}
