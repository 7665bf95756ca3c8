// The stall check's rule (swim.ts header, the stall check): it asks min(stallSample, members not
// dead) random members, plus each member that pings it while stalled, each once, and stays stalled
// until every one asked has answered. Checked on random member lists, dead sets, samples and requests,
// against a single Swim on a manual clock; and sampleMembers' contract on its own.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import type { Message } from '../../../protocols/liveness/message.js';
import { sampleMembers, Swim } from '../../../protocols/liveness/swim.js';

const TIMING = { periodMs: 200, probeTimeoutMs: 80, suspicionMs: 400, indirect: 2 };

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('swim stall check (property)', () => {
  it('sampleMembers: min(k, qualifying) distinct qualifying names', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 80 }), fc.integer({ min: 1, max: 100 }), fc.nat(), (ok, k, seed) => {
        const names = ok.map((_, i) => `m${i}`);
        const good = new Set(names.filter((_, i) => ok[i]));
        const out = sampleMembers(names, k, (n) => good.has(n), lcg(seed));
        expect(new Set(out).size).toBe(out.length);
        for (const n of out) expect(good.has(n)).toBe(true);
        expect(out.length).toBe(Math.min(k, good.size));
      }),
      { numRuns: 300 },
    );
  });

  it('a stall asks the sample and each requester once, never a dead member, and ends only when all asked answered', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        fc.array(fc.nat(39), { maxLength: 30 }),
        fc.nat(),
        (n, k, deadMask, requests, seed) => {
          const clock = new ManualClock();
          const names = Array.from({ length: n }, (_, i) => `m${i}`);
          const sent: Message[] = [];
          const sentTo: string[] = [];
          // Unpaced here (every ask in the turn that detects the stall); the pacing has its own property below.
          const swim = new Swim({ ...TIMING, clock, self: 'self', stallSample: k, stallAsksPerTurn: 1000, random: lcg(seed), send: (to, m) => (sent.push(m), sentTo.push(to)) });
          swim.setMembers(names);
          swim.start();
          // m0 tells us of the dead ones (never itself: someone is left to answer).
          const dead = new Set(names.filter((_, i) => i > 0 && deadMask[i]));
          swim.receive({ type: 'ack', seq: 999, incarnation: 0, from: 'm0', target: '', updates: [...dead].map((name) => ({ name, state: 'dead' as const, incarnation: 0 })) });
          for (const d of dead) expect(swim.state(d)).toBe('dead');
          sent.length = sentTo.length = 0;
          (clock as unknown as { current: number }).current += 5000; // not run for 5 s
          swim.awake();
          expect(swim.stalled).toBe(true);
          const asked = new Map<string, number>(); // name -> seq of our check's ping
          const collect = (): void => {
            for (let i = 0; i < sent.length; i++) {
              const m = sent[i] as Message;
              const to = sentTo[i] as string;
              if (m.type !== 'ping') continue;
              expect(asked.has(to)).toBe(false); // each once
              asked.set(to, m.seq);
            }
            sent.length = sentTo.length = 0;
          };
          collect();
          const alive = names.filter((x) => !dead.has(x));
          expect(asked.size).toBe(Math.min(k, alive.length));
          for (const a of asked.keys()) expect(dead.has(a)).toBe(false);
          // Pings read while stalled: each live requester is asked too (once); dead ones are not.
          for (const r of requests) {
            const from = names[r % n] as string;
            swim.receive({ type: 'ping', seq: 5, incarnation: 0, from, target: '', updates: [] });
            collect();
            if (!dead.has(from)) expect(asked.has(from)).toBe(true);
          }
          for (const a of asked.keys()) expect(dead.has(a)).toBe(false);
          expect(asked.size).toBeLessThanOrEqual(Math.min(k, alive.length) + new Set(requests.map((r) => r % n)).size);
          // Answers: stalled until the last one.
          const order = [...asked];
          order.forEach(([name, seq], i) => {
            expect(swim.stalled).toBe(true);
            swim.receive({ type: 'ack', seq, incarnation: 0, from: name, target: '', updates: [] });
            if (i < order.length - 1) expect(swim.stalled).toBe(true);
          });
          expect(swim.stalled).toBe(false);
          swim.stop();
        },
      ),
      { numRuns: 200 },
    );
  });

  it('paced: at most stallAsksPerTurn asks in the turn that detects the stall, the rest on the next turns, all of them in the end', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 60 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 10 }), fc.nat(), (n, k, perTurn, seed) => {
        const clock = new ManualClock();
        const swim = new Swim({ ...TIMING, clock, self: 'self', stallSample: k, stallAsksPerTurn: perTurn, random: lcg(seed), send: () => undefined });
        swim.setMembers(Array.from({ length: n }, (_, i) => `m${i}`));
        swim.start();
        (clock as unknown as { current: number }).current += 5000; // not run for 5 s
        swim.awake();
        const total = Math.min(k, n);
        expect(swim.counts.stallAsks).toBe(Math.min(perTurn, total));
        clock.advance(0); // the next turns (0 ms timers)
        expect(swim.counts.stallAsks).toBe(total);
        swim.stop();
      }),
      { numRuns: 200 },
    );
  });
});
