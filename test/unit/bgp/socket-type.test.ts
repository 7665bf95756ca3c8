import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { SocketLike } from '../../../protocols/bgp/index.js';

describe('SocketLike', () => {
  it('is satisfied by net.Socket (checked by the type checker)', () => {
    const s: SocketLike = new net.Socket();
    expect(typeof s.write).toBe('function');
    (s as net.Socket).destroy();
  });
});
