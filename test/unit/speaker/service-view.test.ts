import { describe, expect, it } from 'vitest';
import { endpointsView, hasReadyEndpoint, hasReadyEndpointOn, NO_ENDPOINTS } from '../../../speaker/service-view.js';

describe('service view', () => {
  it('builds the endpoints view from per-node addresses ("" = no node name)', () => {
    const view = endpointsView(
      new Map([
        ['node-a', { ready: ['10.0.0.1', '10.0.0.2'], notReady: [] }],
        ['node-b', { ready: [], notReady: ['10.0.0.3'] }],
        ['', { ready: ['10.0.0.4'], notReady: [] }],
      ]),
    );
    expect(view).toEqual({ readyByNode: new Map([['node-a', 2]]), readyWithoutNode: 1 });
    expect(hasReadyEndpointOn(view, 'node-a')).toBe(true);
    expect(hasReadyEndpointOn(view, 'node-b')).toBe(false);
    expect(hasReadyEndpoint(view)).toBe(true);
  });

  it('no endpoints means none anywhere', () => {
    expect(hasReadyEndpoint(NO_ENDPOINTS)).toBe(false);
    expect(hasReadyEndpoint(endpointsView(new Map([['', { ready: [] }]])))).toBe(false);
    expect(hasReadyEndpoint(endpointsView(new Map([['', { ready: ['10.0.0.9'] }]])))).toBe(true);
  });
});
