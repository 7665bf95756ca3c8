// The quorum's counts are kept on transitions (swim.ts: hasQuorum is O(1)); this checks them against
// the rule written as a scan of every member, on random sequences of time steps, messages (from
// members alive or dead, with gossip declaring members suspect or dead) and member-list changes.
// Joining members (swim.ts): an ask of a member not heard from in its life, within its grace, is not counted.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import type { Message, MemberState } from '../../../protocols/liveness/message.js';
import { Swim } from '../../../protocols/liveness/swim.js';

const TIMING = { periodMs: 200, probeTimeoutMs: 80, suspicionMs: 400, indirect: 2 };
const QUORUM_WINDOW = 1.5 * TIMING.periodMs + TIMING.probeTimeoutMs;
const GRACE = 2000;
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];

type Op =
  | { kind: 'advance'; ms: number }
  | { kind: 'receive'; from: number; type: Message['type']; target: number; seq: number; update?: { name: number; state: MemberState; incarnation: number } }
  | { kind: 'members'; keep: boolean[]; rejoin: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 150 }) }), weight: 4 },
  {
    arbitrary: fc.record(
      {
        kind: fc.constant('receive' as const),
        from: fc.nat(NAMES.length - 1),
        type: fc.constantFrom('ping', 'ack', 'pingReq', 'nack'),
        target: fc.nat(NAMES.length - 1),
        seq: fc.integer({ min: 0, max: 40 }),
        update: fc.record({ name: fc.nat(NAMES.length), state: fc.constantFrom('alive', 'suspect', 'dead'), incarnation: fc.nat(3) }),
      },
      { requiredKeys: ['kind', 'from', 'type', 'target', 'seq'] },
    ),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant('members' as const), keep: fc.array(fc.boolean(), { minLength: NAMES.length, maxLength: NAMES.length }), rejoin: fc.nat(NAMES.length - 1) }), weight: 1 },
);

describe('swim quorum counts', () => {
  it('hasQuorum equals the rule evaluated over every member, after any sequence of events', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.boolean(), (ops, silent) => {
        const clock = new ManualClock(1000);
        // The rule's inputs, tracked beside the state machine: when each member was last heard and asked.
        const model = new Map<string, { lastHeard: number; askedAt: number | undefined; addedAt: number }>();
        let startedAt = 0;
        let r = 0;
        const swim = new Swim({
          ...TIMING,
          joinGraceMs: GRACE,
          clock,
          self: 'self',
          random: () => (r = (r * 9301 + 49297) % 233280) / 233280,
          send: (to, m) => {
            const e = model.get(to);
            const counted = swim.heardFrom(to) === true || clock.now() >= Math.max(e?.addedAt ?? 0, startedAt) + GRACE;
            if (e && (m.type === 'ping' || m.type === 'pingReq') && (e.askedAt === undefined || e.askedAt <= e.lastHeard) && counted) e.askedAt = clock.now();
          },
        });
        const setMembers = (names: string[], rejoined: string[] = []): void => {
          for (const n of [...model.keys()]) if (!names.includes(n)) model.delete(n);
          for (const n of names) if (!model.has(n)) model.set(n, { lastHeard: clock.now(), askedAt: undefined, addedAt: clock.now() });
          // A new life: joining again, no ask pending.
          for (const n of rejoined) Object.assign(model.get(n) ?? {}, { askedAt: undefined, addedAt: clock.now() });
          swim.setMembers(names, rejoined);
        };
        const scan = (): boolean => {
          const now = clock.now();
          let reachable = 0;
          let unreachable = 0;
          for (const [name, e] of model) {
            if (now - e.lastHeard <= QUORUM_WINDOW) reachable++;
            else if (swim.state(name) !== 'dead' && e.askedAt !== undefined && e.askedAt > e.lastHeard && now - e.askedAt > TIMING.probeTimeoutMs) unreachable++;
          }
          return 1 + reachable > unreachable;
        };
        setMembers(NAMES);
        startedAt = clock.now();
        swim.start();
        for (const o of ops) {
          if (o.kind === 'advance') {
            // Step by step, so that the timers (probes, suspicions, quorum checks) run in between;
            // asked now and then only, so that the counts also age over gaps between two reads.
            for (let i = 1; i <= o.ms; i++) {
              clock.advance(1);
              if (i % 17 === 0) expect(swim.hasQuorum()).toBe(scan());
            }
          } else if (o.kind === 'receive') {
            // A silent cluster (`silent`): only rare messages, so members age out and deaths happen.
            if (silent && o.seq % 4 !== 0) continue;
            const from = NAMES[o.from] as string;
            const e = model.get(from);
            if (e) e.lastHeard = clock.now();
            const update = o.update && { name: NAMES[o.update.name] ?? 'self', state: o.update.state, incarnation: o.update.incarnation };
            swim.receive({ type: o.type, seq: o.seq, incarnation: 0, from, target: NAMES[o.target] as string, updates: update ? [update] : [] });
          } else {
            const names = NAMES.filter((_, i) => o.keep[i]);
            setMembers(names, names.includes(NAMES[o.rejoin] as string) ? [NAMES[o.rejoin] as string] : []);
          }
          expect(swim.hasQuorum()).toBe(scan());
        }
        swim.stop();
      }),
      { numRuns: 200 },
    );
  });
});
