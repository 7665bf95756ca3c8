import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arpReplyFrame, arpRequestFrame, decodeArpFrame, encodeArpFrame, gratuitousArpFrames } from '../../../protocols/arp/frames.js';
import { formatIpv4, parseIpv4 } from '../../../protocols/arp/ipv4-address.js';
import * as arp from '../../../protocols/arp/packet.js';
import { ARP_FRAME_LENGTH, arpOperation, requestTarget, writeArpReply } from '../../../protocols/arp/reply.js';
import * as ethernet from '../../../protocols/rawio/ethernet.js';
import { FrameError } from '../../../protocols/rawio/frame-error.js';
import { formatMac, parseMac } from '../../../protocols/rawio/mac.js';

// Captured on a veth in a lab namespace (tcpdump -xx): Linux's ARP request and its reply.
const KERNEL_REQUEST = Buffer.from('ffffffffffff4a7e0257d136080600010800060400014a7e0257d136c000020a000000000000c000020b', 'hex');
const KERNEL_REPLY = Buffer.from('4a7e0257d13666599e76d2ac0806000108000604000266599e76d2acc000020b4a7e0257d136c000020a', 'hex');

const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((a) => Buffer.from(a));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((q) => q.join('.'));
const packet = fc.record({ op: fc.constantFrom(1, 2), senderMac: mac, senderIp: ipv4, targetMac: mac, targetIp: ipv4 });

function expectFrameErrorOrValue(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FrameError);
  }
}

describe('ARP codec', () => {
  it('decodes a kernel request and builds the byte-identical kernel reply (before Ethernet padding)', () => {
    const req = decodeArpFrame(KERNEL_REQUEST);
    expect(req.arp).toMatchObject({ op: 1, senderIp: '192.0.2.10', targetIp: '192.0.2.11' });
    expect(formatMac(req.arp.senderMac)).toBe('4a:7e:02:57:d1:36');
    expect(formatMac(req.eth.dst)).toBe('ff:ff:ff:ff:ff:ff');
    const reply = arpReplyFrame(req.arp, '192.0.2.11', parseMac('66:59:9e:76:d2:ac'));
    expect(reply.length).toBe(60);
    expect(reply.subarray(0, 42).toString('hex')).toBe(KERNEL_REPLY.toString('hex'));
    expect(reply.subarray(42).every((b) => b === 0)).toBe(true);
  });

  it('round-trips every request/reply', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const buf = Buffer.alloc(arp.encodingLength(p));
        expect(arp.encode(p, buf, 0)).toBe(28);
        expect(arp.decode(buf, 0)).toEqual(p);
      }),
    );
  });

  it('round-trips whole frames at an offset', () => {
    fc.assert(
      fc.property(packet, mac, mac, fc.nat(20), (p, dst, src, pad) => {
        const frame = encodeArpFrame({ eth: { dst, src, etherType: 0x0806 }, arp: p });
        const shifted = Buffer.concat([Buffer.alloc(pad), frame]);
        expect(ethernet.decode(shifted, pad)).toEqual({ dst, src, etherType: 0x0806 });
        expect(arp.decode(shifted, pad + 14)).toEqual(p);
        expect(decodeArpFrame(frame).arp).toEqual(p);
      }),
    );
  });

  it('random bytes and truncations throw only FrameError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        expectFrameErrorOrValue(() => decodeArpFrame(Buffer.from(bytes)));
        expectFrameErrorOrValue(() => arp.decode(Buffer.from(bytes), 0));
      }),
      { numRuns: 2000 },
    );
    for (let n = 0; n < KERNEL_REQUEST.length; n++) {
      expect(() => decodeArpFrame(KERNEL_REQUEST.subarray(0, n))).toThrow(FrameError);
    }
  });

  it('names the field and offset of bad input', () => {
    const bad = Buffer.from(KERNEL_REQUEST);
    bad.writeUInt16BE(6, 14); // hardware type
    expect(() => decodeArpFrame(bad)).toThrow(expect.objectContaining({ field: 'arp.hardwareType', offset: 14 }));
    const op = Buffer.from(KERNEL_REQUEST);
    op.writeUInt16BE(9, 20);
    expect(() => decodeArpFrame(op)).toThrow(expect.objectContaining({ field: 'arp.op', offset: 20 }));
    const ipv4Frame = Buffer.from(KERNEL_REQUEST);
    ipv4Frame.writeUInt16BE(0x0800, 12);
    expect(() => decodeArpFrame(ipv4Frame)).toThrow(expect.objectContaining({ field: 'ethernet.etherType', offset: 12 }));
    expect(() => arp.encode({ op: 3, senderMac: Buffer.alloc(6), senderIp: '1.2.3.4', targetMac: Buffer.alloc(6), targetIp: '1.2.3.4' }, Buffer.alloc(28))).toThrow(
      expect.objectContaining({ field: 'arp.op' }),
    );
    expect(() => parseIpv4('203.0.113.300')).toThrow(FrameError);
    expect(() => parseMac('66:59:9e:76:d2')).toThrow(FrameError);
  });

  it('builds the gratuitous pair: broadcast request and reply with sender = target = VIP', () => {
    const m = parseMac('02:00:00:00:00:01');
    const [req, rep] = gratuitousArpFrames('203.0.113.10', m).map(decodeArpFrame);
    for (const f of [req, rep]) {
      expect(formatMac(f.eth.dst)).toBe('ff:ff:ff:ff:ff:ff');
      expect(formatMac(f.eth.src)).toBe('02:00:00:00:00:01');
      expect(f.arp.senderIp).toBe('203.0.113.10');
      expect(f.arp.targetIp).toBe('203.0.113.10');
      expect(formatMac(f.arp.senderMac)).toBe('02:00:00:00:00:01');
    }
    expect(req.arp.op).toBe(1);
    expect(rep.arp.op).toBe(2);
  });

  it('builds a broadcast request', () => {
    const f = decodeArpFrame(arpRequestFrame('192.0.2.10', parseMac('4a:7e:02:57:d1:36'), '192.0.2.11'));
    expect(f.arp).toMatchObject({ op: 1, senderIp: '192.0.2.10', targetIp: '192.0.2.11' });
    expect(encodeArpFrame(f).subarray(0, 42).equals(KERNEL_REQUEST)).toBe(true);
  });

  it('formats and parses IPv4', () => {
    fc.assert(
      fc.property(ipv4, (ip) => {
        expect(formatIpv4(parseIpv4(ip))).toBe(ip);
      }),
    );
  });
});

