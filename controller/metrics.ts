// The controller's metrics: pool capacity and use, and leadership, on top of the shared ones.
import { Gauge } from 'prom-client';
import { DaemonMetrics, type DaemonMetricsOptions } from '../kube/daemon-metrics.js';

export class ControllerMetrics extends DaemonMetrics {
  readonly addressesTotal: Gauge<'pool'>;
  readonly addressesInUse: Gauge<'pool'>;
  readonly leader: Gauge;
  /** Pools with series (prom-client keeps no synchronous index of label values). */
  private readonly pools = new Set<string>();

  constructor(options: DaemonMetricsOptions = {}) {
    super(options);
    const registers = [this.registry];
    this.addressesTotal = new Gauge({
      name: 'herald_allocator_addresses_total',
      help: 'Usable addresses in the pool (IPv6 pools beyond 2^53 are approximate).',
      labelNames: ['pool'],
      registers,
    });
    this.addressesInUse = new Gauge({
      name: 'herald_allocator_addresses_in_use_total',
      help: 'Addresses of the pool assigned to Services (a shared IP counts once).',
      labelNames: ['pool'],
      registers,
    });
    this.leader = new Gauge({
      name: 'herald_leader',
      help: '1 while this controller replica is the leader (the only one writing), else 0.',
      registers,
    });
    this.leader.set(0);
  }

  /** Current size and use of `pool`. */
  setPool(pool: string, total: number | bigint, inUse: number | bigint): void {
    this.addressesTotal.set({ pool }, Number(total));
    this.addressesInUse.set({ pool }, Number(inUse));
    this.pools.add(pool);
  }

  /** Make the pool series match the config's pools: series of removed pools go. */
  retainPools(pools: Iterable<string>): void {
    const keep = new Set(pools);
    for (const pool of [...this.pools]) if (!keep.has(pool)) this.removePool(pool);
  }

  removePool(pool: string): void {
    this.addressesTotal.remove({ pool });
    this.addressesInUse.remove({ pool });
    this.pools.delete(pool);
  }

  setLeader(isLeader: boolean): void {
    this.leader.set(isLeader ? 1 : 0);
  }
}
