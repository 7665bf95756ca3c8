import { describe, expect, it } from 'vitest';
import { AllocationError, Allocator, type AllocationReason } from '../../../allocator/allocator.js';
import { config, pool, req } from './helpers.js';

function failure(fn: () => unknown): AllocationError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AllocationError) return e;
    throw e;
  }
  throw new Error('expected an AllocationError');
}

function expectFailure(fn: () => unknown, reason: AllocationReason, message?: RegExp): AllocationError {
  const e = failure(fn);
  expect(e.reason).toBe(reason);
  expect(e.failure.reason).toBe(reason);
  if (message) expect(e.message).toMatch(message);
  return e;
}

const share = (key: string, sharingKey: string, port: number, extra: Parameters<typeof req>[1] = {}) =>
  req(key, { sharingKey, ports: [{ protocol: 'TCP', port }], ...extra });

describe('Allocator: choosing addresses', () => {
  it('hands out the lowest free address, trying pools in config order', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/31']), pool('b', ['198.51.100.10-198.51.100.11'])));
    expect(a.allocate(req('ns/s1'))).toEqual({ key: 'ns/s1', ips: ['192.0.2.0'], pool: 'a' });
    expect(a.allocate(req('ns/s2')).ips).toEqual(['192.0.2.1']);
    expect(a.allocate(req('ns/s3'))).toEqual({ key: 'ns/s3', ips: ['198.51.100.10'], pool: 'b' });
  });

  it('reuses the lowest released address', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/28'])));
    for (let i = 0; i < 5; i++) a.allocate(req(`ns/s${i}`));
    expect(a.release('ns/s3')).toBe(true);
    expect(a.release('ns/s1')).toBe(true);
    expect(a.release('ns/s1')).toBe(false);
    expect(a.allocate(req('ns/new1')).ips).toEqual(['192.0.2.1']);
    expect(a.allocate(req('ns/new2')).ips).toEqual(['192.0.2.3']);
    expect(a.allocate(req('ns/new3')).ips).toEqual(['192.0.2.5']);
  });

  it('takes the lowest address of a pool even when its ranges are listed out of order', () => {
    const a = new Allocator(config(pool('a', ['198.51.100.7/32', '192.0.2.9/32'])));
    expect(a.allocate(req('ns/s')).ips).toEqual(['192.0.2.9']);
  });

  it('uses an auto-assign: false pool only when named or when a requested address is in it', () => {
    const a = new Allocator(config(pool('manual', ['192.0.2.0/30'], { autoAssign: false }), pool('auto', ['198.51.100.0/30'])));
    expect(a.allocate(req('ns/plain')).pool).toBe('auto');
    expect(a.allocate(req('ns/named', { pool: 'manual' })).ips).toEqual(['192.0.2.0']);
    expect(a.allocate(req('ns/asked', { requestedIps: ['192.0.2.2'] }))).toMatchObject({ ips: ['192.0.2.2'], pool: 'manual' });
  });

  it('skips .0 and .255 with avoid-buggy-ips, and refuses them when requested', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.254-192.0.3.1'], { avoidBuggyIps: true })));
    expect(a.allocate(req('ns/s1')).ips).toEqual(['192.0.2.254']);
    expect(a.allocate(req('ns/s2')).ips).toEqual(['192.0.3.1']);
    expectFailure(() => a.allocate(req('ns/s3')), 'pool-exhausted', /no auto-assign address pool has a free ipv4 address/);
    expectFailure(() => a.allocate(req('ns/s4', { requestedIps: ['192.0.2.255'] })), 'ip-excluded', /192\.0\.2\.255 is excluded by avoid-buggy-ips in address pool "a"/);
    expect(a.stats()[0].ipv4).toEqual({ total: 2n, inUse: 2 });
  });

  it('gives a requested address, in any pool it lies in', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/28']), pool('b', ['2001:db8::/120'])));
    expect(a.allocate(req('ns/s', { requestedIps: ['192.0.2.7'] }))).toMatchObject({ ips: ['192.0.2.7'], pool: 'a' });
    expect(a.allocate(req('ns/v6', { families: ['ipv6'], requestedIps: ['2001:db8::10'] }))).toMatchObject({ ips: ['2001:db8::10'], pool: 'b' });
    // The requested address is no longer free for others.
    expect(a.allocate(req('ns/t')).ips).toEqual(['192.0.2.0']);
    for (let i = 0; i < 6; i++) a.allocate(req(`ns/fill${i}`));
    expect(a.allocate(req('ns/u')).ips).toEqual(['192.0.2.8']);
  });

  it('serves single-stack IPv6 and dual-stack from one pool that has both families', () => {
    const a = new Allocator(
      config(pool('v4only', ['192.0.2.0/30']), pool('v6only', ['2001:db8:1::/126']), pool('dual', ['198.51.100.0/30', '2001:db8:2::/126'])),
    );
    expect(a.allocate(req('ns/v6', { families: ['ipv6'] }))).toMatchObject({ ips: ['2001:db8:1::'], pool: 'v6only' });
    expect(a.allocate(req('ns/ds', { families: ['ipv6', 'ipv4'] }))).toMatchObject({ ips: ['2001:db8:2::', '198.51.100.0'], pool: 'dual' });
    // One address requested: the other family comes from the same pool.
    expect(a.allocate(req('ns/ds2', { families: ['ipv4', 'ipv6'], requestedIps: ['198.51.100.3'] }))).toMatchObject({
      ips: ['198.51.100.3', '2001:db8:2::1'],
      pool: 'dual',
    });
  });

  it('keeps what a Service holds when it is allocated again with the same request', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/28']), pool('b', ['198.51.100.0/28'])));
    const first = a.allocate(req('ns/s'));
    a.allocate(req('ns/t'));
    a.release('ns/s');
    a.allocate(req('ns/s', { requestedIps: [] }));
    expect(a.allocate(req('ns/s'))).toEqual(a.assignmentOf('ns/s'));
    expect(first.ips).toEqual(['192.0.2.0']);
    // Naming another pool moves it; the old address is freed.
    expect(a.allocate(req('ns/s', { pool: 'b' }))).toMatchObject({ ips: ['198.51.100.0'], pool: 'b' });
    expect(a.allocate(req('ns/u')).ips).toEqual(['192.0.2.0']);
  });

  it('accepts requested addresses in any spelling', () => {
    const a = new Allocator(config(pool('a', ['2001:db8::/120'])));
    const asked = req('ns/s', { families: ['ipv6'], requestedIps: ['2001:DB8:0::0:5'] });
    expect(a.allocate(asked).ips).toEqual(['2001:db8::5']);
    expect(a.allocate(asked).ips).toEqual(['2001:db8::5']);
    expect(a.stats()[0].ipv6!.inUse).toBe(1);
  });

  it('leaves a Service its address when a re-allocation fails', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/31']), pool('b', ['198.51.100.0/32'])));
    a.allocate(req('ns/holder', { pool: 'b' }));
    a.allocate(req('ns/s'));
    expectFailure(() => a.allocate(req('ns/s', { pool: 'b' })), 'pool-exhausted', /address pool "b" has no free ipv4 address/);
    expect(a.assignmentOf('ns/s')).toEqual({ key: 'ns/s', ips: ['192.0.2.0'], pool: 'a' });
    expect(a.allocate(req('ns/x')).ips).toEqual(['192.0.2.1']);
  });

  it('serves /8 and /64 pools without walking them', () => {
    const a = new Allocator(config(pool('big4', ['10.0.0.0/8'], { avoidBuggyIps: true }), pool('big6', ['2001:db8::/64'])));
    for (let i = 0; i < 600; i++) a.allocate(req(`ns/v4-${i}`));
    expect(a.assignmentOf('ns/v4-599')!.ips).toEqual(['10.0.2.92']);
    expect(a.allocate(req('ns/v6', { families: ['ipv6'] })).ips).toEqual(['2001:db8::']);
    expect(a.stats()).toEqual([
      { name: 'big4', protocol: 'layer2', autoAssign: true, ipv4: { total: 16777216n - 2n * 65536n, inUse: 600 } },
      { name: 'big6', protocol: 'layer2', autoAssign: true, ipv6: { total: 1n << 64n, inUse: 1 } },
    ]);
    expect(a.poolOf('10.200.3.4')).toBe('big4');
    expect(a.poolOf('2001:db8::ffff:1')).toBe('big6');
    expect(a.poolOf('192.0.2.1')).toBeUndefined();
    expect(a.poolOf('not an ip')).toBeUndefined();
  });

  it('gives an address listed in two pools to the first', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30']), pool('b', ['192.0.2.2/31', '192.0.2.4/31'])));
    expect(a.poolOf('192.0.2.3')).toBe('a');
    expect(a.stats().map((s) => s.ipv4?.total)).toEqual([4n, 2n]);
    const ips = [1, 2, 3, 4, 5, 6].map((i) => a.allocate(req(`ns/s${i}`)).ips[0]);
    expect(ips).toEqual(['192.0.2.0', '192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5']);
  });
});

