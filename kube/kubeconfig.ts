// A lean kubeconfig / in-cluster loader: what Herald's daemons need (server, CA, client
// certificate, bearer token or token file, basic auth) without loading client-node's KubeConfig,
// whose module graph alone costs a process ~70 MB of RSS. Kubeconfigs it cannot serve (user exec
// plugins, auth providers, proxies) are reported as 'fallback' so config.ts hands them to
// client-node instead.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { RequestOptions } from 'node:https';
import yaml from 'js-yaml';
import type { KubeAccess, KubeCluster } from './access.js';

/** A kubeconfig (or in-cluster file/variable) that cannot be used, naming the file and the field. */
export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
  constructor(
    /** The kubeconfig file, the mounted service-account file, or the environment variable. */
    readonly file: string,
    /** e.g. `clusters[0].cluster.certificate-authority`, or `(document)`. */
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${file}: ${field}: ${detail}`);
  }
}

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
}

export type Credentials =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  /** Re-read now and then (rotated service-account tokens). */
  | { kind: 'tokenFile'; path: string }
  | { kind: 'basic'; username: string; password: string };

export interface LeanAccessOptions {
  /** Milliseconds since the epoch (injectable for tests). */
  now?: () => number;
  /** How long a token read from a file is used before it is read again. Default 60 s (client-go's period). */
  tokenReloadMs?: number;
}

/** KubeAccess from parsed settings: TLS material fixed at load, the token file re-read periodically. */
export class LeanKubeAccess implements KubeAccess {
  private token: { value: string; readAt: number } | undefined;
  private readonly now: () => number;

  constructor(
    private readonly cluster: KubeCluster,
    readonly tls: TlsMaterial,
    readonly credentials: Credentials,
    private readonly opts: LeanAccessOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  getCurrentCluster(): KubeCluster {
    return this.cluster;
  }

  async applyToHTTPSOptions(o: RequestOptions): Promise<void> {
    const { ca, cert, key, insecureSkipTlsVerify, tlsServerName } = this.tls;
    if (ca) o.ca = ca;
    if (cert) o.cert = cert;
    if (key) o.key = key;
    o.rejectUnauthorized = !insecureSkipTlsVerify;
    if (tlsServerName) o.servername = tlsServerName;
    const auth = await this.authorization();
    if (auth) o.headers = { ...o.headers, authorization: auth };
  }

  private async authorization(): Promise<string | undefined> {
    const c = this.credentials;
    switch (c.kind) {
      case 'none':
        return undefined;
      case 'token':
        return `Bearer ${c.token}`;
      case 'basic':
        return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
      case 'tokenFile':
        return `Bearer ${await this.fileToken(c.path)}`;
    }
  }

  private async fileToken(path: string): Promise<string> {
    const now = this.now();
    if (this.token && now - this.token.readAt < (this.opts.tokenReloadMs ?? 60_000)) return this.token.value;
    try {
      const value = (await readFile(path, 'utf8')).trim();
      if (!value) throw new Error('file is empty');
      this.token = { value, readAt: now };
    } catch (err) {
      // A rotation in progress: keep the last good token; without one there is nothing to send.
      if (!this.token) throw new KubeconfigError(path, 'token', `cannot read the bearer token: ${(err as Error).message}`);
    }
    return this.token.value;
  }
}

/** A kubeconfig the lean loader serves, or one to hand to client-node (with the reason). */
export type KubeconfigPlan = { kind: 'lean'; access: LeanKubeAccess } | { kind: 'fallback'; reason: string; cluster: KubeCluster };

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Field readers for one kubeconfig file: every error names the file and the field. */
class Fields {
  constructor(readonly file: string) {}

  fail(field: string, detail: string): never {
    throw new KubeconfigError(this.file, field, detail);
  }

  str(o: Raw, key: string, at: string): string | undefined {
    const v = o[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') this.fail(`${at}.${key}`, `expected a string, got ${typeof v}`);
    return v;
  }

  bool(o: Raw, key: string, at: string): boolean {
    const v = o[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail(`${at}.${key}`, `expected true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  /** `<key>-data` (base64, wins) or `<key>` (a path, relative to the kubeconfig's directory). */
  material(o: Raw, key: string, at: string): Buffer | undefined {
    const data = this.str(o, `${key}-data`, at);
    if (data !== undefined) {
      const compact = data.replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) this.fail(`${at}.${key}-data`, 'not valid base64');
      const buf = Buffer.from(compact, 'base64');
      if (buf.length === 0) this.fail(`${at}.${key}-data`, 'is empty');
      return buf;
    }
    const path = this.str(o, key, at);
    if (path === undefined) return undefined;
    const full = resolve(dirname(this.file), path);
    try {
      const buf = readFileSync(full);
      if (buf.length === 0) this.fail(`${at}.${key}`, `${full} is empty`);
      return buf;
    } catch (err) {
      if (err instanceof KubeconfigError) throw err;
      return this.fail(`${at}.${key}`, `cannot read ${full}: ${(err as Error).message}`);
    }
  }

  /** The entry `name` of the named list `key` (clusters, users, contexts) and its path. */
  named(doc: Raw, key: string, name: string, inner: string, wantedBy: string): { entry: Raw; at: string } {
    const list = doc[key];
    if (list !== undefined && list !== null && !Array.isArray(list)) this.fail(key, 'expected a list');
    const items = (list ?? []) as unknown[];
    const i = items.findIndex((e) => isObject(e) && e.name === name);
    if (i < 0) this.fail(key, `no entry named ${JSON.stringify(name)} (wanted by ${wantedBy})`);
    const entry = (items[i] as Raw)[inner];
    const at = `${key}[${i}].${inner}`;
    if (entry === undefined || entry === null) return { entry: {}, at };
    if (!isObject(entry)) this.fail(at, 'expected a mapping');
    return { entry, at };
  }
}

