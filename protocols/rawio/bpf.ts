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
const JMP = 0x05;
const RET = 0x06;
const H = 0x08;
const B = 0x10;
const ABS = 0x20;
const JEQ = 0x10;
const K = 0x00;

const ldh = (k: number): BpfInsn => ({ code: LD | H | ABS, jt: 0, jf: 0, k });
const ldb = (k: number): BpfInsn => ({ code: LD | B | ABS, jt: 0, jf: 0, k });
const ret = (k: number): BpfInsn => ({ code: RET | K, jt: 0, jf: 0, k });

export interface FrameSelection {
  /** ARP opcodes to accept (1 request, 2 reply); none: no ARP. */
  arpOps?: number[];
  /** ICMPv6 types to accept when ICMPv6 directly follows the IPv6 header; none: no IPv6. */
  icmp6Types?: number[];
}

/**
 * Builds the program. Layout: ethertype test, then for ARP the opcode at byte 20, for IPv6 the next
 * header (byte 20) = 58 and the ICMPv6 type at byte 54. Jumps are resolved against the final length.
 */
export function frameFilter(sel: FrameSelection): BpfInsn[] {
  const arpOps = sel.arpOps ?? [];
  const types = sel.icmp6Types ?? [];
  // Symbolic targets: 'accept' | 'reject' | 'ipv6' | next instruction (0 offset).
  type Target = 'accept' | 'reject' | 'ipv6' | 'next';
  const prog: Array<{ insn: BpfInsn; jt?: Target; jf?: Target; label?: string }> = [];
  prog.push({ insn: ldh(12) });
  if (arpOps.length > 0) {
    prog.push({ insn: { code: JMP | JEQ | K, jt: 0, jf: 0, k: 0x0806 }, jt: 'next', jf: 'ipv6' });
    prog.push({ insn: ldh(20) });
    arpOps.forEach((op, i) => {
      prog.push({ insn: { code: JMP | JEQ | K, jt: 0, jf: 0, k: op }, jt: 'accept', jf: i === arpOps.length - 1 ? 'reject' : 'next' });
    });
  }
  const ipv6Start = prog.length;
  if (types.length > 0) {
    prog.push({ insn: { code: JMP | JEQ | K, jt: 0, jf: 0, k: 0x86dd }, jt: 'next', jf: 'reject', label: 'ipv6' });
    prog.push({ insn: ldb(20) });
    prog.push({ insn: { code: JMP | JEQ | K, jt: 0, jf: 0, k: 58 }, jt: 'next', jf: 'reject' });
    prog.push({ insn: ldb(54) });
    types.forEach((t, i) => {
      prog.push({ insn: { code: JMP | JEQ | K, jt: 0, jf: 0, k: t }, jt: 'accept', jf: i === types.length - 1 ? 'reject' : 'next' });
    });
  }
  const acceptAt = prog.length;
  const rejectAt = prog.length + 1;
  const resolve = (from: number, target: Target | undefined): number => {
    if (target === undefined || target === 'next') return 0;
    const to = target === 'accept' ? acceptAt : target === 'reject' ? rejectAt : types.length > 0 ? ipv6Start : rejectAt;
    return to - from - 1;
  };
  const out = prog.map((p, i) => ({ ...p.insn, jt: resolve(i, p.jt), jf: resolve(i, p.jf) }));
  out.push(ret(0x40000), ret(0));
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

/** Runs the program on a frame in JS, as the kernel would: the snap length to keep, 0 for drop. For tests. */
export function runFilter(prog: BpfInsn[], frame: Uint8Array): number {
  let a = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc];
    if (code === (LD | H | ABS)) {
      if (k + 2 > frame.length) return 0;
      a = (frame[k] << 8) | frame[k + 1];
    } else if (code === (LD | B | ABS)) {
      if (k + 1 > frame.length) return 0;
      a = frame[k];
    } else if (code === (JMP | JEQ | K)) {
      pc += a === k ? jt : jf;
    } else if (code === (RET | K)) {
      return k;
    } else {
      throw new Error(`runFilter: unsupported opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  return 0;
}