describe('Allocator: sharing', () => {
  it('lets Services with the same key, backends and distinct ports share; frees the address with its last user', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30'])));
    expect(a.allocate(share('ns/http', 'web', 80)).ips).toEqual(['192.0.2.0']);
    // No address requested: it joins the compatible shared address rather than taking a new one.
    expect(a.allocate(share('ns/https', 'web', 443))).toEqual({ key: 'ns/https', ips: ['192.0.2.0'], pool: 'a', sharingKey: 'web' });
    expect(a.stats()[0].ipv4!.inUse).toBe(1);
    a.release('ns/http');
    expect(a.allocate(req('ns/other')).ips).toEqual(['192.0.2.1']);
    a.release('ns/https');
    expect(a.allocate(req('ns/other2')).ips).toEqual(['192.0.2.0']);
  });

  it('joins an address by request when the holders are compatible', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30'])));
    a.allocate(share('ns/dns-udp', 'dns', 53, { ports: [{ protocol: 'UDP', port: 53 }] }));
    expect(a.allocate(share('ns/dns-tcp', 'dns', 53, { requestedIps: ['192.0.2.0'] })).ips).toEqual(['192.0.2.0']);
  });

  it.each([
    ['the holder has no sharing key', req('ns/a'), share('ns/b', 'k', 443), /ns\/a does not allow sharing/],
    ['the newcomer has no sharing key', share('ns/a', 'k', 80), req('ns/b', { ports: [{ protocol: 'TCP', port: 443 }] }), /this Service does not allow sharing/],
    ['the keys differ', share('ns/a', 'k1', 80), share('ns/b', 'k2', 443), /sharing key "k2" differs from ns\/a's "k1"/],
    ['a port overlaps', share('ns/a', 'k', 80), share('ns/b', 'k', 80), /port TCP\/80 is also used by ns\/a/],
    [
      'Cluster meets Local',
      share('ns/a', 'k', 80),
      share('ns/b', 'k', 443, { externalTrafficPolicy: 'Local', selector: { app: 'x' } }),
      /externalTrafficPolicy Local with selector \{app=x\} differs from ns\/a's externalTrafficPolicy Cluster/,
    ],
    [
      'Local selectors differ',
      share('ns/a', 'k', 80, { externalTrafficPolicy: 'Local', selector: { app: 'x' } }),
      share('ns/b', 'k', 443, { externalTrafficPolicy: 'Local', selector: { app: 'y' } }),
      /selector \{app=y\} differs/,
    ],
  ])('refuses to share when %s', (_name, holder, newcomer, why) => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30'])));
    a.allocate(holder);
    const e = expectFailure(() => a.allocate({ ...newcomer, requestedIps: ['192.0.2.0'] }), 'ip-in-use', why);
    expect(e.failure).toMatchObject({ ip: '192.0.2.0', holders: [holder.key] });
    expect(e.message).toContain('requested address 192.0.2.0 is in use by ns/a');
    // Without a requested address it simply gets its own.
    expect(a.allocate(newcomer).ips).toEqual(['192.0.2.1']);
  });

  it('shares between Local Services with identical selectors', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30'])));
    const local = { externalTrafficPolicy: 'Local' as const, selector: { app: 'x', tier: 'web' } };
    a.allocate(share('ns/a', 'k', 80, local));
    expect(a.allocate(share('ns/b', 'k', 443, { ...local, selector: { tier: 'web', app: 'x' } })).ips).toEqual(['192.0.2.0']);
  });

  it('joins the compatible shared address lowest in pool order, and only in pools it may use', () => {
    const a = new Allocator(config(pool('manual', ['192.0.2.0/30'], { autoAssign: false }), pool('a', ['198.51.100.0/30'])));
    a.allocate(share('ns/m', 'k', 80, { pool: 'manual' }));
    a.allocate(req('ns/filler'));
    a.allocate(share('ns/x', 'k', 80));
    expect(a.assignmentOf('ns/x')!.ips).toEqual(['198.51.100.1']);
    // Port 80 is taken on both shared addresses; port 443 may join: not the manual pool's unless named.
    expect(a.allocate(share('ns/y', 'k', 443)).ips).toEqual(['198.51.100.1']);
    expect(a.allocate(share('ns/z', 'k', 443, { pool: 'manual' })).ips).toEqual(['192.0.2.0']);
  });

  it('joins a dual-stack shared pair only with both families', () => {
    const a = new Allocator(config(pool('d', ['192.0.2.0/30', '2001:db8::/126'])));
    a.allocate(share('ns/v4', 'k', 80));
    a.allocate(share('ns/ds', 'k', 81, { families: ['ipv4', 'ipv6'] }));
    expect(a.assignmentOf('ns/ds')!.ips).toEqual(['192.0.2.1', '2001:db8::']);
    expect(a.allocate(share('ns/ds2', 'k', 82, { families: ['ipv4', 'ipv6'] })).ips).toEqual(['192.0.2.1', '2001:db8::']);
    expect(a.allocate(share('ns/v6', 'k', 83, { families: ['ipv6'] })).ips).toEqual(['2001:db8::']);
  });

  it('re-checks sharing when a Service changes its ports', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30'])));
    a.allocate(share('ns/a', 'k', 80));
    a.allocate(share('ns/b', 'k', 443));
    // ns/b now wants port 80 too: it can no longer share, so it moves.
    expect(a.allocate(share('ns/b', 'k', 80)).ips).toEqual(['192.0.2.1']);
    expect(a.assignmentOf('ns/a')!.ips).toEqual(['192.0.2.0']);
  });
});

