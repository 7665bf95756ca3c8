// Speaker-to-speaker liveness (protocols/liveness) on the full lab: speakers run with
// --liveness-port and so the Lease timings that go with it (renew 10 s, duration 30 s): a takeover
// within seconds, which the speakers log as `livenessDead`, came from the liveness protocol. The
// metallb.io CRDs are installed (as `herald manifests` does): the layer2 holders tier (on by default)
// reads the ServiceL2Status objects, so a node that took a VIP over from a declared-dead owner keeps it.
import { mkdtempSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FullLab, NODES, type NodeName } from './full-lab.js';
import { createService, tail } from './full-kube.js';
import { rankSpeakers } from '../../speaker/layer2-owner.js';
import { arpOwner, curlFromClient, labUp, livenessSpeakerArgs, startSpeaker, waitForBgpSessions, type HeraldLab } from './full-setup.js';
import { eventually } from './eventually.js';
import { describeLab } from './netns.js';
import { captureIn, monitorIn } from './full-bench.js';
import { claimsVip, frameTimes, heal, isolate, logEventTimes } from './partition.js';

const NS = 'liveness';
const LIVENESS_PORT = 7946;

describeLab('full lab: layer2 takeover by the liveness protocol', () => {
  let h: HeraldLab;
  let lab: FullLab;
  let dir: string;
  const logs = (): string => NODES.map((n) => `--- speaker-${n}\n${tail(lab.logPath(`speaker-${n}`), 15)}`).join('\n');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-liveness-'));
    process.once('exit', () => FullLab.destroy(dir));
    h = await labUp({ prefix: `hl${randomBytes(2).toString('hex')}`, dir, log: () => undefined, speakerArgs: livenessSpeakerArgs(dir, LIVENESS_PORT), statusCrds: true });
    lab = h.lab;
    await waitForBgpSessions(lab);
    await lab.kubectl(['create', 'namespace', NS]);
  }, 300_000);

  afterAll(() => {
    FullLab.destroy(dir);
  });

  const takeover = async (name: string, sig: 'SIGKILL' | 'SIGSTOP'): Promise<{ owner: NodeName; next: string; ms: number; vip: string }> => {
    const [vip] = await createService(lab, NS, name, 'lan', { pods: NODES });
    const owner = (await eventually('an ARP answer', async () => (await arpOwner(lab, vip)).node)) as NodeName;
    // A few liveness periods and Lease renewals with every speaker up.
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = Date.now();
    lab.signal(`speaker-${owner}`, sig);
    const next = await eventually(
      'another node answering curl',
      async () => {
        const a = await curlFromClient(lab, vip, 0.3);
        return a !== null && a !== owner ? a : null;
      },
      30_000,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    });
    const ms = Date.now() - t0;
    process.stdout.write(`liveness lab: ${sig} of speaker-${owner}: ${next} answers curl for ${vip} after ${ms} ms (Lease: renew 10 s, duration 30 s: the liveness defaults)\n`);
    const others = NODES.filter((n) => n !== owner);
    expect(others.some((n) => tail(lab.logPath(`speaker-${n}`), 200).includes('"livenessDead"')), logs()).toBe(true);
    return { owner, next, ms, vip };
  };

  it('SIGKILL of the owner\'s speaker: the others declare it dead by the liveness protocol and take over', async () => {
    const { owner } = await takeover('kill', 'SIGKILL');
    startSpeaker(h, owner);
    await waitForBgpSessions(lab);
  }, 180_000);

  it('SIGSTOP of the owner\'s speaker (a frozen node): the others take over, and the resumed speaker does not take its VIP back', async () => {
    // Every ARP frame on the client's link and every change of its neighbour table, from before the freeze.
    const arp = await captureIn(lab, 'client', 'arp');
    const neigh = await monitorIn(lab, 'client', 'neigh');
    try {
      const { owner, next, vip } = await takeover('freeze', 'SIGSTOP');
      // Resumed after about a second, well inside its Lease (30 s): the case where it could still
      // believe it owns the VIP. Its ARP requests and liveness datagrams queued meanwhile are read first.
      const resumedAt = Date.now();
      lab.signal(`speaker-${owner}`, 'SIGCONT');
      // Asked by ARP (fresh requests after the resume) and by curl for a few seconds: always the new owner.
      const answers: string[] = [];
      while (Date.now() - resumedAt < 6000) {
        answers.push(`arping ${(await arpOwner(lab, vip)).node ?? 'none'}`, `curl ${(await curlFromClient(lab, vip, 1)) ?? 'none'}`);
      }
      await new Promise((r) => setTimeout(r, 300));
      const ownerMac = lab.host(owner).mac.toLowerCase();
      // An answer or gratuitous ARP for the VIP (`Reply <vip> is-at`, `who-has <vip> tell <vip>`) sent by the old owner.
      const v = vip.replace(/\./g, '\\.');
      const claim = new RegExp(`^\\S+ ${ownerMac} > .*(reply ${v} is-at|who-has ${v} tell ${v},)`);
      const ownerFrames = arp.lines.filter((l) => l.at >= resumedAt && claim.test(l.text.toLowerCase())).map((l) => l.text);
      const backToOwner = neigh.lines.filter((l) => l.at >= resumedAt && l.text.includes(`${vip} `) && l.text.toLowerCase().includes(ownerMac)).map((l) => l.text);
      const report = `answers: ${answers.join(', ')}\nARP frames from ${owner} about ${vip} after the resume:\n${ownerFrames.join('\n')}\nclient neighbour changes:\n${neigh.lines.map((l) => l.text).join('\n')}\n${logs()}\n--- speaker-${owner} (resumed)\n${tail(lab.logPath(`speaker-${owner}`), 60)}`;
      // No ARP frame from the old owner's MAC for the VIP after the resume (no answer, no gratuitous ARP) ...
      expect(ownerFrames, report).toEqual([]);
      // ... so the client's entry never went back, and every answer came from the new owner.
      expect(backToOwner, report).toEqual([]);
      expect(answers.filter((a) => !a.endsWith(` ${next}`)), report).toEqual([]);
      const self = tail(lab.logPath(`speaker-${owner}`), 400);
      process.stdout.write(`liveness lab: resumed speaker-${owner}: ${self.includes('"livenessDeclaredDead"') ? 'learnt it was declared dead, started a new life' : 'was not declared dead'}; ${answers.length} answers all from ${next}\n`);
    } finally {
      await arp.stop();
      await neigh.stop();
    }
  }, 180_000);

  it('partition: the owner cut off from its peers and the API server (still on the client link) stops answering before another node starts; healed, nothing moves back', async () => {
    const [vip] = await createService(lab, NS, 'cut', 'lan', { pods: NODES });
    await eventually('an ARP answer', async () => (await arpOwner(lab, vip)).node);
    await new Promise((r) => setTimeout(r, 3000));
    const arp = await captureIn(lab, 'client', 'arp');
    const neigh = await monitorIn(lab, 'client', 'neigh');
    // The client asks for the VIP all along, three arpings at a time (iputils' arping takes whole
    // seconds as its interval): whoever answers shows in the capture.
    let asking = true;
    const ask = async (): Promise<void> => {
      while (asking) await lab.exec('client', 'arping', ['-f', '-c', '1', '-w', '1', '-I', 'eth0', vip], 5000);
    };
    const askers = [ask(), ask(), ask()];
    const claimer = (line: string): NodeName | undefined => NODES.find((n) => claimsVip(vip, lab.host(n).mac)(line));
    const report = (extra = ''): string =>
      `${extra}\nclient ARP frames about ${vip}:\n${arp.lines.filter((l) => l.text.includes(vip) && !/Request who-has \S+ tell 192\.0\.2\.15,/.test(l.text)).map((l) => l.text).join('\n')}\n` +
      `client neighbour changes:\n${neigh.lines.map((l) => l.text).join('\n')}\n${logs()}`;
    let owner: NodeName = 'node1';
    try {
      // The owner per the capture itself: the node that answered the last 5 requests (settled: a
      // false suspicion under load may have moved the VIP since the first answer).
      owner = await eventually(
        'a settled owner answering the client\'s requests',
        async () => {
          const last = arp.lines.map((l) => claimer(l.text)).filter((n) => n !== undefined).slice(-5);
          return last.length === 5 && last.every((n) => n === last[0]) ? last[0] : null;
        },
        60_000,
      ).catch((e: unknown) => {
        throw new Error(report((e as Error).message));
      });
      const ownerMac = lab.host(owner).mac;
      const others = NODES.filter((n) => n !== owner);
      const byOther = (line: string): boolean => others.some((n) => claimsVip(vip, lab.host(n).mac)(line));
      const byOwner = claimsVip(vip, ownerMac);
      const cutAt = Date.now();
      await isolate(lab, owner, LIVENESS_PORT);
      // Another node claims the VIP (its gratuitous ARP, then its answers).
      await eventually('another node claiming the VIP', async () => frameTimes(arp.lines, byOther).some((t) => t >= cutAt), 30_000).catch((e: unknown) => {
        throw new Error(report((e as Error).message));
      });
      // Cut for a few seconds more: the owner stays silent (no quorum, and no renewal vouches for it).
      await new Promise((r) => setTimeout(r, 3000));
      const healAt = Date.now();
      await heal(lab, owner);
      // Healed: for 6 s and at least 20 probes, every curl is answered by the new owner.
      const firstNewAt = Math.min(...frameTimes(arp.lines, byOther).filter((t) => t >= cutAt));
      const next = others.find((n) => frameTimes(arp.lines, claimsVip(vip, lab.host(n).mac)).includes(firstNewAt)) as NodeName;
      const answers: string[] = [];
      while (Date.now() - healAt < 6000 || answers.length < 20) answers.push((await curlFromClient(lab, vip, 3)) ?? 'none');
      await new Promise((r) => setTimeout(r, 300));
      const ownerFrames = frameTimes(arp.lines, byOwner);
      const lastOldAt = Math.max(...ownerFrames.filter((t) => t < firstNewAt), 0);
      const noQuorumAt = logEventTimes(lab.logPath(`speaker-${owner}`), 'livenessNoQuorum').find((t) => t >= cutAt);
      const deadAt = others.flatMap((n) => logEventTimes(lab.logPath(`speaker-${n}`), 'livenessDead').filter((t) => t >= cutAt));
      const r = report(
        `--- speaker-${owner} (cut)\n${tail(lab.logPath(`speaker-${owner}`), 40)}\ncut at ${new Date(cutAt).toISOString()}, healed at ${new Date(healAt).toISOString()}; ${owner} lost quorum at ${noQuorumAt === undefined ? 'never' : new Date(noQuorumAt).toISOString()}, last claimed ${new Date(lastOldAt).toISOString()}; ${next} first claimed ${new Date(firstNewAt).toISOString()}\nanswers after the heal: ${answers.join(', ')}`,
      );
      // The cut owner noticed (no quorum) and said nothing about the VIP from then on, cut or healed
      // (500 ms: a frame sent just before the log line is stamped by the client's capture when the
      // kernel delivers it, which on a loaded machine can be a softirq run later; the client asks for
      // seconds, so an owner that went on answering would still show).
      expect(noQuorumAt, r).toBeDefined();
      expect(ownerFrames.filter((t) => t > (noQuorumAt ?? 0) + 500).map((t) => new Date(t).toISOString()), r).toEqual([]);
      // The others declared it dead by the liveness protocol, and the new owner claimed after that.
      expect(deadAt.length, r).toBeGreaterThan(0);
      // No overlap: the old owner's last claim came before the new owner's first.
      const gapMs = firstNewAt - lastOldAt;
      process.stdout.write(`liveness lab: partition of ${owner}: quorum lost ${noQuorumAt === undefined ? '?' : Math.round(noQuorumAt - cutAt)} ms after the cut began, its last answer ${Math.round(lastOldAt - cutAt)} ms, ${next}'s first claim ${Math.round(firstNewAt - cutAt)} ms: ${gapMs >= 0 ? `silent for ${Math.round(gapMs)} ms in between (no overlap)` : `OVERLAP ${Math.round(-gapMs)} ms`}\n`);
      expect(gapMs, r).toBeGreaterThan(0);
      // Healed: the client's entry never went back, and every probe was answered by the new owner.
      const back = neigh.lines.filter((l) => l.at >= healAt && l.text.includes(`${vip} `) && l.text.toLowerCase().includes(ownerMac.toLowerCase()));
      expect(back.map((l) => l.text), r).toEqual([]);
      expect(answers.filter((a) => a !== next), r).toEqual([]);
      const self = tail(lab.logPath(`speaker-${owner}`), 400);
      process.stdout.write(`liveness lab: healed ${owner}: ${self.includes('"livenessDeclaredDead"') ? 'learnt it was declared dead, started a new life' : 'was not told it was declared dead'}; ${answers.length} probes all answered by ${next}\n`);
    } finally {
      asking = false;
      await Promise.all(askers);
      await arp.stop();
      await neigh.stop();
      await heal(lab, owner).catch(() => undefined);
    }
  }, 180_000);

  it('UDP cut, API fine: the others take over; the cut owner, vouched for by its Lease, lets the VIP go once it sees the taker\'s object, and nothing moves back when the verdict ends', async () => {
    const [vip] = await createService(lab, NS, 'udpcut', 'lan', { pods: NODES });
    await eventually('an ARP answer', async () => (await arpOwner(lab, vip)).node);
    await new Promise((r) => setTimeout(r, 3000));
    const arp = await captureIn(lab, 'client', 'arp');
    let asking = true;
    const ask = async (): Promise<void> => {
      while (asking) await lab.exec('client', 'arping', ['-f', '-c', '1', '-w', '1', '-I', 'eth0', vip], 5000);
    };
    const askers = [ask(), ask(), ask()];
    const claimer = (line: string): NodeName | undefined => NODES.find((n) => claimsVip(vip, lab.host(n).mac)(line));
    const report = (extra = ''): string =>
      `${extra}\nclient ARP frames about ${vip}:\n${arp.lines.filter((l) => l.text.includes(vip) && !/Request who-has \S+ tell 192\.0\.2\.15,/.test(l.text)).map((l) => l.text).join('\n')}\n${logs()}`;
    let owner: NodeName = 'node1';
    try {
      owner = await eventually(
        'a settled owner answering the client\'s requests',
        async () => {
          const last = arp.lines.map((l) => claimer(l.text)).filter((n) => n !== undefined).slice(-5);
          return last.length === 5 && last.every((n) => n === last[0]) ? last[0] : null;
        },
        60_000,
      ).catch((e: unknown) => {
        throw new Error(report((e as Error).message));
      });
      const others = NODES.filter((n) => n !== owner);
      const byOther = (line: string): boolean => others.some((n) => claimsVip(vip, lab.host(n).mac)(line));
      const byOwner = claimsVip(vip, lab.host(owner).mac);
      const cutAt = Date.now();
      await isolate(lab, owner, LIVENESS_PORT, { keepApi: true });
      await eventually('another node claiming the VIP', async () => frameTimes(arp.lines, byOther).some((t) => t >= cutAt), 30_000).catch((e: unknown) => {
        throw new Error(report((e as Error).message));
      });
      const firstNewAt = Math.min(...frameTimes(arp.lines, byOther).filter((t) => t >= cutAt));
      const next = others.find((n) => frameTimes(arp.lines, claimsVip(vip, lab.host(n).mac)).includes(firstNewAt)) as NodeName;
      // Their verdict on the owner ends with its second Lease change observed after it (it renews every 1 s without quorum).
      const verdictEnded = async (): Promise<number | undefined> => logEventTimes(lab.logPath(`speaker-${next}`), 'livenessVerdictEnded', owner).find((t) => t >= cutAt);
      await eventually(`${next} ending its verdict on ${owner}`, verdictEnded, 60_000).catch((e: unknown) => {
        throw new Error(report((e as Error).message));
      });
      // A few more seconds with the UDP still cut: whoever answers then is the steady state.
      await new Promise((r) => setTimeout(r, 3000));
      asking = false;
      await Promise.all(askers);
      await new Promise((r) => setTimeout(r, 300));
      const endedAt = (await verdictEnded()) as number;
      const deadAt = logEventTimes(lab.logPath(`speaker-${next}`), 'livenessDead', owner).find((t) => t >= cutAt);
      // When a speaker withdrew the VIP (its log line, with the reason).
      const withdrawals = (node: NodeName, after: number): { at: number; line: string }[] =>
        readFileSync(lab.logPath(`speaker-${node}`), 'utf8')
          .split('\n')
          .filter((l) => l.includes('"event":"serviceWithdrawn"') && l.includes(`"service":"${NS}/udpcut"`) && l.includes('"reason":"layer2'))
          .map((l) => ({ at: Date.parse(/"time":"([^"]+)"/.exec(l)?.[1] ?? ''), line: l }))
          .filter((w) => w.at >= after);
      // The new owner took the VIP over from a declared-dead owner: it holds it, so it never withdraws.
      const nextWithdrawals = withdrawals(next, firstNewAt);
      // The cut owner lets it go when it sees the taker's ServiceL2Status naming it (reason notOwner).
      const ownerWithdrawal = withdrawals(owner, cutAt).find((w) => w.line.includes('notOwner'));
      const withdrawnAt = ownerWithdrawal?.at;
      const noQuorumAt = logEventTimes(lab.logPath(`speaker-${owner}`), 'livenessNoQuorum').find((t) => t >= cutAt);
      const newFrames = frameTimes(arp.lines, claimsVip(vip, lab.host(next).mac)).filter((t) => t >= firstNewAt);
      const lastNewAt = Math.max(...newFrames);
      const oldFrames = frameTimes(arp.lines, byOwner).filter((t) => t >= cutAt);
      // The overlap: the old owner's claims between the new owner's first and last.
      const during = oldFrames.filter((t) => t >= firstNewAt && t <= lastNewAt);
      const overlapMs = during.length === 0 ? 0 : Math.min(lastNewAt, Math.max(...during)) - Math.max(firstNewAt, Math.min(...during));
      const iso = (t: number | undefined): string => (t === undefined ? 'never' : new Date(t).toISOString());
      const r = report(
        `cut at ${iso(cutAt)}; ${owner} lost quorum ${iso(noQuorumAt)}, withdrew ${iso(withdrawnAt)}; ${next} declared it dead ${iso(deadAt)}, first claimed ${iso(firstNewAt)}, ended its verdict ${iso(endedAt)}, last claimed ${iso(lastNewAt)}, withdrew after its first claim: ${nextWithdrawals.map((w) => w.line).join(' ') || 'never'}; ${owner}'s claims after the cut: ${oldFrames.map(iso).join(' ')}\n--- speaker-${owner}\n${tail(lab.logPath(`speaker-${owner}`), 40)}`,
      );
      process.stdout.write(
        `liveness lab: UDP cut of ${owner} (API fine): quorum lost ${noQuorumAt === undefined ? '?' : Math.round(noQuorumAt - cutAt)} ms after the cut, ${next} claimed after ${Math.round(firstNewAt - cutAt)} ms and its verdict lasted ${deadAt === undefined ? '?' : Math.round(endedAt - deadAt)} ms; ${owner} withdrew ${withdrawnAt === undefined ? '?' : Math.round(withdrawnAt - firstNewAt)} ms after ${next}'s first claim; both answered for ${Math.round(overlapMs)} ms (${during.length} claims by ${owner} meanwhile)\n`,
      );
      expect(noQuorumAt, r).toBeDefined();
      expect(deadAt, r).toBeDefined();
      expect(withdrawnAt, r).toBeDefined();
      // The bound, from the daemons' own events: the cut owner, vouched for by its Lease, may answer
      // again until it sees the taker's object and withdraws (a margin for frames already on their way
      // when it logged the withdrawal, wide for a loaded machine: the client keeps asking for seconds
      // after, so an owner that went on answering would still show).
      const inFlightMs = 1000;
      expect(oldFrames.filter((t) => t > (withdrawnAt as number) + inFlightMs).map(iso), r).toEqual([]);
      // No flap back: the verdict's end moved nothing; the new owner never withdrew and answers at the end.
      expect(nextWithdrawals.map((w) => w.line), r).toEqual([]);
      expect(claimer(arp.lines.filter((l) => claimer(l.text) !== undefined).at(-1)?.text ?? ''), r).toBe(next);
    } finally {
      asking = false;
      await Promise.all(askers);
      await arp.stop();
      await heal(lab, owner).catch(() => undefined);
    }
  }, 180_000);

  it('a speaker restarting while a peer is dead with its Lease still live: the first peer that hears it tells it the death, so a new Service ranking the dead node first and it next is answered at once (not after its 10 s grace)', async () => {
    // The VIP the next Service gets (the pool's lowest free address): a probe Service's, freed again.
    const [vip] = await createService(lab, NS, 'joinprobe', 'lan', { pods: NODES });
    await lab.kubectl(['-n', NS, 'delete', 'service', 'joinprobe']);
    await lab.kubectl(['-n', NS, 'delete', 'endpointslice', 'joinprobe-lab']);
    const [dead, joiner, peer] = rankSpeakers(NODES, vip as string) as [NodeName, NodeName, NodeName];
    const t0 = Date.now();
    // The dead node dies; the other two declare it dead by the liveness protocol (its Lease stays live for 30 s).
    await lab.stopDaemon(`speaker-${dead}`, 'SIGKILL');
    const peerLog = lab.logPath(`speaker-${peer}`);
    const r = (extra = ''): string => `${extra}\nVIP ${vip}: ${dead} first, ${joiner} next, ${peer} last\n${logs()}`;
    try {
      await eventually('both others declaring it dead', async () => [peer, joiner].every((n) => logEventTimes(lab.logPath(`speaker-${n}`), 'livenessDead', dead).some((t) => t >= t0)), 20_000).catch((e: unknown) => {
        throw new Error(r((e as Error).message));
      });
      // The joiner restarts (a new life) while the dead node's Lease is still live: it knows it at its start.
      const restartAt = Date.now();
      await lab.stopDaemon(`speaker-${joiner}`, 'SIGKILL');
      startSpeaker(h, joiner);
      // The peer heard it (it counts it for ownership again), and a second more.
      await eventually('the peer hearing the restarted speaker', async () => logEventTimes(peerLog, 'livenessJoined', joiner).some((t) => t >= restartAt), 30_000).catch((e: unknown) => {
        throw new Error(r((e as Error).message));
      });
      const heardAt = Math.max(...logEventTimes(peerLog, 'livenessJoined', joiner));
      await new Promise((res) => setTimeout(res, 1000));
      // A new Service (created after the joiner's new life: the ranking alone decides) on that VIP.
      const createdAt = Date.now();
      const [got] = await createService(lab, NS, 'joined', 'lan', { pods: NODES });
      expect(got, r('the pool handed out another address than the probe\'s')).toBe(vip);
      const allocatedAt = Date.now();
      const answer = await eventually('an ARP answer for the new VIP', async () => (await arpOwner(lab, vip as string)).node, 15_000).catch((e: unknown) => {
        throw new Error(r((e as Error).message));
      });
      const answeredAt = Date.now();
      const joinerLog = lab.logPath(`speaker-${joiner}`);
      const learnt = logEventTimes(joinerLog, 'livenessDead', dead).find((t) => t >= restartAt);
      const graceEndsAt = restartAt + 10_000;
      process.stdout.write(
        `liveness lab: ${joiner} restarted while ${dead} was dead (Lease live): the peer heard it ${heardAt - restartAt} ms after the restart; ${joiner} learnt ${dead}'s death ${learnt === undefined ? 'never' : `${learnt - restartAt} ms`} after it; a new Service ranking ${dead} then ${joiner}: allocated ${allocatedAt - createdAt} ms after its creation, answered by ${answer} ${answeredAt - allocatedAt} ms after that (${Math.round((graceEndsAt - answeredAt) / 1000)} s before ${joiner}'s grace for ${dead} would have ended)\n`,
      );
      // The joiner answers (the peer counts it), and before its grace for the dead node ended.
      expect(answer, r()).toBe(joiner);
      expect(learnt, r()).toBeDefined();
      expect(answeredAt, r(`answered ${answeredAt - restartAt} ms after the restart`)).toBeLessThan(graceEndsAt);
      expect(learnt as number, r()).toBeLessThan(graceEndsAt - 5000);
    } finally {
      if (!lab.alive(`speaker-${joiner}`)) startSpeaker(h, joiner);
      startSpeaker(h, dead);
      await waitForBgpSessions(lab);
    }
  }, 180_000);
});
