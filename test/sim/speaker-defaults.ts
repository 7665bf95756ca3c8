// The timing defaults `herald speaker` runs with when liveness is on (as the chart and manifests run
// it), read from its command definition (cli/speaker.ts) rather than copied, so the simulator follows
// whatever the daemon's defaults become: the liveness options' defaults, and the Lease renewal and
// duration the command switches to with --liveness-port (LIVENESS_LEASE_RENEW_MS / _DURATION_MS).
import { Command } from 'commander';
import { LIVENESS_LEASE_DURATION_MS, LIVENESS_LEASE_RENEW_MS, register } from '../../cli/speaker.js';
import { LIVENESS_FAST_RENEW_MS } from '../../speaker/speaker.js';
import type { SimTiming } from './scale-protocol.js';

export function speakerTimingDefaults(): SimTiming {
  const program = new Command();
  register(program);
  const speaker = program.commands.find((c) => c.name() === 'speaker');
  if (!speaker) throw new Error('cli/speaker.ts registers no speaker command');
  const ms = (flag: string): number => {
    const opt = speaker.options.find((o) => o.long === flag);
    const v: unknown = opt?.defaultValue;
    if (typeof v !== 'number') throw new Error(`herald speaker ${flag}: no numeric default (${String(v)})`);
    return v;
  };
  return {
    renewMs: Number(process.env.HERALD_BENCH_SCALE_RENEW_MS ?? LIVENESS_LEASE_RENEW_MS),
    leaseDurationMs: Number(process.env.HERALD_BENCH_SCALE_LEASE_DURATION_MS ?? LIVENESS_LEASE_DURATION_MS),
    fastRenewMs: Math.min(Number(process.env.HERALD_BENCH_SCALE_RENEW_MS ?? LIVENESS_LEASE_RENEW_MS), LIVENESS_FAST_RENEW_MS),
    periodMs: ms('--liveness-period'),
    probeTimeoutMs: ms('--liveness-probe-timeout'),
    suspicionMs: ms('--liveness-suspicion'),
  };
}