function parseServer(f: Fields, value: string | undefined, field: string): string {
  if (value === undefined) return f.fail(field, 'missing');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return f.fail(field, `not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') f.fail(field, `expected an http or https URL, got ${JSON.stringify(value)}`);
  return value.replace(/\/+$/, '');
}

/**
 * Parses kubeconfig text (`file` names it in errors and anchors relative certificate paths) for its
 * current context. Throws KubeconfigError naming the file and the field.
 */
export function parseKubeconfig(text: string, file: string, opts: LeanAccessOptions = {}): KubeconfigPlan {
  const f: Fields = new Fields(file);
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    return f.fail('(document)', `not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isObject(doc)) return f.fail('(document)', 'expected a mapping (a kubeconfig)');
  const current = f.str(doc, 'current-context', '(document)');
  if (current === undefined) return f.fail('current-context', 'missing');
  const ctx = f.named(doc, 'contexts', current, 'context', 'current-context');
  const clusterName = f.str(ctx.entry, 'cluster', ctx.at);
  if (clusterName === undefined) return f.fail(`${ctx.at}.cluster`, 'missing');
  const cl = f.named(doc, 'clusters', clusterName, 'cluster', `${ctx.at}.cluster`);
  const server = parseServer(f, f.str(cl.entry, 'server', cl.at), `${cl.at}.server`);
  const proxyUrl = f.str(cl.entry, 'proxy-url', cl.at);
  const cluster: KubeCluster = { name: clusterName, server, proxyUrl };
  const userName = f.str(ctx.entry, 'user', ctx.at);
  const user = userName === undefined ? { entry: {} as Raw, at: '' } : f.named(doc, 'users', userName, 'user', `${ctx.at}.user`);
  if (proxyUrl !== undefined) return { kind: 'fallback', reason: `${cl.at}.proxy-url is set`, cluster };
  if (user.entry.exec !== undefined && user.entry.exec !== null) return { kind: 'fallback', reason: `${user.at}.exec is set`, cluster };
  if (user.entry['auth-provider'] !== undefined && user.entry['auth-provider'] !== null) return { kind: 'fallback', reason: `${user.at}.auth-provider is set`, cluster };

  const tls: TlsMaterial = {
    ca: f.material(cl.entry, 'certificate-authority', cl.at),
    insecureSkipTlsVerify: f.bool(cl.entry, 'insecure-skip-tls-verify', cl.at),
    tlsServerName: f.str(cl.entry, 'tls-server-name', cl.at),
  };
  let credentials: Credentials = { kind: 'none' };
  if (userName !== undefined) {
    const u = user.entry;
    tls.cert = f.material(u, 'client-certificate', user.at);
    tls.key = f.material(u, 'client-key', user.at);
    if (tls.cert && !tls.key) f.fail(`${user.at}.client-key`, 'missing (client-certificate is set)');
    if (tls.key && !tls.cert) f.fail(`${user.at}.client-certificate`, 'missing (client-key is set)');
    const tokenFile = f.str(u, 'tokenFile', user.at);
    const token = f.str(u, 'token', user.at);
    const username = f.str(u, 'username', user.at);
    const password = f.str(u, 'password', user.at);
    // client-go: a token file, when set, wins over an inline token; both win over basic auth.
    if (tokenFile !== undefined) {
      const path = resolve(dirname(file), tokenFile);
      try {
        if (!readFileSync(path, 'utf8').trim()) f.fail(`${user.at}.tokenFile`, `${path} is empty`);
      } catch (err) {
        if (err instanceof KubeconfigError) throw err;
        f.fail(`${user.at}.tokenFile`, `cannot read ${path}: ${(err as Error).message}`);
      }
      credentials = { kind: 'tokenFile', path };
    } else if (token !== undefined) credentials = { kind: 'token', token };
    else if (username !== undefined || password !== undefined) {
      if (username === undefined) f.fail(`${user.at}.username`, 'missing (password is set)');
      credentials = { kind: 'basic', username, password: password ?? '' };
    }
  }
  return { kind: 'lean', access: new LeanKubeAccess(cluster, tls, credentials, opts) };
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The in-cluster configuration: API server from KUBERNETES_SERVICE_HOST/PORT (IPv6 hosts in
 * brackets), the mounted CA, and the mounted service-account token, re-read for rotation.
 * `root` prefixes the mounted paths (tests).
 */
export function inClusterAccess(env: NodeJS.ProcessEnv, root = '', opts: LeanAccessOptions = {}): LeanKubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST?.trim();
  const port = env.KUBERNETES_SERVICE_PORT?.trim();
  if (!host) throw new KubeconfigError('environment', 'KUBERNETES_SERVICE_HOST', 'not set');
  if (!port) throw new KubeconfigError('environment', 'KUBERNETES_SERVICE_PORT', 'not set');
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new KubeconfigError('environment', 'KUBERNETES_SERVICE_PORT', `not a port: ${JSON.stringify(port)}`);
  const dir = `${root}${SERVICE_ACCOUNT_DIR}`;
  const caPath = `${dir}/ca.crt`;
  let ca: Buffer;
  try {
    ca = readFileSync(caPath);
  } catch (err) {
    throw new KubeconfigError(caPath, 'ca.crt', `cannot read the cluster CA: ${(err as Error).message}`);
  }
  if (ca.length === 0) throw new KubeconfigError(caPath, 'ca.crt', 'the cluster CA file is empty');
  const tokenPath = `${dir}/token`;
  try {
    if (!readFileSync(tokenPath, 'utf8').trim()) throw new KubeconfigError(tokenPath, 'token', 'the service-account token file is empty');
  } catch (err) {
    if (err instanceof KubeconfigError) throw err;
    throw new KubeconfigError(tokenPath, 'token', `cannot read the service-account token: ${(err as Error).message}`);
  }
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return new LeanKubeAccess({ name: 'in-cluster', server }, { ca, insecureSkipTlsVerify: false }, { kind: 'tokenFile', path: tokenPath }, opts);
}
