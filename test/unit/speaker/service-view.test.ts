import { describe, expect, it } from 'vitest';
import { endpointsView, hasReadyEndpoint, hasReadyEndpointOn, NO_ENDPOINTS } from '../../../speaker/service-view.js';

describe('service view', () => {
  it('builds the endpoints view from ready endpoints per node ("" = no node name)', () => {
    const view = endpointsView(
      new Map([
        ['node-a', 2],
        ['node-b', 0],
        ['', 1],
      ]),
    );
    expect(view).toEqual({ readyByNode: new Map([['node-a', 2]]), readyWithoutNode: 1 });
    expect(hasReadyEndpointOn(view, 'node-a')).toBe(true);
    expect(hasReadyEndpointOn(view, 'node-b')).toBe(false);
    expect(hasReadyEndpoint(view)).toBe(true);
  });

  it('no endpoints means none anywhere', () => {
    expect(hasReadyEndpoint(NO_ENDPOINTS)).toBe(false);
    expect(hasReadyEndpoint(endpointsView(new Map([['', 0]])))).toBe(false);
    expect(hasReadyEndpoint(endpointsView(new Map([['', 1]])))).toBe(true);
  });
});
