import { describe, expect, it } from 'vitest';
import { formatCommunity, parseCommunity } from '../../../config/communities.js';

describe('parseCommunity', () => {
  it.each([
    ['65535:65281', { kind: 'standard', value: 0xffffff01 }],
    ['0:0', { kind: 'standard', value: 0 }],
    ['64512:100', { kind: 'standard', value: 64512 * 65536 + 100 }],
    ['4200000000:1:2', { kind: 'large', globalAdmin: 4200000000, localData1: 1, localData2: 2 }],
    ['large:1:2:3', { kind: 'large', globalAdmin: 1, localData1: 2, localData2: 3 }],
    ['4294967295:4294967295:4294967295', { kind: 'large', globalAdmin: 4294967295, localData1: 4294967295, localData2: 4294967295 }],
  ])('%s', (text, community) => {
    expect(parseCommunity(text)).toEqual({ ok: true, value: community });
  });

  it.each([
    ['65536:1', 'each half of a standard community is 0-65535'],
    ['1:65536', 'each half of a standard community is 0-65535'],
    ['4294967296:1:1', 'each part of a large community is 0-4294967295'],
    ['1', 'is not a community'],
    ['1:2:3:4', 'is not a community'],
    ['large:1:2', 'is not a community'],
    ['a:b', 'is not a community'],
    ['-1:2', 'is not a community'],
    ['01:2', 'is not a community'],
    [' 1:2', 'is not a community'],
    ['0x10:1', 'is not a community'],
    ['', 'is not a community'],
  ])('rejects %j', (text, reason) => {
    const r = parseCommunity(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  it('formats back to the literal', () => {
    for (const text of ['65535:65281', '0:0', '1:2:3', '4294967295:0:4294967295']) {
      const r = parseCommunity(text);
      expect(r.ok && formatCommunity(r.value)).toBe(text);
    }
  });
});
