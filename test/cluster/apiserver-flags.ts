// kube-apiserver's command line for the test cluster and the lab, chosen by the binary's version:
// flags and feature gates come and go between releases (a removed flag or gate is a fatal start
// error), so each one is listed once with the versions that accept and need it, and why we pass it.
// Any kube-apiserver from 1.20 to current can be given with HERALD_KUBE_APISERVER.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** A Kubernetes release as `kube-apiserver --version` prints it ("Kubernetes v1.20.2"). */
export interface KubeVersion {
  major: number;
  minor: number;
  patch: number;
  /** As printed, e.g. "v1.32.0-rc.1+k3s1". */
  text: string;
}

/** The oldest release Herald supports (and the test cluster can start). */
export const MIN_SUPPORTED: readonly [number, number] = [1, 20];

/** Parses `kube-apiserver --version` output; throws naming the text when it is not a version. */
export function parseKubeVersion(output: string): KubeVersion {
  const m = /\bv(\d+)\.(\d+)(?:\.(\d+))?[^\s]*/.exec(output);
  if (!m) throw new Error(`not a Kubernetes version: ${JSON.stringify(output.trim().slice(0, 200))}`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text: m[0] };
}

/** Runs `<binary> --version`. */
export function kubeApiserverVersion(binary: string): KubeVersion {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${binary} --version failed: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
  return parseKubeVersion(r.stdout);
}

type Minor = readonly [major: number, minor: number];

function atLeast(v: KubeVersion, [major, minor]: Minor): boolean {
  return v.major !== major ? v.major > major : v.minor >= minor;
}

/** Where the cluster's files and endpoints are. */
export interface ApiserverContext {
  /** Directory with server.crt/key, ca.crt, tokens.csv, sa.key/pub (cluster.ts writes them). */
  dir: string;
  address: string;
  port: number;
  etcdEndpoint: string;
}

interface Rule {
  /** First release that accepts (or needs) it. */
  since?: Minor;
  /** Last release that accepts (or needs) it. */
  until?: Minor;
  why: string;
}

interface FlagRule extends Rule {
  flags: (c: ApiserverContext) => string[];
}

interface GateRule extends Rule {
  gate: string;
}

/** Every flag we pass, with the versions it is passed to (an absent bound: any). */
export const FLAG_RULES: readonly FlagRule[] = [
  { flags: (c) => [`--etcd-servers=${c.etcdEndpoint}`], why: 'the cluster has its own etcd' },
  {
    flags: (c) => [`--bind-address=${c.address}`, `--advertise-address=${c.address}`, `--secure-port=${c.port}`],
    why: 'listen on the lab or loopback address at a free port',
  },
  {
    flags: () => ['--insecure-port=0'],
    until: [1, 23],
    why: 'off by default and without effect since 1.20 (insecure serving removed); the flag itself was removed in 1.24',
  },
  {
    flags: (c) => [`--tls-cert-file=${join(c.dir, 'server.crt')}`, `--tls-private-key-file=${join(c.dir, 'server.key')}`, `--client-ca-file=${join(c.dir, 'ca.crt')}`],
    why: 'our throwaway CA, so clients verify the server',
  },
  { flags: (c) => [`--token-auth-file=${join(c.dir, 'tokens.csv')}`], why: 'the static admin token of every test cluster (ADMIN_TOKEN)' },
  { flags: () => ['--authorization-mode=RBAC'], why: 'RBAC as in real clusters: the chart\'s Roles are tested for real' },
  {
    flags: (c) => [
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(c.dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(c.dir, 'sa.key')}`,
    ],
    since: [1, 20],
    why: 'required since 1.20 (bound service-account tokens); the RBAC tests use ServiceAccount tokens',
  },
  { flags: () => ['--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112'], why: 'dual-stack Services (the IPv6 family needs IPv6DualStack on 1.20)' },
  { flags: () => ['--disable-admission-plugins=ServiceAccount'], why: 'no controller-manager creates default ServiceAccounts, so the plugin would reject Pods' },
  { flags: () => ['--endpoint-reconciler-type=none'], why: 'no kubelet or lease reconciler: the kubernetes Service\'s endpoints are not ours to manage' },
  { flags: () => ['--profiling=false', '--v=1'], why: 'quiet logs, no debug endpoints' },
];

/** Feature gates we enable: only where they exist and are off by default (a removed gate is a start error). */
export const GATE_RULES: readonly GateRule[] = [
  {
    gate: 'EndpointSliceNodeName',
    until: [1, 20],
    why: 'v1beta1 EndpointSlice endpoints carry nodeName (alpha in 1.20; GA, always on, in 1.21; gate removed in 1.22)',
  },
  {
    gate: 'IPv6DualStack',
    until: [1, 20],
    why: 'dual-stack Service CIDRs (alpha, off, in 1.20; beta and on by default from 1.21; GA 1.23; gate removed in 1.25)',
  },
];

function applies(v: KubeVersion, r: Rule): boolean {
  return (r.since === undefined || atLeast(v, r.since)) && (r.until === undefined || !atLeast(v, [r.until[0], r.until[1] + 1]));
}

/** Feature gates to enable on this version (empty: pass no --feature-gates). */
export function featureGates(v: KubeVersion): string[] {
  return GATE_RULES.filter((r) => applies(v, r)).map((r) => r.gate);
}

/**
 * kube-apiserver's arguments for this version (extra ones last, so they can override). Throws for
 * a release older than MIN_SUPPORTED. Releases newer than the table knows get every flag without
 * an upper bound: the table only needs an entry when a release removes or adds something.
 */
export function apiserverFlags(v: KubeVersion, c: ApiserverContext, extra: readonly string[] = []): string[] {
  if (!atLeast(v, MIN_SUPPORTED)) throw new Error(`kube-apiserver ${v.text} is older than ${MIN_SUPPORTED.join('.')}, the oldest release Herald supports`);
  const gates = featureGates(v);
  return [
    ...FLAG_RULES.filter((r) => applies(v, r)).flatMap((r) => r.flags(c)),
    ...(gates.length ? [`--feature-gates=${gates.map((g) => `${g}=true`).join(',')}`] : []),
    ...extra,
  ];
}
