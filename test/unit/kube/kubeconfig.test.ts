// The lean kubeconfig / in-cluster loader, end to end over TLS: each credential kind is checked
// by what a real HTTPS server on 127.0.0.1 saw (CA verification, client certificate, headers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeAccess } from '../../../kube/access.js';
import { ClientNodeAccess } from '../../../kube/client-node-access.js';
import { KubeConfigError, loadKubeConfig } from '../../../kube/config.js';
import { inClusterAccess, KubeconfigError, LeanKubeAccess, parseKubeconfig, SERVICE_ACCOUNT_DIR } from '../../../kube/kubeconfig.js';
import { kubeRequest } from '../../../kube/request.js';
import { echoServer, makePki, type Pki, type Seen } from './tls-fixture.js';

let pki: Pki;
let api: Awaited<ReturnType<typeof echoServer>>;
const dirs: string[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'herald-kc-'));
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  pki = makePki();
  api = await echoServer(pki);
});

afterAll(async () => {
  await api?.close();
  pki?.remove();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const b64 = (buf: Buffer): string => buf.toString('base64');

/** A kubeconfig with one context; `cluster` and `user` are YAML mapping lines (indented by the caller's keys). */
function kubeconfigText(cluster: Record<string, unknown>, user: Record<string, unknown> | undefined): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'ctx',
    contexts: [{ name: 'other', context: { cluster: 'nope' } }, { name: 'ctx', context: { cluster: 'c', ...(user ? { user: 'u' } : {}) } }],
    clusters: [{ name: 'c', cluster: { server: api.url, ...cluster } }],
    users: user ? [{ name: 'u', user }] : [],
  });
}

function writeKubeconfig(cluster: Record<string, unknown>, user?: Record<string, unknown>, dir = tempDir()): string {
  const file = join(dir, 'config');
  writeFileSync(file, kubeconfigText(cluster, user));
  return file;
}

async function seen(kc: KubeAccess): Promise<Seen> {
  return (await kubeRequest(kc, 'GET', '/seen')) as Seen;
}

function lean(file: string, now?: () => number): LeanKubeAccess {
  const r = loadKubeConfig({ kubeconfig: file, env: {}, access: { now, tokenReloadMs: 1000 } });
  expect(r.fallback).toBeUndefined();
  expect(r.kubeConfig).toBeInstanceOf(LeanKubeAccess);
  return r.kubeConfig as LeanKubeAccess;
}

describe('lean kubeconfig loader over TLS', () => {
  it('CA, client certificate and key as -data, and an inline token', async () => {
    const file = writeKubeconfig(
      { 'certificate-authority-data': b64(pki.read(pki.caCrt)) },
      { 'client-certificate-data': b64(pki.read(pki.clientCrt)), 'client-key-data': b64(pki.read(pki.clientKey)), token: 'inline-token' },
    );
    expect(await seen(lean(file))).toEqual({ authorization: 'Bearer inline-token', clientCn: 'herald-test' });
  });

  it('CA, certificate and key as files relative to the kubeconfig, and a tokenFile re-read after the reload period', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki/ca.crt'), pki.read(pki.caCrt));
    writeFileSync(join(dir, 'pki/c.crt'), pki.read(pki.clientCrt));
    writeFileSync(join(dir, 'pki/c.key'), pki.read(pki.clientKey));
    writeFileSync(join(dir, 'token'), 'first\n');
    const file = writeKubeconfig({ 'certificate-authority': 'pki/ca.crt' }, { 'client-certificate': 'pki/c.crt', 'client-key': 'pki/c.key', tokenFile: 'token', token: 'ignored' }, dir);
    let now = 0;
    const kc = lean(file, () => now);
    expect(await seen(kc)).toEqual({ authorization: 'Bearer first', clientCn: 'herald-test' });
    writeFileSync(join(dir, 'token'), 'second\n');
    now = 999;
    expect((await seen(kc)).authorization).toBe('Bearer first'); // cached within the period
    now = 1000;
    expect((await seen(kc)).authorization).toBe('Bearer second');
    // A rotation caught half-way (file gone) keeps the last good token.
    rmSync(join(dir, 'token'));
    now = 5000;
    expect((await seen(kc)).authorization).toBe('Bearer second');
  });

  it('basic auth, and tls-server-name checked against the certificate', async () => {
    const file = writeKubeconfig({ 'certificate-authority': pki.caCrt, 'tls-server-name': 'api.herald.test' }, { username: 'admin', password: 's3cret' });
    expect(await seen(lean(file))).toEqual({ authorization: `Basic ${Buffer.from('admin:s3cret').toString('base64')}`, servername: 'api.herald.test' });
    const wrongName = writeKubeconfig({ 'certificate-authority': pki.caCrt, 'tls-server-name': 'other.herald.test' });
    await expect(seen(lean(wrongName))).rejects.toThrow(/other\.herald\.test/);
  });

  it('verifies the server: no CA fails, insecure-skip-tls-verify passes; a context without user sends no credentials', async () => {
    await expect(seen(lean(writeKubeconfig({})))).rejects.toThrow(/certificate/);
    expect(await seen(lean(writeKubeconfig({ 'insecure-skip-tls-verify': true })))).toEqual({});
  });
});

