// bfd-profiles and a peer's bfd-profile: MetalLB's defaults and ranges, errors naming the field,
// echo-mode accepted with a warning (Herald runs asynchronous mode only).
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../config/model.js';
import { parseConfigObject, parseConfigObjectWithWarnings } from '../../../config/parse.js';

const peer = { 'my-asn': 64500, 'peer-asn': 64501, 'peer-address': '192.0.2.1' };

function issues(value: unknown): string[] {
  try {
    parseConfigObject(value);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('bfd-profiles', () => {
  it('a profile with only a name gets MetalLB defaults, and a peer may name it', () => {
    const c = parseConfigObject({ 'bfd-profiles': [{ name: 'default' }], peers: [{ ...peer, 'bfd-profile': 'default' }] });
    expect(c.bfdProfiles).toEqual([
      { name: 'default', receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3, echoInterval: 50, echoMode: false, passiveMode: false, minimumTtl: 254 },
    ]);
    expect(c.peers[0].bfdProfile).toBe('default');
  });

  it('bfd-profile "" means no BFD, as in MetalLB', () => {
    expect(parseConfigObject({ peers: [{ ...peer, 'bfd-profile': '' }] }).peers[0].bfdProfile).toBeUndefined();
  });

  it('ranges: intervals 10..60000 ms, multiplier 2..255, minimum-ttl 1..254; errors name the field', () => {
    for (const [key, bad, good] of [
      ['receive-interval', 9, 10],
      ['receive-interval', 60001, 60000],
      ['transmit-interval', 9, 60000],
      ['echo-interval', 60001, 10],
      ['detect-multiplier', 1, 255],
      ['detect-multiplier', 256, 2],
      ['minimum-ttl', 0, 1],
      ['minimum-ttl', 255, 254],
    ] as const) {
      expect(issues({ 'bfd-profiles': [{ name: 'x', [key]: bad }] })).toEqual([expect.stringMatching(new RegExp(`^bfd-profiles\\[0\\]\\.${key}: ${bad} is out of range`))]);
      expect(parseConfigObject({ 'bfd-profiles': [{ name: 'x', [key]: good }] }).bfdProfiles).toHaveLength(1);
    }
    expect(issues({ 'bfd-profiles': [{ name: 'x', 'passive-mode': 'yes' }] })).toEqual(['bfd-profiles[0].passive-mode: expected true or false, got a string ("yes")']);
    expect(issues({ 'bfd-profiles': [{ name: 'x', 'receive-intervall': 300 }] })[0]).toContain('did you mean "receive-interval"?');
    expect(issues({ 'bfd-profiles': [{}] })).toEqual(['bfd-profiles[0].name: missing required profile name']);
    expect(issues({ 'bfd-profiles': {} })).toEqual(['bfd-profiles: expected a list of BFD profiles, got a mapping']);
  });

  it('duplicate profile names and unknown profiles are refused', () => {
    expect(issues({ 'bfd-profiles': [{ name: 'a' }, { name: 'a' }] })).toEqual([
      'bfd-profiles[1].name: duplicate BFD profile name "a" (first defined at bfd-profiles[0].name); profile names must be unique',
    ]);
    expect(issues({ 'bfd-profiles': [{ name: 'a' }], peers: [{ ...peer, 'bfd-profile': 'b' }] })).toEqual([
      'peers[0].bfd-profile: BFD profile "b" is not defined in bfd-profiles',
    ]);
    expect(issues({ peers: [{ ...peer, 'bfd-profile': 'b' }] })).toEqual(['peers[0].bfd-profile: BFD profile "b" is not defined in bfd-profiles']);
  });

  it('echo-mode: true is accepted with a warning that only asynchronous mode runs', () => {
    const { config, warnings } = parseConfigObjectWithWarnings({ 'bfd-profiles': [{ name: 'e', 'echo-mode': true }] });
    expect(config.bfdProfiles[0].echoMode).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].path).toBe('bfd-profiles[0].echo-mode');
    expect(warnings[0].message).toContain('only asynchronous mode runs');
    expect(parseConfigObjectWithWarnings({ 'bfd-profiles': [{ name: 'e' }] }).warnings).toEqual([]);
  });
});
