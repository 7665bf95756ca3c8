// The /metrics text, formatted over several event-loop turns. prom-client's registry.metrics()
// formats every series in one turn: at 100,000 Services (herald_speaker_announced, a series each)
// that held the speaker's loop ~0.4 s per scrape, its Lease renewal waiting behind it. Here each
// metric's values are taken in one turn (a consistent snapshot: no series twice, none half-written;
// an IterableMetric fixes only what it announces then and builds its series slice by slice), then
// formatted by prom-client itself in slices of at most `perTurn` series with a turn between slices,
// so the text is byte for byte what registry.metrics() writes.
import { Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { yieldToTimers } from './clock.js';

/** Series formatted per event-loop turn. */
export const SERIES_PER_TURN = 2000;

type Values = MetricObjectWithValues<MetricValue<string>>;

/** A metric's header (values empty) and its series, built as they are iterated (fixed when getIterable() was called). */
export interface IterableValues {
  metric: Values;
  values: Iterable<MetricValue<string>>;
}

/** A metric with a series per Service (herald_speaker_announced): formatted without building them all in one turn. */
export interface IterableMetric {
  getIterable(): Promise<IterableValues>;
}

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
  for (const metric of registry.getMetricsAsArray() as unknown as (Readable & Partial<IterableMetric>)[]) {
    const { metric: got, values } = metric.getIterable ? await metric.getIterable() : await readAll(metric);
    // The header alone (no series), then each slice's series after it.
    let text = await format.getMetricsAsString(fixed({ ...got, values: [] }));
    for (const slice of slices(values, perTurn)) {
      if (sinceBreak >= perTurn) {
        await pause();
        sinceBreak = 0;
      }
      const piece = await format.getMetricsAsString(fixed({ ...got, values: slice }));
      // Each piece starts with the "# HELP" and "# TYPE" lines: the text has them already.
      text += piece.slice(piece.indexOf('\n', piece.indexOf('\n') + 1));
      sinceBreak += slice.length;
    }
    texts.push(text);
    if (sinceBreak >= perTurn) {
      await pause();
      sinceBreak = 0;
    }
  }
  return `${texts.join('\n\n')}\n`;
}

/** A plain metric's values, collected as registry.metrics() collects them. */
async function readAll(metric: Readable): Promise<IterableValues> {
  const got = metric.getForPromString ? await metric.getForPromString() : await metric.get();
  return { metric: got, values: got.values };
}

/** `values` in arrays of at most `size` (an array's own slices; any other iterable taken as it goes). */
function* slices<T>(values: Iterable<T>, size: number): Generator<T[]> {
  if (Array.isArray(values)) {
    for (let i = 0; i < values.length; i += size) yield values.slice(i, i + size) as T[];
    return;
  }
  let slice: T[] = [];
  for (const v of values) {
    slice.push(v);
    if (slice.length === size) {
      yield slice;
      slice = [];
    }
  }
  if (slice.length > 0) yield slice;
}

/** A metric whose get() answers `values` (already collected): getMetricsAsString() formats it without collecting again. */
function fixed(values: Values): Readable {
  return { get: () => Promise.resolve(values) };
}