describe('lean kubeconfig errors name the file and the field', () => {
  const cases: [string, string, string | RegExp][] = [
    ['current-context: ""\n', 'current-context', 'missing'],
    ['{ "current-context": "x", "contexts": [] }', 'contexts', /no entry named "x"/],
    ['{ "current-context": "x", "contexts": [{ "name": "x", "context": { "cluster": "c" } }], "clusters": [{ "name": "c", "cluster": {} }] }', 'clusters[0].cluster.server', 'missing'],
    ['{ "current-context": "x", "contexts": [{ "name": "x", "context": { "cluster": "c" } }], "clusters": [{ "name": "c", "cluster": { "server": "ftp://x" } }] }', 'clusters[0].cluster.server', /http or https/],
    [
      '{ "current-context": "x", "contexts": [{ "name": "x", "context": { "cluster": "c" } }], "clusters": [{ "name": "c", "cluster": { "server": "https://192.0.2.1", "certificate-authority-data": "not base64!" } }] }',
      'clusters[0].cluster.certificate-authority-data',
      /base64/,
    ],
    [
      '{ "current-context": "x", "contexts": [{ "name": "x", "context": { "cluster": "c" } }], "clusters": [{ "name": "c", "cluster": { "server": "https://192.0.2.1", "certificate-authority": "missing.crt" } }] }',
      'clusters[0].cluster.certificate-authority',
      /cannot read .*missing\.crt/,
    ],
    [
      '{ "current-context": "x", "contexts": [{ "name": "x", "context": { "cluster": "c", "user": "u" } }], "clusters": [{ "name": "c", "cluster": { "server": "https://192.0.2.1", "insecure-skip-tls-verify": "yes" } }], "users": [{ "name": "u", "user": {} }] }',
      'clusters[0].cluster.insecure-skip-tls-verify',
      /true or false/,
    ],
    [
      '{ "current-context": "x", "contexts": [{ "name": "x", "context": { "cluster": "c", "user": "u" } }], "clusters": [{ "name": "c", "cluster": { "server": "https://192.0.2.1" } }], "users": [{ "name": "u", "user": { "client-certificate-data": "QUJD" } }] }',
      'users[0].user.client-key',
      /missing/,
    ],
    [
      '{ "current-context": "x", "contexts": [{ "name": "x", "context": { "cluster": "c", "user": "u" } }], "clusters": [{ "name": "c", "cluster": { "server": "https://192.0.2.1" } }], "users": [{ "name": "u", "user": { "tokenFile": "nothing-here" } }] }',
      'users[0].user.tokenFile',
      /cannot read/,
    ],
    ['clusters: [unclosed\n', '(document)', /not YAML/],
    ['- a list\n', '(document)', /mapping/],
  ];
  for (const [text, field, detail] of cases) {
    it(`${field}: ${String(detail)}`, () => {
      const file = join(tempDir(), 'config');
      writeFileSync(file, text);
      let err: unknown;
      try {
        parseKubeconfig(text, file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KubeconfigError);
      const k = err as KubeconfigError;
      expect(k.file).toBe(file);
      expect(k.field).toBe(field);
      expect(k.detail).toMatch(detail);
      // Through loadKubeConfig: the same file and field, with the source.
      expect(() => loadKubeConfig({ kubeconfig: file, env: {} })).toThrow(KubeConfigError);
      try {
        loadKubeConfig({ kubeconfig: file, env: {} });
      } catch (e) {
        expect((e as KubeConfigError).at).toEqual({ file, field });
        expect((e as Error).message).toContain(`kubeconfig ${file} (from flag): ${field}: `);
      }
    });
  }
});

describe('client-node fallback', () => {
  it('serves a user exec plugin through client-node (loaded only then)', async () => {
    const dir = tempDir();
    const plugin = join(dir, 'plugin.mjs');
    writeFileSync(plugin, `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-exec' } }));\n`);
    const file = writeKubeconfig(
      { 'certificate-authority': pki.caCrt },
      { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], interactiveMode: 'Never' } },
      dir,
    );
    const r = loadKubeConfig({ kubeconfig: file, env: {} });
    expect(r.kubeConfig).toBeInstanceOf(ClientNodeAccess);
    expect(r.fallback).toBe('users[0].user.exec is set');
    expect(r.kubeConfig.getCurrentCluster()?.server).toBe(api.url);
    expect((await seen(r.kubeConfig)).authorization).toBe('Bearer from-exec');
  });

  it('is chosen for auth-provider and proxy-url', () => {
    const ap = loadKubeConfig({ kubeconfig: writeKubeconfig({}, { 'auth-provider': { name: 'oidc', config: {} } }), env: {} });
    expect(ap.kubeConfig).toBeInstanceOf(ClientNodeAccess);
    expect(ap.fallback).toBe('users[0].user.auth-provider is set');
    const px = loadKubeConfig({ kubeconfig: writeKubeconfig({ 'proxy-url': 'http://192.0.2.9:3128' }, { token: 't' }), env: {} });
    expect(px.fallback).toBe('clusters[0].cluster.proxy-url is set');
    expect(px.kubeConfig.getCurrentCluster()?.proxyUrl).toBe('http://192.0.2.9:3128');
  });
});

