// Event text fitted to the API server's limits, which count bytes: a too-long field loses the whole Event.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventNote, eventReason, fitBytes, NOTE_MAX_BYTES, REASON_MAX_BYTES } from '../../../kube/event-text.js';
import { AllocationError } from '../../../allocator/errors.js';
import { breakingNotes, invalidNotes, NOTE_LIMIT } from '../../../allocator/config-verdict.js';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('Event text within the API limits (bytes, not characters)', () => {
  it('a 1,000-character note of 2- and 4-byte characters fits 1,024 bytes and keeps its start (was: sent whole, refused)', () => {
    const note = `Failed to allocate IP for "ns/s": ${'é'.repeat(500)}${'😀'.repeat(500)}`;
    expect(note.length).toBeLessThan(2000);
    const fitted = eventNote(note);
    expect(bytes(fitted)).toBeLessThanOrEqual(NOTE_MAX_BYTES);
    expect(fitted.startsWith('Failed to allocate IP for "ns/s": éé')).toBe(true);
    expect(fitted.endsWith('...')).toBe(true);
    expect(fitted).not.toContain('\uFFFD');
  });

  it('leaves short text alone; the reason survives whole', () => {
    expect(eventNote('ok')).toBe('ok');
    expect(eventReason('AllocationFailed')).toBe('AllocationFailed');
    expect(bytes(eventReason('R'.repeat(500)))).toBeLessThanOrEqual(REASON_MAX_BYTES);
  });

  it('fitBytes: within the limit, a prefix of the text, never a split character (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.integer({ min: 3, max: 300 }), (text, max) => {
        const out = fitBytes(text, max);
        expect(bytes(out)).toBeLessThanOrEqual(Math.max(max, 3));
        if (out === text) return;
        const kept = out.slice(0, -3);
        expect(Buffer.from(text, 'utf8').subarray(0, bytes(kept)).equals(Buffer.from(kept, 'utf8'))).toBe(true);
      }),
    );
  });

  it('an ip-in-use refusal names a few holders and keeps its why within one note', () => {
    const holders = Array.from({ length: 200 }, (_, i) => `namespace-${i}/service-with-a-long-name-${i}`);
    const e = new AllocationError({ reason: 'ip-in-use', ip: '192.0.2.1', holders, why: 'they do not share the sharing key "k"' }, 'ns/s');
    const note = `Failed to allocate IP for "ns/s": ${e.message}`;
    expect(bytes(note)).toBeLessThan(NOTE_MAX_BYTES);
    expect(eventNote(note)).toContain('and 197 more: they do not share the sharing key "k"');
  });

  it('long refusals are still split into parts, each within the limit in bytes', () => {
    const issues = Array.from({ length: 60 }, (_, i) => ({ path: `address-pools[${i}].name`, message: `pool name "пул-${'ж'.repeat(40)}" is wrong` }));
    const notes = invalidNotes(issues);
    expect(notes.length).toBeGreaterThan(1);
    expect(notes[0]).toMatch(/^config refused, invalid \(60 errors\); keeping the config in force \(part 1\/\d+\): address-pools\[0\]\.name/);
    for (const n of notes) expect(bytes(n)).toBeLessThanOrEqual(NOTE_LIMIT);
    for (const n of notes) expect(eventNote(n)).toBe(n);
    const breaking = breakingNotes([{ key: 'ns/s', breaking: true, ips: [{ ip: '192.0.2.1', pool: 'a', newPool: undefined, breaking: true, reason: `🙂`.repeat(600) }] }]);
    for (const n of breaking) expect(bytes(n)).toBeLessThanOrEqual(NOTE_LIMIT);
  });
});
