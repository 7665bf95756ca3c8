// Builds Config objects and requests for allocator tests without going through the parser.
import type { AddressPool, AddressRange, Config } from '../../../config/model.js';
import { parseIp } from '../../../allocator/ip.js';
import type { ServiceRequest } from '../../../allocator/service-request.js';

export function range(source: string): AddressRange {
  if (source.includes('/')) {
    const [ip, len] = source.split('/');
    const p = parseIp(ip);
    if (!p) throw new Error(`bad test range ${source}`);
    const bits = p.family === 'ipv4' ? 32 : 128;
    const size = 1n << BigInt(bits - Number(len));
    const first = p.num - (p.num % size);
    return { family: p.family, first, last: first + size - 1n, source, prefixLength: Number(len) };
  }
  const [a, b] = source.split('-').map((s) => parseIp(s.trim()));
  if (!a || !b) throw new Error(`bad test range ${source}`);
  return { family: a.family, first: a.num, last: b.num, source };
}

export function pool(name: string, addresses: string[], opts: Partial<Omit<AddressPool, 'name' | 'addresses'>> = {}): AddressPool {
  return {
    name,
    protocol: 'layer2',
    addresses: addresses.map(range),
    avoidBuggyIps: false,
    autoAssign: true,
    bgpAdvertisements: [],
    ...opts,
  };
}

export function config(...pools: AddressPool[]): Config {
  return { peers: [], bgpCommunities: {}, pools, bfdProfiles: [] };
}

export function req(key: string, opts: Partial<Omit<ServiceRequest, 'key'>> = {}): ServiceRequest {
  return {
    key,
    families: ['ipv4'],
    requestedIps: [],
    ports: [{ protocol: 'TCP', port: 80 }],
    externalTrafficPolicy: 'Cluster',
    selector: { app: key },
    ...opts,
  };
}