describe('Allocator: failures', () => {
  it('unknown pool', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30'])));
    const e = expectFailure(() => a.allocate(req('ns/s', { pool: 'nope' })), 'unknown-pool', /^ns\/s: address pool "nope" does not exist$/);
    expect(e.failure).toEqual({ reason: 'unknown-pool', pool: 'nope' });
  });

  it('pool exhausted, named or not, with the family', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/32', '2001:db8::/128'])));
    a.allocate(req('ns/one', { families: ['ipv6'] }));
    expect(expectFailure(() => a.allocate(req('ns/s', { families: ['ipv6'] })), 'pool-exhausted').failure).toEqual({
      reason: 'pool-exhausted',
      family: 'ipv6',
      pool: undefined,
    });
    expect(expectFailure(() => a.allocate(req('ns/s', { families: ['ipv4', 'ipv6'], pool: 'a' })), 'pool-exhausted').failure).toEqual({
      reason: 'pool-exhausted',
      family: 'ipv6',
      pool: 'a',
    });
    expectFailure(() => a.allocate(req('ns/s', { families: ['ipv4', 'ipv6'], requestedIps: ['192.0.2.0'] })), 'pool-exhausted', /pool "a" has no free ipv6/);
    // Nothing was taken by the failed dual-stack attempts.
    expect(a.allocate(req('ns/v4')).ips).toEqual(['192.0.2.0']);
  });

  it('requested address in no pool', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30'])));
    expectFailure(() => a.allocate(req('ns/s', { requestedIps: ['203.0.113.1'] })), 'ip-not-in-pool', /203\.0\.113\.1 is not in any address pool/);
  });

  it('requested address outside the named pool, or dual-stack addresses from two pools', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30']), pool('b', ['198.51.100.0/30', '2001:db8::/126'])));
    expect(expectFailure(() => a.allocate(req('ns/s', { pool: 'b', requestedIps: ['192.0.2.1'] })), 'pool-mismatch').failure).toEqual({
      reason: 'pool-mismatch',
      ip: '192.0.2.1',
      pool: 'a',
      requiredPool: 'b',
    });
    expectFailure(
      () => a.allocate(req('ns/s', { families: ['ipv4', 'ipv6'], requestedIps: ['192.0.2.1', '2001:db8::1'] })),
      'pool-mismatch',
      /2001:db8::1 is in address pool "b", not in "a"/,
    );
  });

  it('family mismatch: requested address of another family, pool without the family, no pool with it', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30']), pool('manual6', ['2001:db8::/126'], { autoAssign: false })));
    expectFailure(() => a.allocate(req('ns/s', { requestedIps: ['2001:db8::1'] })), 'family-mismatch', /2001:db8::1 is ipv6, which the Service's IP families do not include/);
    expectFailure(() => a.allocate(req('ns/s', { families: ['ipv6'], pool: 'a' })), 'family-mismatch', /address pool "a" has no ipv6 addresses/);
    expectFailure(() => a.allocate(req('ns/s', { families: ['ipv6'] })), 'family-mismatch', /no address pool the Service may use has ipv6 addresses/);
    expectFailure(() => a.allocate(req('ns/s', { families: ['ipv4', 'ipv6'], requestedIps: ['192.0.2.1'] })), 'family-mismatch', /pool "a" has no ipv6/);
    expectFailure(() => a.allocate(req('ns/s', { families: ['ipv4', 'ipv6'] })), 'family-mismatch');
  });

  it('malformed hand-built requests', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/30'])));
    expectFailure(() => a.allocate(req('ns/s', { families: [] })), 'invalid-request', /families/);
    expectFailure(() => a.allocate(req('ns/s', { families: ['ipv4', 'ipv4'] })), 'invalid-request');
    expectFailure(() => a.allocate(req('ns/s', { requestedIps: ['nope'] })), 'invalid-request', /"nope" is not an IP address/);
    expectFailure(() => a.allocate(req('ns/s', { requestedIps: ['192.0.2.1', '192.0.2.2'] })), 'invalid-request', /more than one ipv4/);
  });
});

