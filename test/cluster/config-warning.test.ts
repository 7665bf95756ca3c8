// Config warnings reach the user from the daemons too: a ConfigMap MetalLB v0.12 accepts whose
// aggregate reaches past its pool (an aggregation-length on a dash range) is loaded, the controller
// writes a Warning Event `ConfigWarning` naming the addresses next to `ConfigLoaded` and logs it, and
// a speaker logs it; a config without warnings writes no such Event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { ControllerProcess, eventNotes } from './controller-process.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';
import { SpeakerProcess } from './speaker-process.js';

const configMap = (ns: string, aggregation: number): string =>
  [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: config',
    `  namespace: ${ns}`,
    'data:',
    '  config: |',
    '    address-pools:',
    '    - name: routed',
    '      protocol: bgp',
    '      addresses: [203.0.113.2-203.0.113.254]',
    '      bgp-advertisements:',
    `      - aggregation-length: ${aggregation}`,
    '',
  ].join('\n');

const WARNING = 'announces 203.0.113.0/26 (covering 203.0.113.0-203.0.113.1 outside the pool), 203.0.113.192/26 (covering 203.0.113.255 outside the pool)';

describe('config warnings from the daemons', () => {
  let kc: KubeConfig;
  let ns: string;
  let ctl: ControllerProcess;
  let speaker: SpeakerProcess;

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('cfg-warn');
    kubectl(['apply', '-f', '-'], { input: configMap(ns, 32) });
    ctl = new ControllerProcess({ kubeconfig: kubeconfigPath(), namespace: ns });
    speaker = new SpeakerProcess({ kubeconfig: kubeconfigPath(), node: `${ns}-a`, namespace: ns });
    await ctl.waitForLog('config loaded', (l) => l.event === 'configLoaded', 60_000);
    await speaker.waitForLog('config loaded', (l) => l.event === 'configLoaded', 60_000);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([ctl?.kill('SIGTERM'), speaker?.kill('SIGTERM')]);
  });

  it('an aggregate reaching outside the pool: loaded, a ConfigWarning Event and log lines name the addresses', async () => {
    expect(await eventNotes(kc, ns, 'config', 'ConfigWarning')).toEqual([]);
    kubectl(['apply', '-f', '-'], { input: configMap(ns, 26) });
    const note = await waitFor('ConfigWarning event on config', async () => (await eventNotes(kc, ns, 'config', 'ConfigWarning')).find((n) => n.includes(WARNING)), 30_000);
    expect(note).toMatch(/^config loaded with 1 warning: address-pools\[0\]\.bgp-advertisements\[0\]\.aggregation-length: aggregation-length 26 on range 203\.0\.113\.2-203\.0\.113\.254 /);
    const loaded = await eventNotes(kc, ns, 'config', 'ConfigLoaded');
    expect(loaded.length).toBeGreaterThanOrEqual(2);
    for (const p of [ctl, speaker]) {
      const line = await p.waitForLog('config warning', (l) => l.event === 'configWarning');
      expect(String(line.reason)).toContain(WARNING);
      expect(line.level).toBe('warn');
    }
  });
});
