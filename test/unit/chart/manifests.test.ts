// `herald manifests`: pod security of the install, options -> values, and the command's output and
// refusals (exit 1 for an invalid config file, 2 for bad flags or unreadable files).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import yaml from 'js-yaml';
import { register } from '../../../cli/manifests.js';
import { crdObjects } from '../../../kube/crds.js';
import { CONTROLLER_LEASE, defaultValues, installManifests, type KubeObject } from '../../../kube/manifests.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'herald-manifests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Container = { args: string[]; securityContext: Record<string, unknown>; image: string };
type PodSpec = { hostNetwork?: boolean; securityContext: Record<string, unknown>; containers: Container[]; tolerations?: unknown[]; serviceAccountName: string };

function podSpec(objs: KubeObject[], kind: string): PodSpec {
  const o = objs.find((x) => x.kind === kind) as KubeObject & { spec: { template: { spec: PodSpec } } };
  return o.spec.template.spec;
}

const release = { name: 'herald', namespace: 'herald-system', version: '0.1.0' };

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const program = new Command('herald').version('9.9.9').exitOverride();
  register(program);
  for (const c of [program, ...program.commands]) c.exitOverride().configureOutput({ writeErr: (s) => (err += s), writeOut: (s) => (out += s) });
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'herald', 'manifests', ...args]);
    return { code: Number(process.exitCode ?? 0), out, err };
  } catch (e) {
    return { code: (e as { exitCode?: number }).exitCode ?? -1, out, err };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
    process.exitCode = before;
  }
}

describe('pod security of the install', () => {
  const objs = installManifests(defaultValues(), release);

  it('controller: non-root, read-only root filesystem, no capabilities, no privilege escalation', () => {
    const spec = podSpec(objs, 'Deployment');
    expect(spec.hostNetwork).toBeUndefined();
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(spec.securityContext.runAsUser).not.toBe(0);
    expect(spec.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  });

  it('speaker: host network, drop ALL + NET_RAW only, read-only root filesystem; NET_BIND_SERVICE only for passive BGP', () => {
    const spec = podSpec(objs, 'DaemonSet');
    expect(spec.hostNetwork).toBe(true);
    expect(spec.containers[0].securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_RAW'] },
    });
    expect(spec.containers[0].securityContext.privileged).toBeUndefined();
    const passive = defaultValues();
    passive.speaker.bgpPassive = true;
    const p = podSpec(installManifests(passive, release), 'DaemonSet');
    expect((p.containers[0].securityContext.capabilities as { add: string[] }).add).toEqual(['NET_RAW', 'NET_BIND_SERVICE']);
    expect(p.containers[0].args).toContain('--bgp-listen');
    expect(spec.tolerations).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' })]),
    );
  });

  it('daemons get the node name, namespace and ConfigMap as flags they define', () => {
    const speaker = podSpec(objs, 'DaemonSet').containers[0];
    expect(speaker.args).toEqual([
      'speaker', '--node-name=$(NODE_NAME)', '--namespace=$(POD_NAMESPACE)', '--config-map=herald-config', '--metrics-address=:7473', '--log-level=info',
      '--liveness-port=7947', '--liveness-address=$(HOST_IP)', '--liveness-secret-file=/etc/herald/liveness/secret',
    ]);
    const controller = podSpec(objs, 'Deployment').containers[0];
    expect(controller.args).toEqual(['controller', '--namespace=$(POD_NAMESPACE)', '--config-map=herald-config', '--leader-elect=true', '--metrics-address=:7472', '--log-level=info']);
    expect(controller.image).toBe('ghcr.io/herald-lb/herald:0.1.0');
  });

  it('the controller may touch only its own leader Lease by name', () => {
    const role = objs.find((o) => o.kind === 'Role' && o.metadata.name === 'herald-controller') as KubeObject & { rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[] };
    const leases = role.rules.filter((r) => r.resources.includes('leases'));
    expect(leases).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [CONTROLLER_LEASE], verbs: ['get', 'list', 'watch', 'update'] },
    ]);
    // The controller names its Lease so (controller/controller.ts).
    expect(readFileSync(join(root, 'controller/controller.ts'), 'utf8')).toContain(`'${CONTROLLER_LEASE}'`);
  });
});

