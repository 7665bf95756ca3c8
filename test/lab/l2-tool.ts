// Client-side tool for the layer2 labs and benchmarks, run inside a lab namespace with tsx:
//   flood  --iface I --src-ip A --src-mac M --target VIP --other VIP2 --rate PPS --seconds S [--other-every N]
//          bounded ARP request flood for VIP, every Nth request for VIP2 instead; counts replies of each.
//   rtt4 / rtt6 --iface I --src-ip A --src-mac M --target IP --count N [--interval-ms D]
//          request/answer round trips (ARP request / multicast NS), one at a time, RTT per answer.
//   fuzz   --iface I --src-mac M --dst-mac M2 --count N [--seed S]
//          random, truncated and mangled ARP/NDP frames, broadcast and unicast to M2.
//   rawio  --iface I
//          exercises the packet socket's error paths and multicast membership; reports what it saw.
//   hostile --iface I --src-mac M --src-ip4 A --src-ip6 A6 --owner-mac M2 --vip4 V --vip6 V6 [--wait-ms W]
//          every crafted frame class of hostile-frames.ts, one at a time; counts the owner's frames after each,
//          and after each conflict class a second claim of that VIP (inside the defend interval: no answer due).
//   answers --iface I --owner-mac M --vip4 V --vip6 V6 --ready-file F --stop-file F2 [--ring-bytes N]
//          counts the owner's ARP replies and NAs (for V / V6, and for any other address) until F2 exists;
//          creates F once its socket is open (the flood benchmark's capture, while trafgen sends).
// Prints one JSON object on stdout. Bounded in count and time; sends only on the given lab interface.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { arpRequestFrame, decodeArpFrame } from '../../protocols/arp/frames.js';
import { ARP_REPLY } from '../../protocols/arp/packet.js';
import { icmpv6Checksum } from '../../protocols/ndp/checksum.js';
import { decodeNdpFrame, solicitationFrame } from '../../protocols/ndp/frames.js';
import { formatIpv6, parseIpv6 } from '../../protocols/ndp/ipv6-address.js';
import { ICMPV6_NEIGHBOR_ADVERTISEMENT } from '../../protocols/ndp/messages.js';
import { PacketSocket } from '../../protocols/rawio/packet-socket.js';
import { macEquals, parseMac } from '../../protocols/rawio/mac.js';
import { claimFrames, hostileCases } from './hostile-frames.js';
import { parseIpv4 } from '../../protocols/arp/ipv4-address.js';

function args(): Map<string, string> {
  const out = new Map<string, string>();
  const a = process.argv.slice(3);
  for (let i = 0; i < a.length; i += 2) out.set(a[i].replace(/^--/, ''), a[i + 1]);
  return out;
}