describe('ARP reply hot path', () => {
  it('agrees with the codec: same target, same reply bytes, -1 exactly when the codec does not see a request', () => {
    const scratch = Buffer.alloc(ARP_FRAME_LENGTH, 0xee);
    const ours = parseMac('66:59:9e:76:d2:ac');
    fc.assert(
      fc.property(packet, mac, mac, ipv4, (p, dst, src, vip) => {
        const frame = encodeArpFrame({ eth: { dst, src, etherType: 0x0806 }, arp: p });
        const t = requestTarget(frame);
        if (p.op !== 1) {
          expect(t).toBe(-1);
          expect(arpOperation(frame)).toBe(p.op === 2 ? 2 : -1);
          return;
        }
        expect(t).toBe(parseIpv4(p.targetIp).readUInt32BE(0));
        expect(arpOperation(frame)).toBe(1);
        const fast = writeArpReply(scratch, frame, parseIpv4(vip), ours);
        expect(fast.toString('hex')).toBe(arpReplyFrame(p, vip, ours).toString('hex'));
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), (bytes) => {
        const b = Buffer.from(bytes);
        let codecSaysRequest = false;
        try {
          codecSaysRequest = decodeArpFrame(b).arp.op === 1;
        } catch {
          codecSaysRequest = false;
        }
        expect(requestTarget(b) >= 0).toBe(codecSaysRequest);
      }),
      { numRuns: 3000 },
    );
    for (let n = 0; n < 42; n++) expect(requestTarget(KERNEL_REQUEST.subarray(0, n))).toBe(-1);
    expect(requestTarget(KERNEL_REQUEST)).toBe(0xc000020b);
  });
});
