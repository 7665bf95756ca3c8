import { describe, expect, it } from 'vitest';
import { starved } from '../../sim/scale-verdict.js';

describe('scale simulator: starved window', () => {
  it('is not starved without stalls and with the lag p99 under the probe time-out', () => {
    expect(starved({ stalls: 0, lagP99Ms: 12 }, 80)).toBe(false);
    expect(starved({ stalls: 0, lagP99Ms: 79.9 }, 80)).toBe(false);
  });

  it('is starved by any stall the members detected', () => {
    expect(starved({ stalls: 1, lagP99Ms: 5 }, 80)).toBe(true);
  });

  it('is starved when the lag p99 reaches the probe time-out, or is unknown', () => {
    expect(starved({ stalls: 0, lagP99Ms: 80 }, 80)).toBe(true);
    expect(starved({ stalls: 0, lagP99Ms: 4500 }, 80)).toBe(true);
    expect(starved({ stalls: 0, lagP99Ms: NaN }, 80)).toBe(true);
  });
});
