// The test cluster's kube-apiserver flags by version: only one release (Debian's 1.20.2) can be
// built here, so the choice for the others is checked against what each release accepts.
import { describe, expect, it } from 'vitest';
import { apiserverFlags, featureGates, parseKubeVersion, type ApiserverContext } from '../../cluster/apiserver-flags.js';

const ctx: ApiserverContext = { dir: '/tmp/c', address: '127.0.0.1', port: 6443, etcdEndpoint: 'http://127.0.0.1:2379' };
const flags = (version: string): string[] => apiserverFlags(parseKubeVersion(`Kubernetes ${version}`), ctx);
const names = (args: string[]): string[] => args.map((a) => a.split('=')[0]);

describe('parseKubeVersion', () => {
  it('reads `kube-apiserver --version` output of releases, pre-releases and distributions', () => {
    expect(parseKubeVersion('Kubernetes v1.20.2\n')).toMatchObject({ major: 1, minor: 20, patch: 2, text: 'v1.20.2' });
    expect(parseKubeVersion('Kubernetes v1.35.0-alpha.1')).toMatchObject({ major: 1, minor: 35, patch: 0 });
    expect(parseKubeVersion('Kubernetes v1.29.3+k3s1')).toMatchObject({ major: 1, minor: 29, patch: 3 });
    expect(() => parseKubeVersion('command not found')).toThrow(/not a Kubernetes version: "command not found"/);
  });
});

describe('apiserverFlags', () => {
  // Flags every supported release accepts, always passed.
  const common = [
    '--etcd-servers',
    '--bind-address',
    '--advertise-address',
    '--secure-port',
    '--tls-cert-file',
    '--tls-private-key-file',
    '--client-ca-file',
    '--token-auth-file',
    '--authorization-mode',
    '--service-account-issuer',
    '--service-account-key-file',
    '--service-account-signing-key-file',
    '--service-cluster-ip-range',
    '--disable-admission-plugins',
    '--endpoint-reconciler-type',
    '--profiling',
    '--v',
  ];

  it('1.20: --insecure-port=0 and the two alpha gates (EndpointSliceNodeName, IPv6DualStack)', () => {
    const args = flags('v1.20.2');
    expect(names(args)).toEqual(expect.arrayContaining(common));
    expect(args).toContain('--insecure-port=0');
    expect(args).toContain('--feature-gates=EndpointSliceNodeName=true,IPv6DualStack=true');
    expect(args).toContain(`--service-account-signing-key-file=/tmp/c/sa.key`);
  });

  it('1.21-1.23: no gates any more (both on by default), --insecure-port still accepted', () => {
    expect(featureGates(parseKubeVersion('v1.21.0'))).toEqual([]);
    const args = flags('v1.23.17');
    expect(args).toContain('--insecure-port=0');
    expect(names(args)).not.toContain('--feature-gates');
  });

  it.each(['v1.24.0', 'v1.25.16', 'v1.29.3', 'v1.32.0', 'v1.35.0'])('%s: no --insecure-port (removed in 1.24) and no removed gate', (v) => {
    const args = flags(v);
    expect(names(args)).toEqual(common);
    expect(args.join(' ')).not.toMatch(/insecure|EndpointSliceNodeName|IPv6DualStack/);
  });

  it('a release newer than the table gets every flag without an upper bound', () => {
    expect(names(flags('v1.40.0'))).toEqual(common);
  });

  it('refuses releases older than 1.20, naming the version', () => {
    expect(() => flags('v1.19.16')).toThrow(/v1\.19\.16 is older than 1\.20/);
  });

  it('puts extra arguments last, so a caller can override', () => {
    const args = apiserverFlags(parseKubeVersion('v1.32.0'), ctx, ['--watch-cache=false']);
    expect(args.at(-1)).toBe('--watch-cache=false');
  });
});
