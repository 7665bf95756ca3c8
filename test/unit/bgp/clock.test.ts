import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';

describe('ManualClock', () => {
  it('fires due timers in due-time order, including ones scheduled while advancing', () => {
    const c = new ManualClock(1000);
    const log: string[] = [];
    c.setTimeout(() => log.push(`b@${c.now()}`), 20);
    c.setTimeout(() => {
      log.push(`a@${c.now()}`);
      c.setTimeout(() => log.push(`c@${c.now()}`), 5);
    }, 10);
    const cancelled = c.setTimeout(() => log.push('never'), 15);
    c.clearTimeout(cancelled);
    c.advance(19);
    expect(log).toEqual(['a@1010', 'c@1015']);
    expect(c.now()).toBe(1019);
    c.advance(1);
    expect(log).toEqual(['a@1010', 'c@1015', 'b@1020']);
    expect(c.pending()).toBe(0);
  });
});
