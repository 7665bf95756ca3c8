// Issue 16.3's target: 0 leaked addresses and 0 duplicates over 1,000 randomized churn-and-restart
// runs of the controller's model test (test/unit/controller/churn-model.ts: Service churn, config
// changes, API errors, leadership lost and won, process restarts, API events between a new leader's
// list and its restore). One figure per line.
import fc from 'fast-check';
import { commandsArb, runChurn } from '../unit/controller/churn-model.js';

const runs = Number(process.env.HERALD_CHURN_RUNS ?? 1000);
const seed = Number(process.env.HERALD_CHURN_SEED ?? Date.now() % 2 ** 31);
const totals = { leaked: 0, duplicates: 0, outsideConfig: 0, inconsistent: 0 };
let failedRuns = 0;
let commands = 0;
let first: string | undefined;
const t0 = performance.now();
for (const seq of fc.sample(commandsArb, { numRuns: runs, seed })) {
  commands += seq.length;
  const v = await runChurn(seq);
  totals.leaked += v.leaked;
  totals.duplicates += v.duplicates;
  totals.outsideConfig += v.outsideConfig;
  totals.inconsistent += v.inconsistent;
  if (v.first) {
    failedRuns++;
    first ??= `${v.first} in ${JSON.stringify(seq)}`;
  }
}
const s = (performance.now() - t0) / 1000;
console.log(`churn_runs ${runs}`);
console.log(`churn_seed ${seed}`);
console.log(`churn_commands ${commands}`);
console.log(`churn_leaked_addresses ${totals.leaked}`);
console.log(`churn_duplicate_addresses ${totals.duplicates}`);
console.log(`churn_addresses_outside_config ${totals.outsideConfig}`);
console.log(`churn_status_allocator_mismatches ${totals.inconsistent}`);
console.log(`churn_failed_runs ${failedRuns}`);
console.log(`churn_wall_seconds ${s.toFixed(1)}`);
if (first) console.log(`# first violation: ${first}`);
