import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../../controller/metrics.js';
import { metricsText } from '../../../kube/metrics-text.js';
import { startMetricsServer } from '../../../kube/metrics-server.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';

/** A speaker's metrics announcing `n` Services (a series each in herald_speaker_announced) and some of everything else. */
function speakerMetrics(n: number, processMetrics = false): SpeakerMetrics {
  const m = new SpeakerMetrics({ node: 'node-a', processMetrics });
  for (let i = 0; i < n; i++) m.setAnnounced(`ns/svc-${i}`, i % 3 === 0 ? 'bgp' : 'layer2', i % 5 === 0 ? [`192.0.2.${i % 250}`, `2001:db8::${i.toString(16)}`] : [`192.0.2.${i % 250}`]);
  m.setSessionUp('192.0.2.1', true);
  m.updateSent('192.0.2.1', 3);
  m.countLayer2Request('192.0.2.7');
  m.bfdTransition('192.0.2.1', 'Up', true);
  return m;
}

describe('metricsText', () => {
  it('writes what registry.metrics() writes, byte for byte, for the speaker and the controller', async () => {
    for (const n of [0, 1, 999, 1000, 1001, 4321]) {
      const m = speakerMetrics(n);
      expect(await metricsText(m.registry, 1000, async () => undefined), `n = ${n}`).toBe(await m.registry.metrics());
    }
    const c = new ControllerMetrics({ processMetrics: false });
    c.configRefused();
    expect(await metricsText(c.registry)).toBe(await c.registry.metrics());
  });

  it('writes the same metrics and series as registry.metrics() with node\'s process metrics (whose values move between two reads)', async () => {
    const m = speakerMetrics(2500, true);
    const shape = (text: string): string[] => text.split('\n').map((l) => (l.startsWith('#') ? l : l.replace(/ [^ ]+$/, '')));
    expect(shape(await metricsText(m.registry, 1000, async () => undefined))).toEqual(shape(await m.registry.metrics()));
  });

  it('keeps prom-client\'s escapes, histograms and label-less series in a sliced metric', async () => {
    const registry = new Registry();
    const counter = new Counter({ name: 'x_total', help: 'help with "quotes", a \\ and a\nnewline', labelNames: ['l'], registers: [registry] });
    for (let i = 0; i < 25; i++) counter.inc({ l: `v"${i}\\\n` }, i + 0.5);
    const h = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['p'], buckets: [0.1, 1], registers: [registry] });
    for (let i = 0; i < 5; i++) h.observe({ p: `p${i}` }, i / 3);
    new Counter({ name: 'empty_total', help: 'nothing yet', registers: [registry] });
    expect(await metricsText(registry, 4, async () => undefined)).toBe(await registry.metrics());
  });

  it(`formats 10,000 series in slices of the given size with a pause between them`, async () => {
    const m = speakerMetrics(10_000);
    const expected = await m.registry.metrics();
    let pauses = 0;
    const text = await metricsText(m.registry, 1000, async () => void pauses++);
    expect(text).toBe(expected);
    // herald_speaker_announced's 10,000 series (12,000 with the dual-stack ones): 12 slices of 1,000 and the
    // default metrics' few hundred series; a pause after each 1,000 formatted.
    const announced = expected.split('\n').filter((l) => l.startsWith('herald_speaker_announced{')).length;
    expect(announced).toBe(12_000);
    expect(pauses).toBeGreaterThanOrEqual(12);
    expect(pauses).toBeLessThanOrEqual(14);
  });

  it('herald_speaker_announced is what was announced when the scrape began, whatever changes between its slices', async () => {
    const m = speakerMetrics(5000);
    const before = await m.registry.metrics();
    let pauses = 0;
    const text = await metricsText(m.registry, 1000, async () => {
      pauses++;
      // Withdrawn and announced again (a Map puts it last: a live iteration would see it twice), one gone, one new.
      m.withdrawn(`ns/svc-${pauses}`);
      m.setAnnounced(`ns/svc-${pauses}`, 'layer2', ['192.0.2.1']);
      m.removeService(`ns/svc-${4000 + pauses}`);
      m.setAnnounced(`ns/new-${pauses}`, 'layer2', ['192.0.2.2']);
    });
    expect(pauses).toBeGreaterThan(4);
    const announced = (t: string): string[] => t.split('\n').filter((l) => l.startsWith('herald_speaker_announced{'));
    expect(announced(text)).toEqual(announced(before));
  });

  it('is what /metrics serves', async () => {
    const m = speakerMetrics(3000);
    const server = await startMetricsServer({ address: '127.0.0.1:0', registry: m.registry });
    try {
      const res = await fetch(`${server.url}/metrics`);
      const body = await res.text();
      expect(body.split('\n').filter((l) => l.startsWith('herald_speaker_announced{')).length).toBe(3600);
      expect(body).toMatch(/^# HELP herald_speaker_announced /m);
      expect(body.match(/^# TYPE herald_speaker_announced gauge$/gm)).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});
