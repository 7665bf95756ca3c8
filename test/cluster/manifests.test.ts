// `herald manifests` against the real kube-apiserver: the output passes server-side dry-run, the
// RBAC it grants is exactly what each daemon needs (a `kubectl auth can-i --as=` table), and the
// real controller and speaker processes work under their ServiceAccounts' tokens, not the admin's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { HERALD_BIN } from './controller-process.js';
import { installCrds } from './crd-objects.js';
import { endpointSlice, sliceApi } from './endpoint-slices.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, serviceAccountKubeConfig, uniqueName, waitFor } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-manifests-cluster-'));
const children: { kill: () => Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  rmSync(dir, { recursive: true, force: true });
});

let serverMinor: string | undefined;

/** The test server's MAJOR.MINOR, for --kube-version (it picks the PodDisruptionBudget API: 1.20 has only policy/v1beta1). */
function serverVersion(): string {
  if (serverMinor === undefined) {
    const v = (JSON.parse(kubectl(['version', '-o', 'json'])) as { serverVersion: { major: string; minor: string } }).serverVersion;
    serverMinor = `${v.major}.${v.minor.replace(/\D.*$/, '')}`;
  }
  return serverMinor;
}

function manifests(args: string[]): string {
  if (!existsSync(HERALD_BIN)) throw new Error(`${HERALD_BIN} is missing: run make build first`);
  const r = spawnSync(process.execPath, [HERALD_BIN, 'manifests', '--kube-version', serverVersion(), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`herald manifests ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** `kubectl auth can-i` as a ServiceAccount: true for yes (exit 0), false for no (exit 1). */
async function canI(ns: string, sa: string, verb: string, resource: string, namespace: string, subresource?: string): Promise<boolean> {
  const args = ['--kubeconfig', kubeconfigPath(), 'auth', 'can-i', verb, resource, '-n', namespace, `--as=system:serviceaccount:${ns}:${sa}`];
  if (subresource) args.push(`--subresource=${subresource}`);
  return new Promise((resolve, reject) => {
    const p = spawn('kubectl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    // 'close', not 'exit': 'exit' can come before the last stdout chunk has been read (seen under load:
    // "exit 0" with an empty stdout).
    p.on('close', (code) => {
      if (code === 0 && out.trim() === 'yes') resolve(true);
      else if (code === 1 && out.trim() === 'no') resolve(false);
      else reject(new Error(`kubectl ${args.join(' ')}: exit ${code}, ${out} ${err}`));
    });
  });
}

interface Daemon {
  lines: Record<string, unknown>[];
  waitFor(what: string, pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(): Promise<void>;
}

/** Runs `herald <args>` collecting its JSON log lines. */
function daemon(args: string[]): Daemon {
  const child = spawn(process.execPath, [HERALD_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '' } });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const d: Daemon = {
    lines,
    waitFor: (what, pred, timeoutMs = 30_000) =>
      waitFor(
        `${args[0]}: ${what}`,
        () => {
          if (child.exitCode !== null) throw new Error(`${args[0]} exited ${child.exitCode}: ${stderr.slice(-1000)} ${JSON.stringify(lines.slice(-5))}`);
          return lines.find(pred);
        },
        timeoutMs,
      ),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  children.push(d);
  return d;
}

/** A kubeconfig file holding a freshly minted token of ServiceAccount ns/name. */
async function tokenKubeconfig(ns: string, name: string): Promise<string> {
  const kc: KubeConfig = await serviceAccountKubeConfig(ns, name);
  const path = join(dir, `${ns}-${name}.kubeconfig`);
  writeFileSync(path, kc.exportConfig());
  return path;
}

const POOL = 'address-pools:\n- name: lab\n  protocol: layer2\n  addresses: [192.0.2.16/29]\n';

describe('herald manifests against the API server', () => {
  let ns: string;
  let nsConfigMap: string;
  let name: string;

  beforeAll(async () => {
    // The daemons watch the metallb.io kinds whenever they are served: install the CRDs so both sources are exercised.
    await installCrds();
    ns = await freshNamespace('manifests');
    nsConfigMap = ns;
    name = uniqueName('hm');
  }, 120_000);

  it('passes kubectl apply --dry-run=server, also with every option', () => {
    const cfg = join(dir, 'pool.yaml');
    writeFileSync(cfg, POOL);
    for (const extra of [[], ['--bgp-passive', '--lb-class', 'example.com/lb', '--controller-replicas', '1', '--config-file', cfg, '--log-level', 'debug', '--interface', 'eth0', '--exclude-interface', '^lo$', '--graceful-restart', '120', '--image-tag', 'dev', '--image-pull-policy', 'Always'], ['--existing-config-map', 'mine'], ['--config-source', 'crds'], ['--controller-lease-duration', '30s', '--speaker-lease-renew', '500ms', '--speaker-lease-duration', '2s', '--speaker-extra-arg=--services-namespace=x', '--controller-priority-class', 'system-cluster-critical', '--speaker-priority-class', 'system-node-critical', '--no-rbac']]) {
      const text = manifests(['--namespace', ns, '--name', name, ...extra]);
      const docs = yaml.loadAll(text).filter(Boolean);
      const out = kubectl(['apply', '--dry-run=server', '-f', '-'], { input: text });
      const applied = out.split('\n').filter((l) => l.includes('(server dry run)'));
      expect(applied.length, out).toBe(docs.length);
    }
  });

  it('applies for real, and the ServiceAccounts can do exactly what their daemon needs', async () => {
    // Other files apply the same cluster-scoped CRDs at the same time: a write conflict is retried.
    let out = '';
    for (let attempt = 1; ; attempt++) {
      try {
        out = kubectl(['apply', '-f', '-'], { input: manifests(['--namespace', ns, '--name', name]) });
        break;
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    expect(out).toMatch(/clusterrolebinding.rbac.authorization.k8s.io\/.*-speaker (created|unchanged|configured)/);
    const controller = `${name}-controller`;
    const speaker = `${name}-speaker`;
    const other = 'default';
    // [ServiceAccount, verb, resource, namespace, subresource, expected]
    const table: [string, string, string, string, string | undefined, boolean][] = [];
    const row = (sa: string, verbs: string[], resource: string, namespace: string, expected: boolean, sub?: string): void => {
      for (const v of verbs) table.push([sa, v, resource, namespace, sub, expected]);
    };
    // controller: Services everywhere (patch: metallb.io/ip-allocated-from-pool), their status, Namespaces
    // (serviceAllocation.namespaceSelectors), Events, its ConfigMap and leader Lease.
    row(controller, ['get', 'list', 'watch', 'patch'], 'services', other, true);
    row(controller, ['update', 'patch'], 'services', other, true, 'status');
    row(controller, ['create', 'update', 'delete'], 'services', other, false);
    row(controller, ['get', 'list', 'watch'], 'namespaces', other, true);
    row(controller, ['create', 'update', 'patch', 'delete'], 'namespaces', other, false);
    row(controller, ['create', 'patch'], 'events', other, true);
    row(controller, ['create', 'patch'], 'events.events.k8s.io', other, true);
    row(controller, ['delete', 'list'], 'events', other, false);
    row(controller, ['get', 'list', 'watch'], 'configmaps', ns, true);
    row(controller, ['create', 'update', 'delete'], 'configmaps', ns, false);
    row(controller, ['get', 'list'], 'configmaps', other, false);
    row(controller, ['create'], 'leases.coordination.k8s.io', ns, true);
    row(controller, ['get', 'list', 'watch', 'update'], 'leases.coordination.k8s.io/herald-controller', ns, true);
    row(controller, ['get', 'update', 'delete'], 'leases.coordination.k8s.io/herald-speaker-node1', ns, false);
    row(controller, ['list', 'watch', 'delete'], 'leases.coordination.k8s.io', ns, false);
    row(controller, ['create'], 'leases.coordination.k8s.io', other, false);
    row(controller, ['list'], 'endpointslices.discovery.k8s.io', other, false);
    row(controller, ['list'], 'endpoints', other, false);
    row(controller, ['list'], 'nodes', other, false);
    row(controller, ['get', 'list'], 'secrets', ns, false);
    row(controller, ['list'], 'pods', other, false);
    // Both daemons read the metallb.io objects of their namespace (either config source), never write them.
    for (const sa of [controller, speaker]) {
      for (const kind of ['ipaddresspools', 'l2advertisements', 'bgpadvertisements', 'bgppeers', 'communities', 'bfdprofiles']) row(sa, ['get', 'list', 'watch'], `${kind}.metallb.io`, ns, true);
      row(sa, ['create', 'update', 'delete'], 'ipaddresspools.metallb.io', ns, false);
      row(sa, ['list'], 'ipaddresspools.metallb.io', other, false);
    }
    // Each daemon writes its own ConfigurationState (the controller's limited by name; create cannot be).
    row(controller, ['create'], 'configurationstates.metallb.io', ns, true);
    row(controller, ['get', 'update'], 'configurationstates.metallb.io/controller', ns, true);
    row(controller, ['update'], 'configurationstates.metallb.io/controller', ns, true, 'status');
    row(controller, ['update', 'delete'], 'configurationstates.metallb.io/speaker-node1', ns, false);
    row(controller, ['list', 'delete'], 'configurationstates.metallb.io', ns, false);
    row(speaker, ['get', 'create'], 'configurationstates.metallb.io', ns, true);
    row(speaker, ['update'], 'configurationstates.metallb.io', ns, true, 'status');
    row(speaker, ['delete'], 'configurationstates.metallb.io', ns, false);
    row(speaker, ['create'], 'configurationstates.metallb.io', other, false);
    // The speaker writes the ServiceL2Status/ServiceBGPStatus objects of its node and watches every
    // node's (ServiceL2Status: who holds which layer2 Service); the controller none.
    for (const kind of ['servicel2statuses.metallb.io', 'servicebgpstatuses.metallb.io']) {
      row(speaker, ['get', 'list', 'watch', 'create', 'update', 'delete'], kind, ns, true);
      row(speaker, ['update'], kind, ns, true, 'status');
      row(speaker, ['patch'], kind, ns, false);
      row(speaker, ['list', 'create'], kind, other, false);
      row(controller, ['list', 'create', 'delete'], kind, ns, false);
    }
    // speaker: Services, endpoints, Nodes (read), Events, its ConfigMap and the membership Leases.
    row(speaker, ['get', 'list', 'watch'], 'services', other, true);
    row(speaker, ['update', 'patch'], 'services', other, false, 'status');
    row(speaker, ['create', 'delete'], 'services', other, false);
    row(speaker, ['get', 'list', 'watch'], 'endpointslices.discovery.k8s.io', other, true);
    row(speaker, ['get', 'list', 'watch'], 'endpoints', other, true);
    row(speaker, ['get', 'list', 'watch'], 'nodes', other, true);
    row(speaker, ['update', 'patch'], 'nodes', other, false);
    row(speaker, ['create', 'patch'], 'events', other, true);
    row(speaker, ['create', 'patch'], 'events.events.k8s.io', other, true);
    row(speaker, ['get', 'list', 'watch'], 'configmaps', ns, true);
    row(speaker, ['update'], 'configmaps', ns, false);
    row(speaker, ['list'], 'configmaps', other, false);
    row(speaker, ['create', 'get', 'list', 'watch', 'update', 'delete'], 'leases.coordination.k8s.io', ns, true);
    row(speaker, ['list', 'create'], 'leases.coordination.k8s.io', other, false);
    row(speaker, ['get', 'list'], 'secrets', ns, false);
    row(speaker, ['list'], 'pods', other, false);
    // Another namespace's install is not ours to touch.
    row(controller, ['get'], 'configmaps', 'kube-system', false);
    const ask = async (rows: typeof table): Promise<{ sa: string; verb: string; res: string; namespace: string; expected: boolean; got: boolean }[]> => {
      const got: boolean[] = [];
      for (let i = 0; i < rows.length; i += 8) {
        got.push(...(await Promise.all(rows.slice(i, i + 8).map(([sa, verb, res, namespace, sub]) => canI(ns, sa, verb, res, namespace, sub)))));
      }
      return rows.map(([sa, verb, res, namespace, sub, expected], i) => ({ sa, verb, res: sub ? `${res}/${sub}` : res, namespace, expected, got: got[i] }));
    };
    const answers = await ask(table);
    // The RBAC authorizer reads Roles and bindings from an informer cache, so a grant applied a moment ago
    // may still answer "no": rows that differ are asked again for a while (a new install only adds grants,
    // so waiting cannot turn a wrong "yes" right).
    const wrongIdx = (): number[] => answers.flatMap((a, i) => (a.expected !== a.got ? [i] : []));
    for (const deadline = Date.now() + 20_000; wrongIdx().length > 0 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 500));
      const idx = wrongIdx();
      const again = await ask(idx.map((i) => table[i]));
      idx.forEach((i, k) => (answers[i] = again[k]));
    }
    expect(answers.filter((r) => r.expected !== r.got)).toEqual([]);
  });

  for (const source of ['configmap', 'crds'] as const) {
    it(`the controller and the speaker work under their ServiceAccounts' tokens (--config-source ${source})`, async () => {
      const admin = kubeConfig();
      const cfg = join(dir, 'pool-real.yaml');
      writeFileSync(cfg, POOL);
      // Each source in its own namespace: the crds install has no ConfigMap, and a Role that may read Secrets.
      const ns = source === 'configmap' ? nsConfigMap : await freshNamespace('manifests-crds');
      const rel = source === 'configmap' ? name : uniqueName('hmc');
      const install = manifests(['--namespace', ns, '--name', rel, '--no-namespace-object', ...(source === 'configmap' ? ['--config-file', cfg] : ['--config-source', 'crds', '--no-crds'])]);
      kubectl(['apply', '-f', '-'], { input: install });
      if (source === 'crds') {
        kubectl(['apply', '-n', ns, '-f', '-'], {
          input: [
            { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'lab' }, spec: { addresses: ['192.0.2.16/29'] } },
            { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'lab' }, spec: {} },
          ].map((o) => JSON.stringify(o)).join('\n'),
        });
      }
      const node = uniqueName('node');
      kubectl(['apply', '-f', '-'], {
        input: yaml.dump({ apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'kubernetes.io/hostname': node } } }),
      });
      // The daemons run with the container args of the manifests (so the flags must exist), $(VAR)s
      // expanded as the kubelet would, plus what a Pod gets from its environment: the API server and
      // the token, Services limited to this namespace, metrics on a free loopback port (later flags win).
      // The liveness Secret as the kubelet mounts it (a file with the decoded value), the node IP as
      // 127.0.0.1 (status.hostIP), and a free UDP port instead of the fixed one (later flags win).
      const secret = (yaml.loadAll(install) as { kind: string; data?: { secret: string } }[]).find((d) => d.kind === 'Secret');
      const secretFile = join(dir, `liveness-secret-${source}`);
      writeFileSync(secretFile, Buffer.from(secret?.data?.secret ?? '', 'base64'));
      const argsOf = (kind: string): string[] => {
        const o = (yaml.loadAll(install) as { kind: string; spec: { template: { spec: { containers: { args: string[] }[] } } } }[]).find((d) => d.kind === kind);
        return (o?.spec.template.spec.containers[0].args ?? []).map((a) =>
          a.replace('$(POD_NAMESPACE)', ns).replace('$(NODE_NAME)', node).replace('$(HOST_IP)', '127.0.0.1').replace('/etc/herald/liveness/secret', secretFile),
        );
      };
      const local = ['--services-namespace', ns, '--metrics-address', '127.0.0.1:0'];
      const livenessPort = ['--liveness-port', String(20_000 + Math.floor(Math.random() * 20_000))];
      const controller = daemon([...argsOf('Deployment'), '--kubeconfig', await tokenKubeconfig(ns, `${rel}-controller`), ...local]);
      const speaker = daemon([...argsOf('DaemonSet'), '--kubeconfig', await tokenKubeconfig(ns, `${rel}-speaker`), ...local, ...livenessPort, '--announcer', 'record']);
      expect(argsOf('DaemonSet')).toContain(`--node-name=${node}`);
      await controller.waitFor('leadership', (l) => l.event === 'leading');
      await speaker.waitFor('config with the pool', (l) => l.op === 'setConfig' && l.pools === 1);
      kubectl(['apply', '-n', ns, '-f', '-'], {
        input: yaml.dump({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }], selector: { app: 'web' } } }),
      });
      kubectl(['apply', '-n', ns, '-f', '-'], {
        input: yaml.dump(endpointSlice(await sliceApi(admin), 'web-1', 'web', [{ ip: '198.51.100.7', ready: true, node }], [{ port: 80, protocol: 'TCP' }])),
      });
      const core = admin.makeApiClient(CoreV1Api);
      const ip = await waitFor('the Service\'s address', async () => (await core.readNamespacedService({ namespace: ns, name: 'web' })).status?.loadBalancer?.ingress?.[0]?.ip);
      expect(ip).toMatch(/^192\.0\.2\.(1[6-9]|2[0-3])$/);
      // The speaker decides to announce it (its own membership Lease, Nodes, endpoints read under its token).
      await speaker.waitFor(`an announcement of ${ip}`, (l) => l.announcer === 'layer2' && JSON.stringify(l).includes(ip));
      const lease = await waitFor('the speaker\'s Lease', () => kubectl(['get', 'leases', '-n', ns, '-o', 'name']).includes(`herald-speaker-${node}`));
      expect(lease).toBe(true);
      // Each daemon wrote its ConfigurationState under its token.
      for (const state of ['controller', `speaker-${node}`]) {
        await waitFor(`ConfigurationState ${state} Valid`, () => kubectl(['get', '-n', ns, 'configurationstates.metallb.io', state, '-o', 'jsonpath={.status.result}', '--ignore-not-found']) === 'Valid');
      }
      // The controller wrote the pool's counts under its token (crds: the pool is an IPAddressPool).
      if (source === 'crds') await waitFor('IPAddressPool lab shows 1 assigned', () => kubectl(['get', '-n', ns, 'ipaddresspools.metallb.io', 'lab', '-o', 'jsonpath={.status.assignedIPv4}']) === '1');
      // ...and the ServiceL2Status of the Service it announces.
      await waitFor('a ServiceL2Status for web', () => kubectl(['get', '-n', ns, 'servicel2statuses.metallb.io', '-o', 'jsonpath={.items[*].status.serviceName}']) === 'web');
      const forbidden = [...controller.lines, ...speaker.lines].filter((l) => /forbidden|\b403\b/i.test(JSON.stringify(l)));
      expect(forbidden).toEqual([]);
      await Promise.all([controller.kill(), speaker.kill()]);
      kubectl(['delete', 'node', node]);
    }, 180_000);
  }
});
