// The one DNS-subdomain check (object names, label key prefixes, node names) as apimachinery's IsDNS1123Subdomain.
import { describe, expect, it } from 'vitest';
import { isDnsSubdomain } from '../../../config/dns-subdomain.js';

describe('isDnsSubdomain', () => {
  it('accepts what Kubernetes accepts and refuses the rest', () => {
    for (const ok of ['a', 'node-1', 'kubernetes.io', 'worker-7.rack-2.example.com', '0', 'a'.repeat(253)]) expect(isDnsSubdomain(ok), ok).toBe(true);
    for (const bad of ['', 'A', 'node_1', '-a', 'a-', 'a..b', '.a', 'a.', 'a.-b', 'a'.repeat(254), 'nöde']) expect(isDnsSubdomain(bad), bad).toBe(false);
  });
});