function need(m: Map<string, string>, k: string): string {
  const v = m.get(k);
  if (v === undefined) throw new Error(`missing --${k}`);
  return v;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function flood(m: Map<string, string>): Promise<object> {
  const iface = need(m, 'iface');
  const srcMac = parseMac(need(m, 'src-mac'));
  const srcIp = need(m, 'src-ip');
  const target = need(m, 'target');
  const other = need(m, 'other');
  const rate = Number(m.get('rate') ?? 25000);
  const seconds = Math.min(Number(m.get('seconds') ?? 3), 30);
  const otherEvery = Number(m.get('other-every') ?? 50);
  const total = Math.floor(rate * seconds);
  let replies = 0;
  let repliesOther = 0;
  const sock = PacketSocket.open({
    iface,
    select: { arpOps: [ARP_REPLY] },
    onFrame: (f) => {
      try {
        const { arp } = decodeArpFrame(f);
        if (arp.senderIp === target) replies++;
        else if (arp.senderIp === other) repliesOther++;
      } catch {
        /* not ours */
      }
    },
  });
  const frameTarget = arpRequestFrame(srcIp, srcMac, target);
  const frameOther = arpRequestFrame(srcIp, srcMac, other);
  let sent = 0;
  let sentOther = 0;
  let dropped = 0;
  const start = performance.now();
  // Paced open loop: every turn of the event loop sends what the schedule says is due (at most a
  // batch), so replies are read between batches.
  while (sent + sentOther < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    let n = 0;
    while (sent + sentOther < due && n < 128) {
      const i = sent + sentOther;
      const isOther = i % otherEvery === otherEvery - 1;
      if (sock.send(isOther ? frameOther : frameTarget)) {
        if (isOther) sentOther++;
        else sent++;
      } else {
        dropped++;
        break;
      }
      n++;
    }
    await new Promise((r) => setImmediate(r));
    if (performance.now() - start > seconds * 1000 + 5000) break; // never run away
  }
  const sendSeconds = (performance.now() - start) / 1000;
  await sleep(300); // late replies
  const stats = sock.stats();
  sock.close();
  return { sent, sentOther, replies, repliesOther, sendSeconds, sendDrops: dropped, clientKernelDrops: stats.drops };
}

async function rtt(m: Map<string, string>, family: 4 | 6): Promise<object> {
  const iface = need(m, 'iface');
  const srcMac = parseMac(need(m, 'src-mac'));
  const srcIp = need(m, 'src-ip');
  const target = need(m, 'target');
  const count = Math.min(Number(m.get('count') ?? 100), 10000);
  const intervalMs = Number(m.get('interval-ms') ?? 5);
  const timeoutMs = Number(m.get('timeout-ms') ?? 200);
  let waiting: ((t: number) => void) | null = null;
  const targetKey = family === 6 ? formatIpv6(parseIpv6(target)) : target;
  const sock = PacketSocket.open({
    iface,
    select: family === 4 ? { arpOps: [ARP_REPLY] } : { icmp6Types: [ICMPV6_NEIGHBOR_ADVERTISEMENT] },
    onFrame: (f) => {
      const t = performance.now();
      try {
        const ok =
          family === 4
            ? decodeArpFrame(f).arp.senderIp === targetKey
            : (() => {
                const d = decodeNdpFrame(f);
                return d.msg.type === ICMPV6_NEIGHBOR_ADVERTISEMENT && d.msg.solicited && formatIpv6(d.msg.target) === targetKey;
              })();
        if (ok && waiting) waiting(t);
      } catch {
        /* not ours */
      }
    },
  });
  const frame = family === 4 ? arpRequestFrame(srcIp, srcMac, target) : solicitationFrame(parseIpv6(target), srcMac, parseIpv6(srcIp));
  const rtts: number[] = [];
  let lost = 0;
  for (let i = 0; i < count; i++) {
    const answered = new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      waiting = (t) => {
        clearTimeout(timer);
        resolve(t);
      };
    });
    const t0 = performance.now();
    sock.send(frame);
    const t1 = await answered;
    waiting = null;
    if (t1 === null) lost++;
    else rtts.push(t1 - t0);
    await sleep(intervalMs);
  }
  sock.close();
  return { rttsMs: rtts, lost };
}

