// The /metrics text, formatted over several event-loop turns. prom-client's registry.metrics()
// formats every series in one turn: at 100,000 Services (herald_speaker_announced, a series each)
// that held the speaker's loop ~0.4 s per scrape, its Lease renewal waiting behind it. Here each
// metric's values are taken in one turn (a consistent snapshot: no series twice, none half-written),
// then formatted by prom-client itself in slices of at most `perTurn` series with a turn between
// slices, so the text is byte for byte what registry.metrics() writes.
import { Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { yieldToTimers } from './clock.js';

/** Series formatted per event-loop turn. */
export const SERIES_PER_TURN = 2000;

type Values = MetricObjectWithValues<MetricValue<string>>;

/** What getMetricsAsString() reads of a metric: get() (or getForPromString(), for histograms). */
interface Readable {
  get(): Promise<Values>;
  getForPromString?(): Promise<Values>;
}

/** prom-client's formatter of one metric (what registry.metrics() joins; not in its type declarations: the unit test compares the two texts). */
interface Formatter {
  getMetricsAsString(metric: Readable): Promise<string>;
}

/** The exposition text of `registry`, as registry.metrics() writes it; awaits `pause` between slices of `perTurn` series. */
export async function metricsText(registry: Registry, perTurn = SERIES_PER_TURN, pause: () => Promise<void> = yieldToTimers): Promise<string> {
  // OpenMetrics renames counters in place: left to prom-client (Herald's registries are Prometheus text).
  if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) return registry.metrics();
  const format = registry as unknown as Formatter;
  const texts: string[] = [];
  let sinceBreak = 0;
  for (const metric of registry.getMetricsAsArray() as unknown as Readable[]) {
    const got = metric.getForPromString ? await metric.getForPromString() : await metric.get();
    const values = got.values;
    if (values.length <= perTurn) {
      texts.push(await format.getMetricsAsString(fixed(got)));
      sinceBreak += values.length;
    } else {
      let text = '';
      for (let i = 0; i < values.length; i += perTurn) {
        if (sinceBreak >= perTurn) {
          await pause();
          sinceBreak = 0;
        }
        const slice = await format.getMetricsAsString(fixed({ ...got, values: values.slice(i, i + perTurn) }));
        // Each slice comes with the "# HELP" and "# TYPE" lines: kept once, before the first.
        text += i === 0 ? slice : slice.slice(slice.indexOf('\n', slice.indexOf('\n') + 1));
        sinceBreak += perTurn;
      }
      texts.push(text);
    }
    if (sinceBreak >= perTurn) {
      await pause();
      sinceBreak = 0;
    }
  }
  return `${texts.join('\n\n')}\n`;
}

/** A metric whose get() answers `values` (already collected): getMetricsAsString() formats it without collecting again. */
function fixed(values: Values): Readable {
  return { get: () => Promise.resolve(values) };
}
