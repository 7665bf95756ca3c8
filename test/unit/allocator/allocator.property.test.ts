import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AddressPool, Config, Family, NodeSelector, ServiceAllocation } from '../../../config/model.js';
import { AllocationError, Allocator } from '../../../allocator/allocator.js';
import { formatIp, isBuggyIp, parseIp } from '../../../allocator/ip.js';
import type { ServiceRequest } from '../../../allocator/service-request.js';
import { neverHost } from '../../../config/never-host.js';
import { ReferenceAllocator, type RefResult } from './reference-model.js';

// Small blocks that straddle .255/.0 so avoid-buggy-ips matters, spaced so pools never overlap; and
// blocks at and around addresses that can never be a host's (0.0.0.0, loopback, multicast, 240/4,
// 255.255.255.255, ::, ::1, ff00::/8), which no pool may hand out whatever it says.
const V4_BASE = parseIp('198.51.100.250')!.num;
const V6_BASE = parseIp('2001:db8::')!.num;
const BLOCKS = 6;
const V4_TOP = (1n << 32n) - 1n;
const V6_TOP = (1n << 128n) - 1n;
const SPECIAL: Record<Family, bigint[]> = {
  ipv4: ['0.0.0.0', '126.255.255.254', '223.255.255.251', '255.255.255.247'].map((t) => parseIp(t)!.num),
  ipv6: ['::', 'feff:ffff:ffff:ffff:ffff:ffff:ffff:fffc', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff7', '::100'].map((t) => parseIp(t)!.num),
};
const ALL_BLOCKS = BLOCKS + 4;

interface Block {
  family: Family;
  index: number;
  length: number;
}

function blockStart(b: { family: Family; index: number }): bigint {
  if (b.index >= BLOCKS) return SPECIAL[b.family][b.index - BLOCKS];
  return b.family === 'ipv4' ? V4_BASE + 256n * BigInt(b.index) : V6_BASE + 256n * BigInt(b.index);
}

/** start + offset, kept inside the family's address space. */
function within(family: Family, start: bigint, offset: number): bigint {
  const top = family === 'ipv4' ? V4_TOP : V6_TOP;
  const n = start + BigInt(offset);
  return n > top ? top : n;
}

const blockArb: fc.Arbitrary<Block> = fc.record({
  family: fc.constantFrom<Family>('ipv4', 'ipv6'),
  index: fc.integer({ min: 0, max: ALL_BLOCKS - 1 }),
  length: fc.integer({ min: 1, max: 9 }),
});

/** Selectors of matchLabels only (the reference evaluates them by hand); priorities collide on purpose. */
const labelSelectorArb = (key: string, values: string[]): fc.Arbitrary<NodeSelector[]> =>
  fc.array(fc.constantFrom(...values).map((v) => ({ matchLabels: { [key]: v }, matchExpressions: [] })), { maxLength: 2 });
const serviceAllocationArb: fc.Arbitrary<ServiceAllocation> = fc
  .record({
    priority: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    namespaces: fc.subarray(['ns', 'team']),
    namespaceSelectors: labelSelectorArb('team', ['a', 'b']),
    serviceSelectors: labelSelectorArb('tier', ['web', 'db']),
  })
  .map(({ priority, ...rest }) => (priority === undefined ? rest : { priority, ...rest }));

const configArb: fc.Arbitrary<Config> = fc
  .array(
    fc.record({
      blocks: fc.array(blockArb, { minLength: 1, maxLength: 3 }),
      autoAssign: fc.boolean(),
      avoidBuggyIps: fc.boolean(),
      serviceAllocation: fc.option(serviceAllocationArb, { nil: undefined, freq: 2 }),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((pools) => {
    const used = new Set<string>();
    const out: AddressPool[] = [];
    pools.forEach((p, i) => {
      const addresses = p.blocks
        .filter((b) => !used.has(`${b.family}${b.index}`) && used.add(`${b.family}${b.index}`))
        .map((b) => {
          const first = blockStart(b);
          const last = within(b.family, first, b.length - 1);
          return { family: b.family, first, last, source: `${formatIp(b.family, first)}-${formatIp(b.family, last)}` };
        });
      if (addresses.length > 0) {
        const pool: AddressPool = { name: `p${i}`, protocol: 'layer2', addresses, autoAssign: p.autoAssign, avoidBuggyIps: p.avoidBuggyIps, bgpAdvertisements: [] };
        if (p.serviceAllocation) pool.serviceAllocation = p.serviceAllocation;
        out.push(pool);
      }
    });
    return { peers: [], bgpCommunities: {}, pools: out, bfdProfiles: [] };
  })
  .filter((c) => c.pools.length > 0);

type Op = { kind: 'allocate'; request: ServiceRequest } | { kind: 'release'; key: string };

const KEYS = ['ns/a', 'ns/b', 'ns/c', 'ns/d', 'ns/e', 'team/f', 'team/g', 'other/h'];
/** Each namespace's labels (fixed for a run, as a Namespace's usually are). */
const NAMESPACE_LABELS: Record<string, Record<string, string>> = { ns: { team: 'a' }, team: { team: 'b' }, other: {} };

const requestArb: fc.Arbitrary<ServiceRequest> = fc
  .record({
    key: fc.constantFrom(...KEYS),
    families: fc.constantFrom<Family[]>(['ipv4'], ['ipv6'], ['ipv4', 'ipv6'], ['ipv6', 'ipv4']),
    pool: fc.option(fc.constantFrom('p0', 'p1', 'p2', 'ghost'), { nil: undefined, freq: 3 }),
    ask: fc.option(fc.record({ first: fc.boolean(), index: fc.integer({ min: 0, max: ALL_BLOCKS - 1 }), offset: fc.integer({ min: 0, max: 10 }) }), { nil: undefined, freq: 2 }),
    sharingKey: fc.option(fc.constantFrom('k1', 'k2'), { nil: undefined, freq: 2 }),
    port: fc.integer({ min: 1, max: 3 }),
    local: fc.boolean(),
    app: fc.constantFrom('x', 'y'),
    tier: fc.option(fc.constantFrom('web', 'db'), { nil: undefined }),
  })
  .map((r) => {
    const requestedIps: string[] = [];
    if (r.ask) {
      const family = r.ask.first ? r.families[0] : r.families[r.families.length - 1];
      requestedIps.push(formatIp(family, within(family, blockStart({ family, index: r.ask.index }), r.ask.offset)));
    }
    const req: ServiceRequest = {
      key: r.key,
      families: r.families,
      requestedIps,
      ports: [{ protocol: 'TCP', port: r.port }],
      externalTrafficPolicy: r.local ? 'Local' : 'Cluster',
      selector: { app: r.app },
    };
    if (r.pool !== undefined) req.pool = r.pool;
    if (r.sharingKey !== undefined) req.sharingKey = r.sharingKey;
    if (r.tier !== undefined) req.labels = { tier: r.tier };
    req.namespaceLabels = NAMESPACE_LABELS[r.key.split('/')[0]];
    return req;
  });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: requestArb.map((request) => ({ kind: 'allocate' as const, request })) },
  { weight: 1, arbitrary: fc.constantFrom(...KEYS).map((key) => ({ kind: 'release' as const, key })) },
);

function run(a: Allocator, req: ServiceRequest): RefResult {
  try {
    const r = a.allocate(req);
    return { ok: true, ips: r.ips, pool: r.pool };
  } catch (e) {
    if (!(e instanceof AllocationError)) throw e;
    const f = e.failure;
    return 'ip' in f && (f.reason === 'ip-not-in-pool' || f.reason === 'ip-excluded' || f.reason === 'pool-mismatch' || f.reason === 'ip-in-use' || f.reason === 'pool-not-allowed')
      ? { ok: false, reason: f.reason, ip: f.ip }
      : { ok: false, reason: f.reason };
  }
}

/** Invariants that hold after every operation, whatever the rules chose. */
function checkInvariants(a: Allocator, config: Config, requests: Map<string, ServiceRequest>): void {
  const holders = new Map<string, string[]>();
  for (const asg of a.assignments()) {
    const req = requests.get(asg.key)!;
    // Families: one address per family asked for, in the Service's order.
    expect(asg.ips.map((ip) => parseIp(ip)!.family)).toEqual(req.families);
    const pools = new Set<string | undefined>();
    for (const ip of asg.ips) {
      holders.set(ip, [...(holders.get(ip) ?? []), asg.key]);
      const poolName = a.poolOf(ip);
      pools.add(poolName);
      const pool = config.pools.find((p) => p.name === poolName);
      // Always in a pool, the named one if any. (Which pools a fresh allocation may use is checked
      // against the reference; a Service keeps an address it holds when it merely drops its pool annotation.)
      expect(pool).toBeDefined();
      if (req.pool !== undefined) expect(poolName).toBe(req.pool);
      const p = parseIp(ip)!;
      if (pool!.avoidBuggyIps) expect(isBuggyIp(p.family, p.num)).toBe(false);
      expect(neverHost(p.family, p.num)).toBeUndefined();
    }
    expect(pools.size).toBe(1);
    for (const ip of req.requestedIps) expect(asg.ips).toContain(ip);
  }
  // Never collide: an address with several holders is shared by compatible Services only.
  for (const [, keys] of holders) {
    if (keys.length < 2) continue;
    const reqs = keys.map((k) => requests.get(k)!);
    expect(new Set(reqs.map((r) => r.sharingKey)).size).toBe(1);
    expect(reqs[0].sharingKey).toBeDefined();
    expect(new Set(reqs.map((r) => `${r.externalTrafficPolicy}/${r.externalTrafficPolicy === 'Local' ? r.selector.app : ''}`)).size).toBe(1);
    const ports = reqs.flatMap((r) => r.ports.map((p) => `${p.protocol}/${p.port}`));
    expect(new Set(ports).size).toBe(ports.length);
  }
  // Stats count distinct held addresses per pool.
  for (const s of a.stats()) {
    for (const family of ['ipv4', 'ipv6'] as const) {
      const held = [...holders.keys()].filter((ip) => a.poolOf(ip) === s.name && parseIp(ip)!.family === family).length;
      expect(s[family]?.inUse ?? 0).toBe(held);
    }
  }
}

/**
 * Replays `ops` on a fresh allocator and on the reference: the same answer to each, every invariant
 * after each (and `afterEach`'s checks). Returns the allocator and the requests its Services made.
 */
function replayAgainstReference(
  config: Config,
  ops: readonly Op[],
  afterEach?: (a: Allocator, ref: ReferenceAllocator) => void,
): { a: Allocator; requests: Map<string, ServiceRequest> } {
  const a = new Allocator(config);
  const ref = new ReferenceAllocator(config);
  const requests = new Map<string, ServiceRequest>();
  for (const op of ops) {
    if (op.kind === 'release') {
      expect(a.release(op.key)).toBe(ref.release(op.key));
      requests.delete(op.key);
    } else {
      const before = a.assignmentOf(op.request.key);
      const got = run(a, op.request);
      expect(got).toEqual(ref.allocate(op.request));
      if (got.ok) requests.set(op.request.key, op.request);
      // A fresh allocation without a named pool or requested address uses only auto-assign pools.
      if (got.ok && op.request.pool === undefined && op.request.requestedIps.length === 0 && [...(before?.ips ?? [])].sort().join() !== [...got.ips].sort().join()) {
        expect(config.pools.find((p) => p.name === got.pool)!.autoAssign).toBe(true);
      }
    }
    checkInvariants(a, config, requests);
    afterEach?.(a, ref);
  }
  return { a, requests };
}

describe('Allocator properties', () => {
  it('agrees with a naive reference allocator on random operation sequences, keeping every invariant', () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { maxLength: 60 }), (config, ops) => {
        replayAgainstReference(config, ops);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with the reference on plain requests alone (the path without Choice objects: no address, pool or sharing asked for, pools in one order)', () => {
    const plainConfig = configArb.map((c) => ({ ...c, pools: c.pools.map(({ serviceAllocation: _, ...p }) => p) }));
    const plainOp: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: requestArb.map(({ pool: _p, sharingKey: _s, ...r }) => ({ kind: 'allocate' as const, request: { ...r, requestedIps: [] } })),
      },
      { weight: 1, arbitrary: fc.constantFrom(...KEYS).map((key) => ({ kind: 'release' as const, key })) },
    );
    fc.assert(
      fc.property(plainConfig, fc.array(plainOp, { maxLength: 60 }), (config, ops) => {
        replayAgainstReference(config, ops);
      }),
      { numRuns: 300 },
    );
  });

  it('release then allocate returns the lowest free address', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.integer({ min: 0, max: 39 }), { maxLength: 20 }),
        fc.boolean(),
        (count, releases, v6) => {
          const family: Family = v6 ? 'ipv6' : 'ipv4';
          const first = v6 ? V6_BASE : V4_BASE;
          const config: Config = {
            peers: [],
            bgpCommunities: {},
            bfdProfiles: [],
            pools: [{ name: 'p', protocol: 'bgp', autoAssign: true, avoidBuggyIps: !v6, bgpAdvertisements: [], addresses: [{ family, first, last: first + 63n, source: 'x' }] }],
          };
          const a = new Allocator(config);
          const mk = (key: string): ServiceRequest => ({ key, families: [family], requestedIps: [], ports: [], externalTrafficPolicy: 'Cluster', selector: {} });
          for (let i = 0; i < count; i++) a.allocate(mk(`ns/s${i}`));
          for (const r of releases) a.release(`ns/s${r}`);
          const held = new Set([...a.assignments()].map((x) => parseIp(x.ips[0])!.num));
          let expected = first;
          while (held.has(expected) || isBuggyIp(family, expected)) expected++;
          expect(parseIp(a.allocate(mk('ns/new')).ips[0])!.num).toBe(expected);
        },
      ),
    );
  });

  it('restore(assignments) then checkConfig(same config) breaks nothing and keeps every address', () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { maxLength: 60 }), (config, ops) => {
        const a = new Allocator(config);
        const requests = new Map<string, ServiceRequest>();
        for (const op of ops) {
          if (op.kind === 'release') {
            a.release(op.key);
            requests.delete(op.key);
          } else if (run(a, op.request).ok) requests.set(op.request.key, op.request);
        }
        const before = [...a.assignments()];
        const restarted = new Allocator(config);
        expect(restarted.restore(before.map((x) => ({ request: requests.get(x.key)!, ips: x.ips })))).toEqual([]);
        expect(restarted.checkConfig(config).filter((c) => c.breaking)).toEqual([]);
        expect([...restarted.assignments()]).toEqual(before);
        expect(restarted.stats()).toEqual(a.stats());
        // And re-allocating every Service moves nothing.
        for (const x of before) expect(restarted.allocate(requests.get(x.key)!)).toEqual(x);
      }),
      { numRuns: 200 },
    );
  });

  // IPv4 addresses are numbers inside the allocator (allocator/address.ts), IPv6 and the reference
  // bigints: IPv4 pools anywhere in the 32-bit space (both ends, across 2^31 where int32 arithmetic
  // would break, .0/.255 edges) give exactly what the bigint reference gives, and a restart from the
  // statuses reads every address back to the same place.
  it('IPv4 as numbers agrees with the bigint reference on pools anywhere in the address space', () => {
    const TOP = 2 ** 32 - 1;
    const startArb = fc.oneof(
      fc.constantFrom(0, 1, 2 ** 31 - 5, 2 ** 31, 2 ** 32 - 12, TOP, 0x7f000000 - 3, 0xe0000000 - 2, 0xc0a800fd),
      fc.integer({ min: 0, max: TOP }),
    );
    const v4ConfigArb: fc.Arbitrary<Config> = fc
      .array(fc.record({ start: startArb, length: fc.integer({ min: 1, max: 12 }), autoAssign: fc.boolean(), avoidBuggyIps: fc.boolean() }), { minLength: 1, maxLength: 3 })
      .map((specs) => {
        // Disjoint ranges: each one stops before the next one starts (in address order).
        const sorted = [...specs].sort((x, y) => x.start - y.start);
        const pools: AddressPool[] = [];
        sorted.forEach((p, i) => {
          const limit = i + 1 < sorted.length ? sorted[i + 1].start - 1 : TOP;
          if (i > 0 && p.start <= sorted[i - 1].start + sorted[i - 1].length - 1) return;
          const first = BigInt(p.start);
          const last = BigInt(Math.min(p.start + p.length - 1, limit));
          if (last < first) return;
          pools.push({ name: `p${i}`, protocol: 'layer2', addresses: [{ family: 'ipv4', first, last, source: `${formatIp('ipv4', first)}-${formatIp('ipv4', last)}` }], autoAssign: p.autoAssign, avoidBuggyIps: p.avoidBuggyIps, bgpAdvertisements: [] });
        });
        return { peers: [], bgpCommunities: {}, pools, bfdProfiles: [] };
      })
      .filter((c) => c.pools.length > 0);
    const v4OpArb = (config: Config): fc.Arbitrary<Op> => {
      const addresses = config.pools.flatMap((p) => p.addresses.map((r) => r.first));
      const requestArb4 = fc
        .record({
          key: fc.constantFrom(...KEYS),
          pool: fc.option(fc.constantFrom(...config.pools.map((p) => p.name), 'ghost'), { nil: undefined, freq: 3 }),
          ask: fc.option(fc.record({ base: fc.constantFrom(...addresses), offset: fc.integer({ min: -1, max: 13 }) }), { nil: undefined, freq: 3 }),
          sharingKey: fc.option(fc.constant('k1'), { nil: undefined, freq: 2 }),
          port: fc.integer({ min: 1, max: 2 }),
        })
        .map((r) => {
          const ask = r.ask && r.ask.base + BigInt(r.ask.offset);
          const req: ServiceRequest = {
            key: r.key,
            families: ['ipv4'],
            requestedIps: ask === undefined || ask < 0n || ask > BigInt(TOP) ? [] : [formatIp('ipv4', ask)],
            ports: [{ protocol: 'TCP', port: r.port }],
            externalTrafficPolicy: 'Cluster',
            selector: {},
          };
          if (r.pool !== undefined) req.pool = r.pool;
          if (r.sharingKey !== undefined) req.sharingKey = r.sharingKey;
          return req;
        });
      return fc.oneof(
        { weight: 4, arbitrary: requestArb4.map((request) => ({ kind: 'allocate' as const, request })) },
        { weight: 1, arbitrary: fc.constantFrom(...KEYS).map((key) => ({ kind: 'release' as const, key })) },
      );
    };
    const caseArb = v4ConfigArb.chain((config) => fc.tuple(fc.constant(config), fc.array(v4OpArb(config), { maxLength: 50 })));
    fc.assert(
      fc.property(caseArb, ([config, ops]) => {
        const { a, requests } = replayAgainstReference(config, ops, (live, ref) => {
          // Single-stack: each holder's one address is the reference's.
          for (const [ip, holders] of ref.holdings()) {
            expect(live.isTaken(ip)).toBe(true);
            expect(holders.map((k) => live.assignmentOf(k)?.ips[0])).toEqual(holders.map(() => ip));
          }
        });
        const before = [...a.assignments()];
        const restarted = new Allocator(config);
        expect(restarted.restore(before.map((x) => ({ request: requests.get(x.key)!, ips: x.ips })))).toEqual([]);
        expect([...restarted.assignments()]).toEqual(before);
        expect(restarted.stats()).toEqual(a.stats());
      }),
      { numRuns: 300 },
    );
  });

  // allocate() takes a fresh address straight from free space without looking it up among the held
  // ones: this holds only while every held address (ours, foreign, restored, kept across setConfig)
  // is out of its pool's free space. Mixed with foreign holds and config switches, a newly given
  // address is never one that something already took.
  it('never hands out an address something already takes (foreign holds, config switches)', () => {
    type Mixed = Op | { kind: 'foreign'; key: string; ip: string } | { kind: 'config'; config: Config };
    const foreignArb = fc.record({ key: fc.constantFrom('x/f1', 'x/f2'), family: fc.constantFrom<Family>('ipv4', 'ipv6'), index: fc.integer({ min: 0, max: BLOCKS - 1 }), offset: fc.integer({ min: 0, max: 10 }) })
      .map((f) => ({ kind: 'foreign' as const, key: f.key, ip: formatIp(f.family, within(f.family, blockStart(f), f.offset)) }));
    const mixedArb: fc.Arbitrary<Mixed> = fc.oneof(
      { weight: 5, arbitrary: opArb },
      { weight: 1, arbitrary: foreignArb },
      { weight: 1, arbitrary: configArb.map((config) => ({ kind: 'config' as const, config })) },
    );
    fc.assert(
      fc.property(configArb, fc.array(mixedArb, { maxLength: 60 }), (config, ops) => {
        const a = new Allocator(config);
        for (const op of ops) {
          if (op.kind === 'release') a.release(op.key);
          else if (op.kind === 'foreign') a.holdForeign(op.key, [op.ip]);
          else if (op.kind === 'config') a.setConfig(op.config);
          else {
            const before = new Set(a.addressesOf(op.request.key));
            const taken = new Map<string, string[]>();
            for (const key of [...KEYS, 'x/f1', 'x/f2']) for (const ip of key === op.request.key ? [] : a.addressesOf(key)) taken.set(ip, [...(taken.get(ip) ?? []), key]);
            const got = run(a, op.request);
            if (!got.ok) continue;
            for (const ip of got.ips) {
              if (before.has(ip) || op.request.requestedIps.includes(ip)) continue;
              // A fresh address, or one joined under the sharing rules (never a foreign one).
              const holders = taken.get(ip) ?? [];
              expect(holders.filter((k) => k.startsWith('x/'))).toEqual([]);
              if (holders.length > 0) expect(op.request.sharingKey).toBeDefined();
            }
          }
          // Every address anything takes is taken, and counted once in its pool's stats.
          const all = new Set([...KEYS, 'x/f1', 'x/f2'].flatMap((k) => a.addressesOf(k)));
          for (const ip of all) expect(a.isTaken(ip)).toBe(true);
          for (const s of a.stats()) {
            for (const family of ['ipv4', 'ipv6'] as const) {
              const held = [...all].filter((ip) => a.poolOf(ip) === s.name && parseIp(ip)!.family === family).length;
              expect(s[family]?.inUse ?? 0).toBe(held);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