describe('Allocator: restore', () => {
  it('rebuilds state so a restart moves nothing and new Services avoid restored addresses', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/29'])));
    const conflicts = a.restore([
      { request: req('ns/b'), ips: ['192.0.2.1'] },
      { request: req('ns/none'), ips: [] },
      { request: share('ns/s1', 'k', 80), ips: ['192.0.2.3'] },
      { request: share('ns/s2', 'k', 443), ips: ['192.0.2.3'] },
    ]);
    expect(conflicts).toEqual([]);
    expect(a.allocate(req('ns/b'))).toEqual({ key: 'ns/b', ips: ['192.0.2.1'], pool: 'a' });
    expect(a.assignmentOf('ns/none')).toBeUndefined();
    expect([1, 2, 3].map((i) => a.allocate(req(`ns/new${i}`)).ips[0])).toEqual(['192.0.2.0', '192.0.2.2', '192.0.2.4']);
    expect(a.stats()[0].ipv4!.inUse).toBe(5);
  });

  it('reports conflicting claims; the first claimant keeps the address', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/29'])));
    const conflicts = a.restore([
      { request: req('ns/first'), ips: ['192.0.2.1'] },
      { request: req('ns/second'), ips: ['192.0.2.1'] },
      { request: req('ns/first'), ips: ['192.0.2.2'] },
      { request: req('ns/bad'), ips: ['nope'] },
      { request: req('ns/two', { families: ['ipv4', 'ipv6'] }), ips: ['192.0.2.5', '192.0.2.6'] },
    ]);
    expect(conflicts).toEqual([
      { key: 'ns/second', ip: '192.0.2.1', holders: ['ns/first'], why: 'ns/first does not allow sharing (no metallb.universe.tf/allow-shared-ip annotation)' },
      { key: 'ns/first', ip: '192.0.2.2', holders: ['ns/first'], why: 'the Service was restored twice' },
      { key: 'ns/bad', ip: 'nope', holders: [], why: '"nope" is not an IP address' },
      { key: 'ns/two', ip: '192.0.2.6', holders: [], why: 'the Service holds more than one ipv4 address' },
    ]);
    expect(a.assignmentOf('ns/first')!.ips).toEqual(['192.0.2.1']);
    expect(a.assignmentOf('ns/second')).toBeUndefined();
    // The loser gets a new address when the controller allocates it.
    expect(a.allocate(req('ns/second')).ips).toEqual(['192.0.2.0']);
  });

  it('does not restore a dual-stack pair split across two pools; a pair restored before the config is re-allocated in one pool', () => {
    const split = config(pool('v4', ['192.0.2.0/29']), pool('v6', ['2001:db8::/125']), pool('both', ['198.51.100.0/29', '2001:db8:1::/125']));
    const ds = (key: string) => req(key, { families: ['ipv4', 'ipv6'] });
    const a = new Allocator(split);
    expect(a.restore([{ request: ds('ns/ds'), ips: ['192.0.2.1', '2001:db8::1'] }])).toEqual([
      { key: 'ns/ds', ip: '2001:db8::1', holders: [], why: 'the dual-stack pair is split across pools: 192.0.2.1 in "v4", 2001:db8::1 in "v6"' },
    ]);
    expect(a.assignmentOf('ns/ds')).toBeUndefined();
    // The controller restores before any config is loaded: the pair is kept, then moved into one pool.
    const b = new Allocator(config());
    expect(b.restore([{ request: ds('ns/ds'), ips: ['192.0.2.1', '2001:db8::1'] }])).toEqual([]);
    b.setConfig(split);
    expect(b.checkConfig(split)[0]).toMatchObject({ key: 'ns/ds', breaking: true });
    expect(b.allocate(ds('ns/ds'))).toEqual({ key: 'ns/ds', ips: ['198.51.100.0', '2001:db8:1::'], pool: 'both' });
  });

  it('keeps a restored address that is in no pool until the Service is re-allocated', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/29'])));
    a.restore([{ request: req('ns/s'), ips: ['203.0.113.9'] }]);
    expect(a.assignmentOf('ns/s')).toEqual({ key: 'ns/s', ips: ['203.0.113.9'], pool: undefined });
    expect(a.checkConfig(config(pool('a', ['192.0.2.0/29'])))[0]).toMatchObject({ key: 'ns/s', breaking: true });
    expect(a.allocate(req('ns/s'))).toEqual({ key: 'ns/s', ips: ['192.0.2.0'], pool: 'a' });
  });
});

