// The config rule on metallb.io objects (--config-source crds) and on both sources at once: the
// same verdicts as the ConfigMap's, refusal Events on the object at fault.
import { describe, expect, it } from 'vitest';
import {
  evaluateInput,
  inputText,
  issueObject,
  loadedEvents,
  refusalEvents,
  unreadNote,
  type ConfigInput,
  type ConfigMapObject,
  type SourceObject,
} from '../../../allocator/config-verdict.js';
import type { HeldAddresses } from '../../../allocator/config-check.js';

const NS = 'herald-system';
const obj = (kind: string, name: string, spec: unknown, apiVersion = 'metallb.io/v1beta1'): SourceObject => ({
  apiVersion,
  kind,
  metadata: { name, namespace: NS, labels: {} },
  spec,
});
const pool = (name: string, addresses: string[]): SourceObject => obj('IPAddressPool', name, { addresses });
const l2 = obj('L2Advertisement', 'all', {});
const crs = (...objects: SourceObject[]): ConfigInput => ({ source: 'crds', crs: objects, secrets: [], configMap: undefined });
const cm: ConfigMapObject = { metadata: { name: 'config', namespace: NS }, data: { config: 'address-pools:\n- name: a\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n' } };
const held = (key: string, ip: string): HeldAddresses => ({ key, ips: [ip] });

