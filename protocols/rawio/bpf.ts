// Classic BPF programs for the packet socket, so the kernel hands us only the frames we answer
// (ARP with a given opcode, ICMPv6 of given types) instead of every frame on the link.
import { endianness } from 'node:os';

/** One sock_filter instruction. */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// The kernel reads struct sock_filter in host byte order.
const LITTLE_ENDIAN = endianness() === 'LE';

// Opcode parts from linux/bpf_common.h.
const LD = 0x00;
const LDX = 0x01;
const ALU = 0x04;
const JMP = 0x05;
const RET = 0x06;
const MISC = 0x07;
const W = 0x00;
const H = 0x08;
const B = 0x10;
const IMM = 0x00;
const ABS = 0x20;
const IND = 0x40;
const JA = 0x00;
const JEQ = 0x10;
const ADD = 0x00;
const AND = 0x50;
const LSH = 0x60;
const K = 0x00;
const TAX = 0x00;

/** Linux's ancillary loads (linux/filter.h): metadata of the skb, not frame bytes. */
const SKF_AD_OFF = -0x1000;
const SKF_AD_VLAN_TAG = 44;
const SKF_AD_VLAN_TAG_PRESENT = 48;
export const AD_VLAN_TAG = (SKF_AD_OFF + SKF_AD_VLAN_TAG) >>> 0;
export const AD_VLAN_TAG_PRESENT = (SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT) >>> 0;

/** IPv6 extension headers RFC 4861 lets precede an NS/NA: hop-by-hop and destination options. */
const IPV6_HOP_BY_HOP = 0;
const IPV6_DEST_OPTS = 60;
const ICMPV6 = 58;

export interface FrameSelection {
  /** ARP opcodes to accept (1 request, 2 reply); none: no ARP. */
  arpOps?: number[];
  /** ICMPv6 types to accept (directly after the IPv6 header or after one hop-by-hop/destination options header); none: no IPv6. */
  icmp6Types?: number[];
}

/** An instruction with symbolic jump targets: a label, 'next', 'accept' or 'reject'. */
interface Item {
  insn: BpfInsn;
  label?: string;
  jt?: string;
  jf?: string;
  /** For `ja`: where to go. */
  to?: string;
}

const op = (code: number, k = 0): BpfInsn => ({ code, jt: 0, jf: 0, k });
const jeq = (k: number, jt: string, jf: string, label?: string): Item => ({ insn: op(JMP | JEQ | K, k), jt, jf, label });

/**
 * Builds the program. Frames carrying an 802.1Q tag with a VLAN id (the interface is untagged: the
 * frame belongs to another VLAN) are dropped first; priority-tagged frames (VLAN id 0) pass. Then
 * the ethertype; for ARP the opcode at byte 20; for IPv6 the ICMPv6 type behind the fixed header
 * or behind one hop-by-hop / destination options header. Jumps are resolved against the final layout.
 */