describe('Allocator: config changes', () => {
  const current = config(pool('a', ['192.0.2.0/28']), pool('b', ['198.51.100.0/28', '2001:db8::/120']));

  function loaded(): Allocator {
    const a = new Allocator(current);
    a.allocate(req('ns/a1'));
    a.allocate(req('ns/a5', { requestedIps: ['192.0.2.5'] }));
    a.allocate(req('ns/b1', { pool: 'b' }));
    a.allocate(req('ns/ds', { pool: 'b', families: ['ipv4', 'ipv6'] }));
    return a;
  }

  const verdicts = (a: Allocator, next = current) =>
    Object.fromEntries(a.checkConfig(next).map((c) => [c.key, c.ips.map((i) => `${i.breaking ? 'BREAK' : 'ok'}: ${i.reason}`)]));

  it('breaks nothing against the same config', () => {
    expect(verdicts(loaded())).toEqual({
      'ns/a1': ['ok: unchanged (pool "a")'],
      'ns/a5': ['ok: unchanged (pool "a")'],
      'ns/b1': ['ok: unchanged (pool "b")'],
      'ns/ds': ['ok: unchanged (pool "b")', 'ok: unchanged (pool "b")'],
    });
  });

  it('does not break on rename, split, expansion, auto-assign or protocol change', () => {
    const next = config(
      pool('a-low', ['192.0.2.0/29'], { protocol: 'bgp', autoAssign: false }),
      pool('a-high', ['192.0.2.8/29']),
      pool('b', ['198.51.100.0/24', '2001:db8::/64']),
    );
    expect(verdicts(loaded(), next)).toEqual({
      'ns/a1': ['ok: now in pool "a-low" (was "a"): protocol layer2 -> bgp, auto-assign true -> false, addresses changed'],
      'ns/a5': ['ok: now in pool "a-low" (was "a"): protocol layer2 -> bgp, auto-assign true -> false, addresses changed'],
      'ns/b1': ['ok: pool "b": addresses changed'],
      'ns/ds': ['ok: pool "b": addresses changed', 'ok: pool "b": addresses changed'],
    });
  });

  it('breaks when an address leaves every pool, becomes excluded, or leaves the pool its Service names', () => {
    const a = loaded();
    a.release('ns/a1');
    a.allocate(req('ns/zero', { requestedIps: ['192.0.2.0'] }));
    const next = config(pool('a', ['192.0.2.0/30'], { avoidBuggyIps: true }), pool('c', ['198.51.100.0/31']), pool('b', ['198.51.100.2/31']));
    const results = a.checkConfig(next);
    expect(results.map((r) => [r.key, r.breaking])).toEqual([
      ['ns/a5', true],
      ['ns/b1', true],
      ['ns/ds', true],
      ['ns/zero', true],
    ]);
    expect(verdicts(a, next)).toEqual({
      'ns/a5': ['BREAK: 192.0.2.5 is in no pool of the new config'],
      'ns/b1': ['BREAK: the Service asks for pool "b", which no longer contains 198.51.100.0 (now in "c")'],
      'ns/ds': ['BREAK: the Service asks for pool "b", which no longer contains 198.51.100.1 (now in "c")', 'BREAK: 2001:db8:: is in no pool of the new config'],
      'ns/zero': ['BREAK: 192.0.2.0 is excluded by avoid-buggy-ips in pool "a"'],
    });
    expect(verdicts(a, config(pool('a', ['192.0.2.0/28']), pool('c', ['198.51.100.0/28'])))['ns/b1']).toEqual([
      'BREAK: the Service asks for pool "b", which the new config does not have',
    ]);
    expect(results[2].ips[1]).toEqual({ ip: '2001:db8::', pool: 'b', newPool: undefined, breaking: true, reason: '2001:db8:: is in no pool of the new config' });
  });

  it('breaks a dual-stack pair the new config would split across two pools, though each address stays in a pool', () => {
    const a = loaded();
    a.release('ns/ds');
    expect(a.allocate(req('ns/pair', { families: ['ipv4', 'ipv6'] })).ips).toEqual(['198.51.100.1', '2001:db8::']);
    const next = config(pool('a', ['192.0.2.0/28']), pool('b', ['198.51.100.0/28']), pool('b6', ['2001:db8::/120']));
    const why = 'the dual-stack pair 198.51.100.1, 2001:db8:: would be split: 198.51.100.1 in pool "b", 2001:db8:: in pool "b6" (a Service\'s addresses come from one pool)';
    expect(verdicts(a, next)['ns/pair']).toEqual([`BREAK: ${why}`, `BREAK: ${why}`]);
    expect(a.checkConfig(next).filter((c) => c.breaking).map((c) => c.key)).toEqual(['ns/pair']);
    // Both halves moving to one new pool together is fine.
    const together = config(pool('a', ['192.0.2.0/28']), pool('b2', ['198.51.100.0/28', '2001:db8::/120']));
    expect(a.checkConfig(together).find((c) => c.key === 'ns/pair')?.breaking).toBe(false);
  });

  it('setConfig keeps every assignment and rebuilds the pools around them', () => {
    const a = loaded();
    a.setConfig(config(pool('x', ['192.0.2.0/30', '198.51.100.0/30', '2001:db8::/126'])));
    expect(a.assignmentOf('ns/a1')).toEqual({ key: 'ns/a1', ips: ['192.0.2.0'], pool: 'x' });
    expect(a.assignmentOf('ns/a5')).toEqual({ key: 'ns/a5', ips: ['192.0.2.5'], pool: undefined });
    expect(a.stats()).toEqual([{ name: 'x', protocol: 'layer2', autoAssign: true, ipv4: { total: 8n, inUse: 3 }, ipv6: { total: 4n, inUse: 1 } }]);
    expect(a.allocate(req('ns/new')).ips).toEqual(['192.0.2.1']);
    // ns/b1 names pool "b", which is gone: re-allocating it fails, and it keeps its address meanwhile.
    expectFailure(() => a.allocate(req('ns/b1', { pool: 'b' })), 'unknown-pool');
    expect(a.assignmentOf('ns/b1')!.ips).toEqual(['198.51.100.0']);
    a.release('ns/a1');
    expect(a.allocate(req('ns/new2')).ips).toEqual(['192.0.2.0']);
  });
});

