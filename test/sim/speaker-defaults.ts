// The timing defaults `herald speaker` runs with, read from its command definition (cli/speaker.ts)
// rather than copied, so the simulator follows whatever the daemon's defaults become.
import { Command } from 'commander';
import { register } from '../../cli/speaker.js';
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
    renewMs: ms('--lease-renew'),
    leaseDurationMs: ms('--lease-duration'),
    periodMs: ms('--liveness-period'),
    probeTimeoutMs: ms('--liveness-probe-timeout'),
    suspicionMs: ms('--liveness-suspicion'),
  };
}