export function frameFilter(sel: FrameSelection): BpfInsn[] {
  const arpOps = sel.arpOps ?? [];
  const types = sel.icmp6Types ?? [];
  const prog: Item[] = [];
  prog.push({ insn: op(LD | B | ABS, AD_VLAN_TAG_PRESENT) });
  prog.push(jeq(0, 'ether', 'next'));
  prog.push({ insn: op(LD | H | ABS, AD_VLAN_TAG) });
  prog.push({ insn: op(ALU | AND | K, 0x0fff) });
  prog.push(jeq(0, 'next', 'reject'));
  prog.push({ insn: op(LD | H | ABS, 12), label: 'ether' });
  if (arpOps.length > 0) {
    prog.push(jeq(0x0806, 'next', types.length > 0 ? 'ipv6' : 'reject'));
    prog.push({ insn: op(LD | H | ABS, 20) });
    arpOps.forEach((o, i) => prog.push(jeq(o, 'accept', i === arpOps.length - 1 ? 'reject' : 'next')));
  }
  if (types.length > 0) {
    prog.push(jeq(0x86dd, 'next', 'reject', 'ipv6'));
    prog.push({ insn: op(LD | B | ABS, 20) });
    prog.push(jeq(ICMPV6, 'direct', 'next'));
    prog.push(jeq(IPV6_HOP_BY_HOP, 'ext', 'next'));
    prog.push(jeq(IPV6_DEST_OPTS, 'ext', 'reject'));
    // One extension header: its next header must be ICMPv6; the type lies (len + 1) * 8 bytes on.
    prog.push({ insn: op(LD | B | ABS, 54), label: 'ext' });
    prog.push(jeq(ICMPV6, 'next', 'reject'));
    prog.push({ insn: op(LD | B | ABS, 55) });
    prog.push({ insn: op(ALU | LSH | K, 3) });
    prog.push({ insn: op(ALU | ADD | K, 54 + 8) });
    prog.push({ insn: op(MISC | TAX) });
    prog.push({ insn: op(JMP | JA), to: 'type' });
    prog.push({ insn: op(LDX | W | IMM, 54), label: 'direct' });
    prog.push({ insn: op(LD | B | IND, 0), label: 'type' });
    types.forEach((t, i) => prog.push(jeq(t, 'accept', i === types.length - 1 ? 'reject' : 'next')));
  }
  const labels = new Map<string, number>([
    ['accept', prog.length],
    ['reject', prog.length + 1],
  ]);
  prog.forEach((p, i) => p.label && labels.set(p.label, i));
  const resolve = (from: number, target: string | undefined): number => {
    if (target === undefined || target === 'next') return 0;
    const to = labels.get(target);
    if (to === undefined) throw new Error(`frameFilter: no label ${target}`);
    return to - from - 1;
  };
  const out = prog.map((p, i) => (p.to !== undefined ? { ...p.insn, k: resolve(i, p.to) } : { ...p.insn, jt: resolve(i, p.jt), jf: resolve(i, p.jf) }));
  out.push(op(RET | K, 0x40000), op(RET | K, 0));
  return out;
}

/** The program as struct sock_filter[] in host byte order, for SO_ATTACH_FILTER. */
export function encodeFilter(prog: BpfInsn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((insn, i) => {
    const o = i * 8;
    if (LITTLE_ENDIAN) {
      buf.writeUInt16LE(insn.code, o);
      buf.writeUInt32LE(insn.k >>> 0, o + 4);
    } else {
      buf.writeUInt16BE(insn.code, o);
      buf.writeUInt32BE(insn.k >>> 0, o + 4);
    }
    buf.writeUInt8(insn.jt, o + 2);
    buf.writeUInt8(insn.jf, o + 3);
  });
  return buf;
}

/** What the kernel knows of a frame beside its bytes (the ancillary loads we use). */
export interface FrameMeta {
  /** The 802.1Q TCI when the frame carried a tag (the kernel strips it into metadata). */
  vlanTci?: number;
}

/** Runs the program on a frame in JS, as the kernel would: the snap length to keep, 0 for drop. For tests. */
export function runFilter(prog: BpfInsn[], frame: Uint8Array, meta: FrameMeta = {}): number {
  let a = 0;
  let x = 0;
  const load = (k: number, size: 1 | 2): number | null => {
    if (k === AD_VLAN_TAG_PRESENT) return meta.vlanTci === undefined ? 0 : 1;
    if (k === AD_VLAN_TAG) return meta.vlanTci ?? 0;
    if (k + size > frame.length) return null;
    return size === 1 ? frame[k] : (frame[k] << 8) | frame[k + 1];
  };
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc];
    let v: number | null = 0;
    switch (code) {
      case LD | H | ABS:
      case LD | B | ABS:
        v = load(k, code === (LD | H | ABS) ? 2 : 1);
        if (v === null) return 0;
        a = v;
        break;
      case LD | B | IND:
        v = load(x + k, 1);
        if (v === null) return 0;
        a = v;
        break;
      case LDX | W | IMM:
        x = k;
        break;
      case ALU | AND | K:
        a = (a & k) >>> 0;
        break;
      case ALU | LSH | K:
        a = (a << k) >>> 0;
        break;
      case ALU | ADD | K:
        a = (a + k) >>> 0;
        break;
      case MISC | TAX:
        x = a;
        break;
      case JMP | JA:
        pc += k;
        break;
      case JMP | JEQ | K:
        pc += a === k ? jt : jf;
        break;
      case RET | K:
        return k;
      default:
        throw new Error(`runFilter: unsupported opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  return 0;
}