describe('Allocator: addresses that can never be a host', () => {
  it('pools 0.0.0.0/0 and ::/0 never hand out 0.0.0.0, ::, loopback, multicast, 240/4 or 255.255.255.255', () => {
    const a = new Allocator(config(pool('all4', ['0.0.0.0/0']), pool('all6', ['::/0'])));
    expect(a.allocate(req('ns/v4')).ips).toEqual(['0.0.0.1']);
    expect(a.allocate(req('ns/v6', { families: ['ipv6'] })).ips).toEqual(['::2']);
    for (const ip of ['0.0.0.0', '127.0.0.1', '224.0.0.1', '239.255.255.255', '240.0.0.1', '255.255.255.255', '::', '::1', 'ff02::1']) {
      const families = ip.includes(':') ? (['ipv6'] as const) : (['ipv4'] as const);
      expectFailure(() => a.allocate(req(`ns/ask-${ip}`, { families: [...families], requestedIps: [ip] })), 'ip-excluded', /never a host's address/);
    }
    // Just outside the excluded blocks is fine.
    for (const ip of ['126.255.255.255', '128.0.0.0', '223.255.255.255', 'feff::1']) {
      const families = ip.includes(':') ? (['ipv6'] as const) : (['ipv4'] as const);
      expect(a.allocate(req(`ns/edge-${ip}`, { families: [...families], requestedIps: [ip] })).ips).toEqual([ip]);
    }
    const [v4, v6] = a.stats();
    expect(v4.ipv4!.total).toBe((1n << 32n) - 1n - (1n << 24n) - (1n << 29n));
    expect(v6.ipv6!.total).toBe((1n << 128n) - 2n - (1n << 120n));
  });

  it('keeps .0/.255 to avoid-buggy-ips: allowed without it, next to an excluded block', () => {
    const a = new Allocator(config(pool('a', ['126.255.255.255-128.0.0.0'])));
    expect(a.allocate(req('ns/s1')).ips).toEqual(['126.255.255.255']);
    expect(a.allocate(req('ns/s2')).ips).toEqual(['128.0.0.0']);
    expectFailure(() => a.allocate(req('ns/s3')), 'pool-exhausted');
    const b = new Allocator(config(pool('b', ['126.255.255.255-128.0.0.1'], { avoidBuggyIps: true })));
    expect(b.allocate(req('ns/s1')).ips).toEqual(['128.0.0.1']);
  });

  it('a restored never-host address stays with its Service and never becomes free space', () => {
    const a = new Allocator(config(pool('a', ['0.0.0.0/30'])));
    expect(a.restore([{ request: req('ns/old'), ips: ['0.0.0.0'] }])).toEqual([]);
    expect(a.allocate(req('ns/old')).ips).toEqual(['0.0.0.0']);
    expect(a.release('ns/old')).toBe(true);
    expect(a.allocate(req('ns/new')).ips).toEqual(['0.0.0.1']);
    expect(a.allocate(req('ns/new2')).ips).toEqual(['0.0.0.2']);
  });
});