describe('Dockerfile (no container engine here: checked for consistency with the chart and the build)', () => {
  const docker = readFileSync(join(root, 'Dockerfile'), 'utf8');

  it('is multi-stage on node:20-slim and runs as the uid the controller Pod sets', () => {
    expect(docker.match(/^FROM node:20-slim/gm)?.length).toBe(2);
    const user = [...docker.matchAll(/^USER (\d+):(\d+)$/gm)].at(-1);
    const spec = podSpec(installManifests(defaultValues(), release), 'Deployment');
    expect(Number(user?.[1])).toBe(spec.securityContext.runAsUser);
    expect(Number(user?.[2])).toBe(spec.securityContext.runAsGroup);
    expect(docker).toMatch(/ENTRYPOINT \["node", "\/app\/dist\/cli\/herald.js"\]/);
  });

  it('builds and ships every addon of binding.gyp', () => {
    const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8')) as { targets: { target_name: string }[] };
    for (const t of gyp.targets) expect(docker).toContain(`/src/build/Release/${t.target_name}.node`);
    expect(docker).toMatch(/node-gyp.js rebuild/);
  });
});

/** A fixed liveness secret (the default is random per run). */
const SECRET = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL').toString('base64');

describe('herald manifests', () => {
  it('prints the Namespace (Pod Security: privileged) and the install, versioned by the program', async () => {
    const r = await run(['--namespace', 'lb', '--liveness-secret', SECRET]);
    expect(r.code).toBe(0);
    const all = yaml.loadAll(r.out) as KubeObject[];
    // The metallb.io CRDs come first (helm installs crds/ before templates, too).
    expect(all.slice(0, crdObjects().length)).toEqual(crdObjects());
    const docs = all.slice(crdObjects().length);
    expect(docs[0]).toMatchObject({ kind: 'Namespace', metadata: { name: 'lb', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } });
    expect(docs.slice(1)).toEqual(installManifests(defaultValues(), { name: 'herald', namespace: 'lb', version: '9.9.9', livenessSecret: SECRET }));
    const none = await run(['--no-namespace-object']);
    expect((yaml.loadAll(none.out) as KubeObject[]).some((d) => d.kind === 'Namespace')).toBe(false);
  });

  it('maps its options onto the chart values', async () => {
    const cfg = join(dir, 'cm.yaml');
    writeFileSync(
      cfg,
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata:\n  config: |\n    address-pools:\n    - name: a\n      protocol: layer2\n      addresses: [192.0.2.0/28]\n',
    );
    const r = await run([
      '--name', 'edge', '--image-repository', 'reg/h', '--image-tag', 't1', '--image-pull-policy', 'Always', '--log-level', 'debug',
      '--lb-class', 'x/y', '--controller-replicas', '3', '--config-file', cfg, '--bgp-passive', '--no-service-status', '--interface', 'eth0', '--interface', 'eth1', '--exclude-interface', '^lo$', '--graceful-restart', '90', '--pod-monitor', '--prometheus-rule', '--no-namespace-object', '--no-crds', '--liveness-port', '7950', '--liveness-secret', SECRET,
    ]);
    expect(r.err).toBe('');
    const v = defaultValues();
    v.image = { repository: 'reg/h', tag: 't1', pullPolicy: 'Always' };
    v.logLevel = 'debug';
    v.loadBalancerClass = 'x/y';
    v.controller.replicas = 3;
    v.configInline = { 'address-pools': [{ name: 'a', protocol: 'layer2', addresses: ['192.0.2.0/28'] }] };
    v.speaker.bgpPassive = true;
    v.speaker.serviceStatus = false;
    v.speaker.interfaces = ['eth0', 'eth1'];
    v.speaker.excludeInterfaces = ['^lo$'];
    v.speaker.gracefulRestart = 90;
    v.podMonitor.enabled = true;
    v.prometheusRule.enabled = true;
    v.speaker.liveness.port = 7950;
    expect(yaml.loadAll(r.out)).toEqual(installManifests(v, { name: 'edge', namespace: 'herald-system', version: '9.9.9', livenessSecret: SECRET }));
    const bare = join(dir, 'bare.yaml');
    writeFileSync(bare, 'address-pools:\n- name: b\n  protocol: bgp\n  addresses: [198.51.100.0/24]\n');
    const b = await run(['--config-file', bare, '--no-namespace-object']);
    const cm = (yaml.loadAll(b.out) as KubeObject[]).find((o) => o.kind === 'ConfigMap') as KubeObject & { data: { config: string } };
    expect(yaml.load(cm.data.config)).toEqual({ 'address-pools': [{ name: 'b', protocol: 'bgp', addresses: ['198.51.100.0/24'] }] });
    const e = await run(['--existing-config-map', 'mine', '--no-namespace-object']);
    const objs = yaml.loadAll(e.out) as KubeObject[];
    expect(objs.some((o) => o.kind === 'ConfigMap')).toBe(false);
    expect(podSpec(objs, 'DaemonSet').containers[0].args).toContain('--config-map=mine');
    const c = await run(['--config-source', 'crds', '--no-namespace-object', '--liveness-secret', SECRET]);
    const v2 = defaultValues();
    v2.namespaceObject = false;
    v2.configSource = 'crds';
    expect((yaml.loadAll(c.out) as KubeObject[]).slice(crdObjects().length)).toEqual(installManifests(v2, { name: 'herald', namespace: 'herald-system', version: '9.9.9', livenessSecret: SECRET }));
    expect(podSpec(yaml.loadAll(c.out) as KubeObject[], 'Deployment').containers[0].args).toContain('--config-source=crds');
  });

  it('maps the Lease timings, extra daemon flags, priority classes, --no-rbac and --kube-version onto the chart values', async () => {
    const r = await run([
      '--controller-lease-duration', '30s', '--speaker-lease-renew', '500ms', '--speaker-lease-duration', '2s',
      '--controller-extra-arg=--services-namespace=apps', '--speaker-extra-arg', '--services-namespace=apps', '--speaker-extra-arg', '--bgp-listen=:1179',
      '--controller-priority-class', 'system-cluster-critical', '--speaker-priority-class', 'system-node-critical', '--no-rbac', '--no-crds', '--kube-version', '1.20', '--no-liveness',
    ]);
    expect(r.err).toBe('');
    const v = defaultValues();
    v.namespaceObject = true;
    v.rbac.create = false;
    v.controller.leaseDuration = '30s';
    v.controller.extraArgs = ['--services-namespace=apps'];
    v.controller.priorityClassName = 'system-cluster-critical';
    v.speaker.leaseRenew = '500ms';
    v.speaker.leaseDuration = '2s';
    v.speaker.extraArgs = ['--services-namespace=apps', '--bgp-listen=:1179'];
    v.speaker.priorityClassName = 'system-node-critical';
    v.speaker.liveness.enabled = false;
    const docs = yaml.loadAll(r.out) as KubeObject[];
    expect(docs).toEqual(installManifests(v, { name: 'herald', namespace: 'herald-system', version: '9.9.9', kubeVersion: '1.20' }));
    expect(docs.find((d) => d.kind === 'PodDisruptionBudget')?.apiVersion).toBe('policy/v1beta1');
    expect(docs.some((d) => d.kind.includes('Role'))).toBe(false);
    const latest = yaml.loadAll((await run(['--no-namespace-object'])).out) as KubeObject[];
    expect(latest.find((d) => d.kind === 'PodDisruptionBudget')?.apiVersion).toBe('policy/v1');
  });

  it('liveness: a new random Secret per run unless --liveness-secret names the installed one; a bad one is refused', async () => {
    const secretOf = async (args: string[]): Promise<string> =>
      ((yaml.loadAll((await run(['--no-crds', ...args])).out) as KubeObject[]).find((o) => o.kind === 'Secret') as KubeObject & { data: { secret: string } }).data.secret;
    const [a, b] = [await secretOf([]), await secretOf([])];
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64').toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(await secretOf(['--liveness-secret', SECRET])).toBe(SECRET);
    const bad = await run(['--liveness-secret', 'c2hvcnQ=']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--liveness-secret: expected base64 of at least 16 bytes/);
  });

  it('refuses an invalid config file with exit 1 and the field path', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'address-pools:\n- name: a\n  protocol: layer3\n  addresses: [192.0.2.0/28]\n');
    const r = await run(['--config-file', bad]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/address-pools\[0\]\.protocol|address-pools\.0\.protocol|protocol/);
  });

  it('refuses bad flags and unreadable files with exit 2, naming the flag', async () => {
    for (const [args, flag] of [
      [['--namespace', 'Bad_NS'], '--namespace'],
      [['--name', '-x'], '--name'],
      [['--controller-replicas', 'two'], '--controller-replicas'],
      [['--image-pull-policy', 'Sometimes'], '--image-pull-policy'],
      [['--log-level', 'loud'], '--log-level'],
      [['--graceful-restart', '5000'], '--graceful-restart'],
      [['--exclude-interface', '(('], '--exclude-interface'],
      [['--config-file', join(dir, 'missing.yaml')], '--config-file'],
      [['--config-file', 'x', '--existing-config-map', 'y'], '--existing-config-map'],
      [['--speaker-lease-renew', '1 second'], '--speaker-lease-renew'],
      [['--controller-lease-duration', 'soon'], '--controller-lease-duration'],
      [['--speaker-priority-class', 'Bad_Class'], '--speaker-priority-class'],
      [['--kube-version', 'latest'], '--kube-version'],
      [['--config-source', 'etcd'], '--config-source'],
      [['--config-source', 'crds', '--config-file', 'x'], '--config-file'],
    ] as const) {
      const r = await run([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toContain(flag);
      expect(r.out).toBe('');
    }
  });
});