describe('in-cluster configuration', () => {
  function mountedServiceAccount(token: string, ca: Buffer | string = pki.read(pki.caCrt)): string {
    const root = tempDir();
    const sa = join(root, SERVICE_ACCOUNT_DIR);
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), token);
    writeFileSync(join(sa, 'ca.crt'), ca);
    return root;
  }

  it('talks TLS with the mounted CA and token, and picks up a rotated token', async () => {
    const root = mountedServiceAccount('sa-token-1');
    const port = new URL(api.url).port;
    let now = 0;
    const r = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, inClusterRoot: root, access: { now: () => now, tokenReloadMs: 60_000 } });
    expect(r.source).toBe('in-cluster');
    expect(r.kubeConfig.getCurrentCluster()?.server).toBe(`https://127.0.0.1:${port}`);
    expect((await seen(r.kubeConfig)).authorization).toBe('Bearer sa-token-1');
    writeFileSync(join(root, SERVICE_ACCOUNT_DIR, 'token'), 'sa-token-2');
    now = 60_000;
    expect((await seen(r.kubeConfig)).authorization).toBe('Bearer sa-token-2');
  });

  it('puts an IPv6 service host in brackets', () => {
    const root = mountedServiceAccount('t');
    expect(inClusterAccess({ KUBERNETES_SERVICE_HOST: '2001:db8::1', KUBERNETES_SERVICE_PORT: '443' }, root).getCurrentCluster().server).toBe('https://[2001:db8::1]:443');
    expect(inClusterAccess({ KUBERNETES_SERVICE_HOST: 'kubernetes.default.svc', KUBERNETES_SERVICE_PORT: '6443' }, root).getCurrentCluster().server).toBe('https://kubernetes.default.svc:6443');
  });

  it('names the variable or mounted file at fault', () => {
    const root = mountedServiceAccount('t');
    const fieldOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(KubeconfigError);
        return `${(e as KubeconfigError).file} ${(e as KubeconfigError).field}`;
      }
      return 'no error';
    };
    expect(fieldOf(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '192.0.2.10' }, root))).toBe('environment KUBERNETES_SERVICE_PORT');
    expect(fieldOf(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '192.0.2.10', KUBERNETES_SERVICE_PORT: 'https' }, root))).toBe('environment KUBERNETES_SERVICE_PORT');
    const emptyCa = mountedServiceAccount('t', '');
    expect(fieldOf(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '192.0.2.10', KUBERNETES_SERVICE_PORT: '443' }, emptyCa))).toBe(`${emptyCa}${SERVICE_ACCOUNT_DIR}/ca.crt ca.crt`);
    const emptyToken = mountedServiceAccount('  \n');
    expect(fieldOf(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '192.0.2.10', KUBERNETES_SERVICE_PORT: '443' }, emptyToken))).toBe(`${emptyToken}${SERVICE_ACCOUNT_DIR}/token token`);
    // Through loadKubeConfig: a typed error with the source.
    expect(() => loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '192.0.2.10' }, inClusterRoot: root })).toThrow(/in-cluster configuration \(from in-cluster\): KUBERNETES_SERVICE_PORT: not set/);
  });
});