describe('evaluateInput (crds)', () => {
  it('missing without objects; apply; unchanged for the same objects whatever their order or server fields', () => {
    expect(evaluateInput(crs(), [], undefined)).toEqual({ kind: 'missing' });
    const input = crs(pool('a', ['192.0.2.0/28']), l2);
    const v = evaluateInput(input, [], undefined);
    expect(v).toMatchObject({ kind: 'apply', config: { pools: [{ name: 'a', protocol: 'layer2' }] } });
    const reordered = crs(l2, { ...pool('a', ['192.0.2.0/28']), metadata: { name: 'a', namespace: NS, labels: {} } });
    expect(evaluateInput(reordered, [], inputText(input))).toEqual({ kind: 'unchanged' });
  });

  it('the same config as the equivalent ConfigMap (same hash)', () => {
    const a = evaluateInput(crs(pool('a', ['192.0.2.0/28']), l2), [], undefined);
    const b = evaluateInput({ source: 'configmap', configMap: cm, crs: [] }, [], undefined);
    expect(a.kind).toBe('apply');
    expect(b.kind).toBe('apply');
    if (a.kind === 'apply' && b.kind === 'apply') expect(a.hash).toBe(b.hash);
  });

  it('invalid: each issue names the object, and its Event goes on it', () => {
    const v = evaluateInput(crs(pool('a', ['192.0.2.0/33']), l2, obj('BGPPeer', 'r1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.1', vrf: 'red' }, 'metallb.io/v1beta2')), [], undefined);
    expect(v.kind).toBe('invalid');
    const events = refusalEvents(v, 'crds');
    expect(events.map((e) => e.about)).toEqual([
      { kind: 'BGPPeer', name: 'r1', namespace: NS },
      { kind: 'IPAddressPool', name: 'a', namespace: NS },
    ]);
    expect(events[0]).toMatchObject({ type: 'Warning', reason: 'ConfigInvalid' });
    expect(events[0].note).toMatch(/BGPPeer herald-system\/r1 spec\.vrf/);
  });

  it('breaking: refused when a held address leaves every pool; the Event goes on the IPAddressPool that held it', () => {
    const current = evaluateInput(crs(pool('a', ['192.0.2.0/28']), l2), [], undefined);
    if (current.kind !== 'apply') throw new Error('expected apply');
    const v = evaluateInput(crs(pool('a', ['198.51.100.0/28']), l2), [held('apps/web', '192.0.2.3')], undefined, current.config);
    expect(v.kind).toBe('breaking');
    const events = refusalEvents(v, 'crds');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ about: { kind: 'IPAddressPool', name: 'a' }, type: 'Warning', reason: 'ConfigRefused' });
    expect(events[0].note).toMatch(/apps\/web 192\.0\.2\.3/);
    // With the ConfigMap every Event stays on the source itself.
    expect(refusalEvents(v, 'configmap').map((e) => e.about)).toEqual([undefined]);
  });

  it('a config in both sources is refused naming both, whichever is active', () => {
    for (const input of [
      { source: 'crds', crs: [pool('a', ['192.0.2.0/28']), l2], secrets: [], configMap: cm },
      { source: 'configmap', configMap: cm, crs: [pool('a', ['192.0.2.0/28']), l2] },
    ] as ConfigInput[]) {
      const v = evaluateInput(input, [], undefined);
      expect(v.kind).toBe('invalid');
      if (v.kind !== 'invalid') continue;
      expect(v.issues).toHaveLength(1);
      expect(v.issues[0].message).toMatch(/both the ConfigMap herald-system\/config and metallb\.io objects \(IPAddressPool herald-system\/a, L2Advertisement herald-system\/all\)/);
      expect(v.issues[0].message).toContain(`--config-source ${input.source}`);
      expect(refusalEvents(v, input.source).map((e) => e.about)).toEqual([undefined]);
    }
    // Only the other source's objects: nothing for this source, and the verdict names them (not read).
    expect(evaluateInput({ source: 'configmap', configMap: undefined, crs: [pool('a', ['192.0.2.0/28'])] }, [], undefined)).toEqual({ kind: 'missing', unread: ['IPAddressPool herald-system/a'] });
    expect(unreadNote(['IPAddressPool herald-system/a'])).toMatch(/metallb\.io objects exist \(IPAddressPool herald-system\/a\) but are not read: .*--config-source crds \(chart value configSource: crds\)/);
    expect(evaluateInput({ source: 'crds', configMap: undefined, crs: [], secrets: [] }, [], undefined)).toEqual({ kind: 'missing' });
  });

  it('a BGPPeer password from a basic-auth Secret; a changed Secret is a change', () => {
    const peer = obj('BGPPeer', 'r1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.1', passwordSecret: { name: 'pw' } }, 'metallb.io/v1beta2');
    const secret = (pw: string): SourceObject => ({ metadata: { name: 'pw', namespace: NS }, type: 'kubernetes.io/basic-auth', data: { password: Buffer.from(pw).toString('base64') } });
    const input: ConfigInput = { source: 'crds', crs: [peer], secrets: [secret('s3cret')], configMap: undefined };
    const v = evaluateInput(input, [], undefined);
    expect(v).toMatchObject({ kind: 'apply', config: { peers: [{ password: 's3cret' }] } });
    const changed: ConfigInput = { ...input, secrets: [secret('other')] };
    expect(evaluateInput(changed, [], inputText(input)).kind).toBe('apply');
  });

  it('ConfigLoaded on the source as a whole; warnings on the object they name', () => {
    const v = evaluateInput(crs(pool('a', ['192.0.2.0/28']), obj('L2Advertisement', 'l2', { ipAddressPools: ['a', 'nope'] })), [], undefined);
    const events = loadedEvents(v, 'crds');
    expect(events[0]).toMatchObject({ about: undefined, type: 'Normal', reason: 'ConfigLoaded' });
    expect(events.slice(1)).toEqual([expect.objectContaining({ about: { kind: 'L2Advertisement', name: 'l2', namespace: NS }, reason: 'ConfigWarning' })]);
  });
});

describe('issueObject', () => {
  it('reads the object from an issue path, or none', () => {
    expect(issueObject('BGPPeer ns/r1 spec.holdTime')).toEqual({ kind: 'BGPPeer', name: 'r1', namespace: 'ns' });
    expect(issueObject('IPAddressPool a metadata.name')).toEqual({ kind: 'IPAddressPool', name: 'a' });
    expect(issueObject('data.config address-pools[0]')).toBeUndefined();
    expect(issueObject('')).toBeUndefined();
  });
});
