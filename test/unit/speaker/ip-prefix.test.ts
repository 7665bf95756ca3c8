import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, IpParseError, maskIp, parseIp } from '../../../speaker/ip-prefix.js';

/** WHATWG URL host serialization: an independent RFC 5952-style printer for IPv6. */
function urlForm(v6: string): string {
  return new URL(`http://[${v6}]/`).hostname.slice(1, -1);
}

describe('ip-prefix', () => {
  it('parses and prints IPv4', () => {
    expect(parseIp('192.0.2.1')).toEqual({ family: 'ipv4', value: 0xc0000201n });
    expect(formatIp({ family: 'ipv4', value: 0xc0000201n })).toBe('192.0.2.1');
  });

  it('parses IPv6 forms: compressed, full, embedded IPv4', () => {
    expect(parseIp('2001:db8::1').value).toBe(0x20010db8000000000000000000000001n);
    expect(parseIp('2001:DB8:0:0:0:0:0:1').value).toBe(0x20010db8000000000000000000000001n);
    expect(parseIp('::').value).toBe(0n);
    expect(parseIp('::ffff:192.0.2.1').value).toBe(0xffffc0000201n);
    expect(parseIp('::192.0.2.1').value).toBe(0xc0000201n);
    expect(parseIp('1:2:3:4:5:6:192.0.2.1')).toEqual(parseIp('1:2:3:4:5:6:c000:201'));
  });

  it('prints IPv6 like RFC 5952 (checked against WHATWG URL serialization)', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const ip = parseIp(text);
        expect(formatIp(ip)).toBe(urlForm(text));
        expect(parseIp(formatIp(ip))).toEqual(ip);
      }),
    );
    expect(formatIp(parseIp('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(formatIp(parseIp('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1');
  });

  it('round-trips IPv4', () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        expect(formatIp(parseIp(text))).toBe(text);
      }),
    );
  });

  it('masks to a prefix', () => {
    expect(formatIp(maskIp(parseIp('203.0.113.77'), 24))).toBe('203.0.113.0');
    expect(formatIp(maskIp(parseIp('203.0.113.77'), 0))).toBe('0.0.0.0');
    expect(formatIp(maskIp(parseIp('203.0.113.77'), 32))).toBe('203.0.113.77');
    expect(formatIp(maskIp(parseIp('2001:db8:1:2::77'), 48))).toBe('2001:db8:1::');
  });

  it.each(['', 'x', '1.2.3', '1.2.3.256', '01.2.3.4', '1:2', '1::2::3', '1:2:3:4:5:6:7:8:9', '::12345', '1:2:3:4:5:6:7::8', 'fe80::1%eth0', '1.2.3.4/24'])(
    'rejects %j with a typed error naming the input',
    (bad) => {
      expect(() => parseIp(bad)).toThrow(IpParseError);
      try {
        parseIp(bad);
      } catch (err) {
        expect((err as IpParseError).input).toBe(bad);
      }
    },
  );
});
