// Which pool a VIP belongs to under a config. The speaker does not learn the pool from the
// controller: like MetalLB's speaker it finds the pool whose ranges contain the Service's IPs, so
// the controller and the speakers agree as long as they run the same config.
import type { AddressPool, Config } from '../config/model.js';
import { parseIp } from './ip-prefix.js';

export type PoolLookup = { pool: AddressPool } | { pool: null; ip: string; reason: string };

/** The pool containing `ip`, or undefined (unparsable text counts as in no pool). */
export function poolContaining(config: Config, ip: string): AddressPool | undefined {
  let value;
  try {
    value = parseIp(ip);
  } catch {
    return undefined;
  }
  for (const pool of config.pools) {
    for (const r of pool.addresses) {
      if (r.family === value.family && r.first <= value.value && value.value <= r.last) return pool;
    }
  }
  return undefined;
}

/** The one pool holding every IP of a Service (dual-stack: both from the same pool), or why not. */
export function poolOfService(config: Config, ips: readonly string[]): PoolLookup {
  let found: AddressPool | undefined;
  for (const ip of ips) {
    const pool = poolContaining(config, ip);
    if (!pool) return { pool: null, ip, reason: `${ip} is in no address pool of the config` };
    if (found && found !== pool) return { pool: null, ip, reason: `${ip} is in pool "${pool.name}", ${ips[0]} in pool "${found.name}"` };
    found = pool;
  }
  if (!found) return { pool: null, ip: '', reason: 'the Service has no IPs' };
  return { pool: found };
}
