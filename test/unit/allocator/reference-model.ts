// A deliberately naive allocator for property tests: plain sets and linear scans over every address
// of small pools, implementing the same rules as controller/allocator.ts the obvious way.
import type { Config, Family } from '../../../config/model.js';
import { formatIp, parseIp } from '../../../allocator/ip.js';
import { NEVER_HOST } from '../../../config/never-host.js';
import { requestSharing, type ServiceRequest } from '../../../allocator/service-request.js';
import { whyIncompatible, type Sharing } from '../../../allocator/sharing.js';

interface RefRecord {
  key: string;
  ips: string[];
  pool: string | undefined;
  sharing: Sharing | undefined;
}

export type RefResult = { ok: true; ips: string[]; pool: string | undefined } | { ok: false; reason: string; ip?: string };

interface Addr {
  family: Family;
  num: bigint;
  text: string;
  pool: number;
}

export class ReferenceAllocator {
  private readonly records = new Map<string, RefRecord>();
  /** Every address of every pool, in pool order then ascending (pools must not overlap). */
  private readonly addrs: Addr[] = [];

  constructor(private readonly config: Config) {
    config.pools.forEach((p, i) => {
      const mine: Addr[] = [];
      for (const r of p.addresses) for (let n = r.first; n <= r.last; n++) mine.push({ family: r.family, num: n, text: formatIp(r.family, n), pool: i });
      mine.sort((a, b) => (a.num < b.num ? -1 : a.num > b.num ? 1 : 0));
      this.addrs.push(...mine);
    });
  }

  private addr(text: string): Addr | undefined {
    return this.addrs.find((a) => a.text === text);
  }

  /** avoid-buggy-ips in bigint arithmetic (the allocator's own test works on IPv4 numbers: ip.ts). */
  private usable(a: Addr): boolean {
    return !(this.config.pools[a.pool].avoidBuggyIps && a.family === 'ipv4' && (a.num % 256n === 0n || a.num % 256n === 255n));
  }

  /** Usable and not an address that can never be a host's (checked the obvious way: every block, linearly). */
  private allocatable(a: Addr): boolean {
    return this.usable(a) && !NEVER_HOST.some((b) => b.family === a.family && a.num >= b.first && a.num <= b.last);
  }

  private users(text: string, except: string): RefRecord[] {
    return [...this.records.values()].filter((r) => r.key !== except && r.ips.includes(text));
  }

  private compatible(key: string, sharing: Sharing | undefined, text: string): boolean {
    return whyIncompatible(key, sharing, this.users(text, key)) === undefined;
  }

  allocate(req: ServiceRequest): RefResult {
    const sharing = requestSharing(req);
    const poolIndex = req.pool === undefined ? undefined : this.config.pools.findIndex((p) => p.name === req.pool);
    if (poolIndex === -1) return { ok: false, reason: 'unknown-pool' };
    const existing = this.records.get(req.key);
    if (existing && this.satisfies(existing, req, sharing)) {
      existing.pool = req.pool;
      existing.sharing = sharing;
      existing.ips.sort((x, y) => req.families.indexOf(this.addr(x)!.family) - req.families.indexOf(this.addr(y)!.family));
      return this.result(existing);
    }
    this.records.delete(req.key);
    const r = this.choose(req, sharing, poolIndex);
    if (!r.ok) {
      if (existing) this.records.set(req.key, existing);
      return r;
    }
    const rec = { key: req.key, ips: r.ips, pool: req.pool, sharing };
    this.records.set(req.key, rec);
    return this.result(rec);
  }

  release(key: string): boolean {
    return this.records.delete(key);
  }

  private result(rec: RefRecord): RefResult {
    return { ok: true, ips: [...rec.ips], pool: this.addr(rec.ips[0]) && this.config.pools[(this.addr(rec.ips[0]) as Addr).pool].name };
  }

  private satisfies(rec: RefRecord, req: ServiceRequest, sharing: Sharing | undefined): boolean {
    if (rec.ips.length !== req.families.length) return false;
    for (const ip of rec.ips) {
      const a = this.addr(ip);
      if (!a || !req.families.includes(a.family) || !this.usable(a)) return false;
      if (req.pool !== undefined && this.config.pools[a.pool].name !== req.pool) return false;
      if (!this.compatible(req.key, sharing, ip)) return false;
    }
    return req.requestedIps.every((ip) => rec.ips.includes(ip));
  }

  /**
   * serviceAllocation, the obvious way (the property test's selectors are matchLabels only): listed
   * namespace or a namespace selector (neither: any namespace), and a Service selector when there are some.
   */
  private allowed(pool: number, req: ServiceRequest): boolean {
    const sa = this.config.pools[pool].serviceAllocation;
    if (!sa) return true;
    const has = (labels: Record<string, string> | undefined, want: Record<string, string>): boolean => Object.entries(want).every(([k, v]) => labels?.[k] === v);
    const ns = req.key.split('/')[0];
    const nsOk = (sa.namespaces.length === 0 && sa.namespaceSelectors.length === 0) || sa.namespaces.includes(ns) || sa.namespaceSelectors.some((s) => has(req.namespaceLabels, s.matchLabels));
    const svcOk = sa.serviceSelectors.length === 0 || sa.serviceSelectors.some((s) => has(req.labels, s.matchLabels));
    return nsOk && svcOk;
  }