/** A small deterministic PRNG so a failing fuzz run can be replayed with its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

async function fuzz(m: Map<string, string>): Promise<object> {
  const iface = need(m, 'iface');
  const srcMac = parseMac(need(m, 'src-mac'));
  const dstMac = parseMac(need(m, 'dst-mac'));
  const count = Math.min(Number(m.get('count') ?? 5000), 100000);
  const seed = Number(m.get('seed') ?? Date.now() % 100000);
  const rnd = prng(seed);
  const byte = () => Math.floor(rnd() * 256);
  const sock = PacketSocket.open({ iface, select: { arpOps: [] }, onFrame: () => {} });
  // Valid requests for the VIPs under test are the seeds of truncation and mangling; a truncated
  // or mangled one must not be answered.
  const templates = (m.get('targets') ?? '203.0.113.10,2001:db8:ffff::10').split(',').map((t) =>
    t.includes(':') ? solicitationFrame(parseIpv6(t), srcMac, parseIpv6('2001:db8:0:1::a')) : arpRequestFrame('192.0.2.10', srcMac, t),
  );
  const ns = templates.find((t) => t.readUInt16BE(12) === 0x86dd);
  let sent = 0;
  const kinds = { random: 0, truncated: 0, mangledOptions: 0, badChecksum: 0 };
  for (let i = 0; i < count; i++) {
    const dst = rnd() < 0.5 ? Buffer.alloc(6, 0xff) : dstMac;
    let frame: Buffer;
    let kind = Math.floor(rnd() * 4);
    if (kind >= 2 && !ns) kind = 1;
    if (kind === 0) {
      // Random body behind an ARP or IPv6 header, so it passes the kernel filter sometimes.
      const body = Buffer.from(Array.from({ length: Math.floor(rnd() * 100) }, byte));
      frame = Buffer.concat([dst, srcMac, Buffer.from(rnd() < 0.5 ? [0x08, 0x06] : [0x86, 0xdd]), body]);
      if (frame.length > 21 && frame[12] === 0x08) frame.writeUInt16BE(1, 20); // an ARP "request"
      if (frame.length > 54 && frame[12] === 0x86) {
        frame[20] = 58;
        frame[54] = 135;
      }
      kinds.random++;
    } else if (kind === 1) {
      const t = templates[Math.floor(rnd() * templates.length)];
      frame = Buffer.concat([dst, t.subarray(6, 14 + Math.floor(rnd() * (t.length - 15)))]);
      if (t.readUInt16BE(12) === 0x0806 && frame.length >= 42) frame = frame.subarray(0, 41);
      kinds.truncated++;
    } else if (kind === 2 && ns) {
      // Option length 0 (RFC 4861: discard) behind a correct checksum, so the option check is what rejects it.
      const t = Buffer.from(ns);
      t[79] = 0;
      t.writeUInt16BE(0, 56);
      t.writeUInt16BE(icmpv6Checksum(t.subarray(22, 38), t.subarray(38, 54), t.subarray(54)), 56);
      frame = t;
      kinds.mangledOptions++;
    } else {
      const t = Buffer.from(ns ?? templates[0]);
      t[56] ^= 0x5a; // the ICMPv6 checksum
      frame = t;
      kinds.badChecksum++;
    }
    if (sock.send(frame)) sent++;
    if (i % 200 === 199) await sleep(1);
  }
  await sleep(200);
  sock.close();
  return { seed, sent, kinds };
}

/** What a call threw: its class and code, or 'ok'. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return `${(e as Error).name}:${(e as { code?: string }).code ?? ''}`;
  }
}

async function rawio(m: Map<string, string>): Promise<object> {
  const iface = need(m, 'iface');
  const maddr = () => execFileSync('ip', ['maddr', 'show', 'dev', iface], { encoding: 'utf8' });
  const noop = () => {};
  const group = parseIpv6('ff02::1:ff00:99');
  const s = PacketSocket.open({ iface, select: { arpOps: [1] }, onFrame: noop });
  const joined = outcome(() => s.joinGroup(group));
  const listedAfterJoin = maddr().includes('ff02::1:ff00:99');
  const joinedTwice = outcome(() => s.joinGroup(group));
  const left = outcome(() => s.leaveGroup(group));
  const listedAfterLeave = maddr().includes('ff02::1:ff00:99');
  const badGroup = outcome(() => s.joinGroup(Buffer.alloc(15)));
  s.joinGroup(group);
  s.close();
  const listedAfterClose = maddr().includes('ff02::1:ff00:99');
  return {
    missingInterface: outcome(() => PacketSocket.open({ iface: 'nope0', select: { arpOps: [1] }, onFrame: noop })),
    longName: outcome(() => PacketSocket.open({ iface: 'x'.repeat(40), select: { arpOps: [1] }, onFrame: noop })),
    joined,
    listedAfterJoin,
    joinedTwice,
    left,
    listedAfterLeave,
    badGroup,
    listedAfterClose,
    closeTwice: outcome(() => s.close()),
    sendAfterClose: outcome(() => s.send(Buffer.alloc(60))),
  };
}

async function hostile(m: Map<string, string>): Promise<object> {
  const iface = need(m, 'iface');
  const params = {
    clientMac: parseMac(need(m, 'src-mac')),
    clientIp4: need(m, 'src-ip4'),
    clientIp6: need(m, 'src-ip6'),
    ownerMac: parseMac(need(m, 'owner-mac')),
    vip4: need(m, 'vip4'),
    vip6: need(m, 'vip6'),
  };
  const waitMs = Math.min(Number(m.get('wait-ms') ?? 300), 2000);
  let bucket: string | null = null;
  const seen: Record<string, number> = {};
  const vip4 = parseIpv4(params.vip4);
  const vip6 = parseIpv6(params.vip6);
  // Everything the owner sends: replies, NAs, and gratuitous (defensive) ARP requests.
  const sock = PacketSocket.open({
    iface,
    select: { arpOps: [1, 2], icmp6Types: [ICMPV6_NEIGHBOR_ADVERTISEMENT] },
    onFrame: (f) => {
      // The owner's frames about the VIPs (its kernel also answers the client's kernel for its own address).
      if (bucket === null || !macEquals(f.subarray(6, 12), params.ownerMac)) return;
      const aboutVip = f.readUInt16BE(12) === 0x0806 ? f.subarray(28, 32).equals(vip4) : f.length >= 78 && f.subarray(62, 78).equals(vip6);
      if (aboutVip) seen[bucket] = (seen[bucket] ?? 0) + 1;
    },
  });
  const sizes: Record<string, number> = {};
  const claims = claimFrames(params);
  const send = async (name: string, frame: Buffer) => {
    bucket = name;
    seen[name] = 0;
    sizes[name] = frame.length;
    sock.send(frame);
    await sleep(waitMs);
  };
  for (const c of hostileCases(params)) {
    await send(c.name, c.frame);
    // A second claim right after (inside the defend interval) must get no answer: no ARP war.
    if (c.expect === 'conflict') await send(`${c.name}: claimed again`, c.family === 4 ? claims.arp : claims.na);
  }
  bucket = null;
  sock.close();
  return { seen, sizes };
}

async function answers(m: Map<string, string>): Promise<object> {
  const iface = need(m, 'iface');
  const ownerMac = parseMac(need(m, 'owner-mac'));
  const vip4 = parseIpv4(need(m, 'vip4'));
  const vip6 = parseIpv6(need(m, 'vip6'));
  const stopFile = need(m, 'stop-file');
  let valid4 = 0;
  let valid6 = 0;
  let gratuitous = 0;
  const others: Record<string, number> = {};
  const sock = PacketSocket.open({
    iface,
    // A ring that holds every answer of a run even if this process gets no CPU meanwhile: what it
    // misses would count as unanswered (the count is the measurement, not the thing measured).
    kernelRingBytes: Number(m.get('ring-bytes') ?? 2 * 1024 * 1024),
    select: { arpOps: [1, 2], icmp6Types: [ICMPV6_NEIGHBOR_ADVERTISEMENT] },
    onFrame: (f) => {
      if (!macEquals(f.subarray(6, 12), ownerMac)) return;
      if (f.readUInt16BE(12) === 0x0806) {
        if (f.readUInt16BE(20) !== ARP_REPLY) gratuitous++;
        else if (f.subarray(28, 32).equals(vip4)) valid4++;
        else others[Array.from(f.subarray(28, 32)).join('.')] = (others[Array.from(f.subarray(28, 32)).join('.')] ?? 0) + 1;
      } else if (f.length >= 78) {
        if (f.subarray(62, 78).equals(vip6)) valid6++;
        else {
          const t = formatIpv6(Buffer.from(f.subarray(62, 78)));
          others[t] = (others[t] ?? 0) + 1;
        }
      }
    },
  });
  const cpu0 = process.cpuUsage();
  writeFileSync(need(m, 'ready-file'), 'ready\n');
  const end = performance.now() + 120_000; // never run away
  while (!existsSync(stopFile) && performance.now() < end) await sleep(20);
  const stats = sock.stats();
  sock.close();
  const cpu = process.cpuUsage(cpu0); // from ready: not the start-up's
  return { valid4, valid6, gratuitous, others, captureKernelDrops: stats.drops, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

const cmd = process.argv[2];
const m = args();
const run = cmd === 'flood' ? flood(m) : cmd === 'rtt4' ? rtt(m, 4) : cmd === 'rtt6' ? rtt(m, 6) : cmd === 'fuzz' ? fuzz(m) : cmd === 'rawio' ? rawio(m) : cmd === 'hostile' ? hostile(m) : cmd === 'answers' ? answers(m) : Promise.reject(new Error(`unknown command ${cmd}`));
run.then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  },
  (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
