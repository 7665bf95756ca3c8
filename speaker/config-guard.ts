// The speaker's side of config refusal: a new config is refused (the old one stays in force) when
// a VIP this speaker announces now would fall out of every pool or change protocol, exactly the
// cases in which applying it would silently withdraw a working Service. The controller refuses the
// same configs for its allocations; this guards the speakers during the window they differ.
import type { Config } from '../config/model.js';
import { poolContaining } from './pool-lookup.js';

export interface BreakingVip {
  service: string;
  ip: string;
  reason: string;
}

/** What `next` would break among `announced` (service -> IPs, pool name, protocol); empty = acceptable. */
export function breakingVips(
  next: Config,
  announced: Iterable<[string, { ips: readonly string[]; pool: string; protocol: string }]>,
): BreakingVip[] {
  const out: BreakingVip[] = [];
  for (const [service, a] of announced) {
    for (const ip of a.ips) {
      const pool = poolContaining(next, ip);
      if (!pool) out.push({ service, ip, reason: `${ip} would be in no address pool (was in "${a.pool}")` });
      else if (pool.protocol !== a.protocol) out.push({ service, ip, reason: `pool "${pool.name}" would announce ${ip} by ${pool.protocol}, not ${a.protocol}` });
    }
  }
  return out;
}

/** Event note for a refused config, naming each Service and VIP. */
export function breakingVipsNote(breaking: readonly BreakingVip[]): string {
  const services = new Set(breaking.map((b) => b.service)).size;
  return `config refused by the speaker, it would withdraw VIPs of ${services} Service${services === 1 ? '' : 's'} announced now; keeping the config in force: ${breaking.map((b) => `${b.service} ${b.ip}: ${b.reason}`).join('; ')}`;
}
