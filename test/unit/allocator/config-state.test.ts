// The ConfigurationState a verdict gives (allocator/config-state.ts): Valid with the hash in force,
// the same state for `apply` and a later `unchanged` (so nothing is written again), and a refusal's
// reason with the Events' notes, naming what stays in force.
import { describe, expect, it } from 'vitest';
import { configStateOf, STATE_MESSAGE_LIMIT } from '../../../allocator/config-state.js';
import { evaluateInput, inputText, type ConfigInput, type SourceObject } from '../../../allocator/config-verdict.js';

const NS = 'herald-system';
const obj = (kind: string, name: string, spec: unknown): SourceObject => ({ apiVersion: 'metallb.io/v1beta1', kind, metadata: { name, namespace: NS, labels: {} }, spec });
const pool = (addresses: string[]): SourceObject => obj('IPAddressPool', 'a', { addresses });
const crs = (...objects: SourceObject[]): ConfigInput => ({ source: 'crds', crs: objects, secrets: [], configMap: undefined });
const l2 = obj('L2Advertisement', 'all', {});
const WHERE = `metallb.io objects in ${NS}`;

describe('configStateOf', () => {
  const input = crs(pool(['192.0.2.0/28']), l2);
  const applied = evaluateInput(input, [], undefined);
  if (applied.kind !== 'apply') throw new Error('expected apply');
  const inForce = { config: applied.config, hash: applied.hash };

  it('apply: Valid, the hash in force; unchanged later: the very same state', () => {
    const s = configStateOf(applied, 'crds', undefined, WHERE);
    expect(s).toEqual({ result: 'Valid', reason: 'ConfigLoaded', message: `config ${applied.hash} in force: 1 address pools, 0 BGP peers`, configHash: applied.hash });
    expect(configStateOf(evaluateInput(input, [], inputText(input), applied.config), 'crds', inForce, WHERE)).toEqual(s);
  });

  it('breaking: Invalid, ConfigRefused, naming the Service, its address and the config that stays', () => {
    const v = evaluateInput(crs(pool(['198.51.100.0/28']), l2), [{ key: 'default/web', ips: ['192.0.2.3'] }], inputText(input), applied.config);
    const s = configStateOf(v, 'crds', inForce, WHERE);
    expect(s).toMatchObject({ result: 'Invalid', reason: 'ConfigRefused', configHash: applied.hash });
    expect(s.message).toContain(`config ${applied.hash} stays in force`);
    expect(s.message).toContain('default/web 192.0.2.3');
  });

  it('invalid: ConfigInvalid naming the object and field; before any config: "no config is in force"', () => {
    const v = evaluateInput(crs(pool(['192.0.2.0/33']), l2), [], undefined);
    const s = configStateOf(v, 'crds', undefined, WHERE);
    expect(s).toMatchObject({ result: 'Invalid', reason: 'ConfigInvalid', configHash: '' });
    expect(s.message).toMatch(/^no config is in force\. .*IPAddressPool herald-system\/a spec\.addresses/);
  });

  it('missing: Unknown, saying where it looked and what stays in force', () => {
    expect(configStateOf({ kind: 'missing' }, 'crds', inForce, WHERE)).toEqual({ result: 'Unknown', reason: 'ConfigMissing', message: `${WHERE} not found; config ${applied.hash} stays in force`, configHash: applied.hash });
  });

  it('a long refusal is capped (the Events carry every detail)', () => {
    const held = Array.from({ length: 16 }, (_, i) => ({ key: `default/${'s'.repeat(300)}-${i}`, ips: [`192.0.2.${i}`] }));
    const v = evaluateInput(crs(pool(['198.51.100.0/28']), l2), held, inputText(input), applied.config);
    const s = configStateOf(v, 'crds', inForce, WHERE);
    expect(Buffer.byteLength(s.message)).toBeLessThanOrEqual(STATE_MESSAGE_LIMIT);
  });
});