  /** Auto-assign pools the Service may use: with a matching serviceAllocation by priority (none last), then those without one. */
  private autoOrder(req: ServiceRequest): number[] {
    const key = (p: number): [number, number, number] => {
      const sa = this.config.pools[p].serviceAllocation;
      return [sa ? 0 : 1, sa?.priority ?? Number.MAX_SAFE_INTEGER, p];
    };
    const out: number[] = [];
    for (let p = 0; p < this.config.pools.length; p++) if (this.config.pools[p].autoAssign && this.allowed(p, req)) out.push(p);
    return out.sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
  }

  private choose(req: ServiceRequest, sharing: Sharing | undefined, named: number | undefined): RefResult {
    const chosen: Addr[] = [];
    let anchor: number | undefined;
    for (const ip of req.requestedIps) {
      const a = this.addr(ip);
      if (!a) return { ok: false, reason: 'ip-not-in-pool', ip };
      if (!this.allocatable(a)) return { ok: false, reason: 'ip-excluded', ip };
      const required = named ?? anchor;
      if (required !== undefined && a.pool !== required) return { ok: false, reason: 'pool-mismatch', ip };
      if (!this.allowed(a.pool, req)) return { ok: false, reason: 'pool-not-allowed', ip };
      anchor = a.pool;
      if (!this.compatible(req.key, sharing, ip)) return { ok: false, reason: 'ip-in-use', ip };
      chosen.push(a);
    }
    const missing = req.families.filter((f) => !chosen.some((c) => c.family === f));
    const order = (list: Addr[]): string[] => [...list].sort((x, y) => req.families.indexOf(x.family) - req.families.indexOf(y.family)).map((a) => a.text);
    if (missing.length === 0) return { ok: true, ips: order(chosen), pool: undefined };
    const hasFamily = (pool: number, f: Family): boolean => this.addrs.some((a) => a.pool === pool && a.family === f);
    const lowestFree = (pool: number, f: Family): Addr | undefined =>
      this.addrs.find((a) => a.pool === pool && a.family === f && this.allocatable(a) && this.users(a.text, req.key).length === 0);
    const join = (pools: number[]): Addr[] | undefined => {
      let best: Addr[] | undefined;
      const rank = (a: Addr): number => pools.indexOf(a.pool);
      for (const rec of this.records.values()) {
        if (rec.key === req.key || rec.sharing?.key !== sharing?.key) continue;
        const got = missing.map((f) => rec.ips.map((ip) => this.addr(ip)).find((a) => a?.family === f));
        if (got.some((a) => !a || !pools.includes(a.pool) || !this.allocatable(a) || !this.compatible(req.key, sharing, a.text))) continue;
        const addrs = got as Addr[];
        if (addrs.some((a) => a.pool !== addrs[0].pool)) continue;
        if (!best || rank(addrs[0]) < rank(best[0]) || (addrs[0].pool === best[0].pool && addrs[0].num < best[0].num)) best = addrs;
      }
      return best;
    };
    if (anchor !== undefined) {
      const pool = anchor;
      for (const f of missing) if (!hasFamily(pool, f)) return { ok: false, reason: 'family-mismatch' };
      const joined = sharing && join([pool]);
      if (joined) return { ok: true, ips: order([...chosen, ...joined]), pool: undefined };
      const fresh = missing.map((f) => lowestFree(pool, f));
      if (fresh.some((a) => !a)) return { ok: false, reason: 'pool-exhausted' };
      return { ok: true, ips: order([...chosen, ...(fresh as Addr[])]), pool: undefined };
    }
    if (named !== undefined && !this.allowed(named, req)) return { ok: false, reason: 'pool-not-allowed' };
    if (named !== undefined) for (const f of missing) if (!hasFamily(named, f)) return { ok: false, reason: 'family-mismatch' };
    const pools = named !== undefined ? [named] : this.autoOrder(req);
    if (sharing) {
      const joined = join(pools);
      if (joined) return { ok: true, ips: order(joined), pool: undefined };
    }
    let sawCandidate = false;
    for (const p of pools) {
      if (!missing.every((f) => hasFamily(p, f))) continue;
      sawCandidate = true;
      const fresh = missing.map((f) => lowestFree(p, f));
      if (fresh.every((a) => a)) return { ok: true, ips: order(fresh as Addr[]), pool: undefined };
    }
    return { ok: false, reason: sawCandidate ? 'pool-exhausted' : 'family-mismatch' };
  }

  /** Every held address with its holders, for invariant checks. */
  holdings(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const r of this.records.values()) for (const ip of r.ips) out.set(ip, [...(out.get(ip) ?? []), r.key]);
    return out;
  }

  familyOf(ip: string): Family | undefined {
    return parseIp(ip)?.family;
  }
}
