import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfigError, loadKubeConfig } from '../../../kube/config.js';

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function kubeconfigFile(server: string): string {
  const dir = tempDir('herald-kc-');
  const file = join(dir, 'config');
  writeFileSync(
    file,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${server}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n`,
  );
  return file;
}

describe('loadKubeConfig', () => {
  it('prefers --kubeconfig over KUBECONFIG', () => {
    const flag = kubeconfigFile('https://192.0.2.1:6443');
    const env = kubeconfigFile('https://192.0.2.2:6443');
    const r = loadKubeConfig({ kubeconfig: flag, env: { KUBECONFIG: env } });
    expect(r.source).toBe('flag');
    expect(r.kubeConfig.getCurrentCluster()?.server).toBe('https://192.0.2.1:6443');
  });

  it('uses the first KUBECONFIG entry', () => {
    const env = kubeconfigFile('https://192.0.2.2:6443');
    const r = loadKubeConfig({ env: { KUBECONFIG: `${env}:/nonexistent` } });
    expect(r.source).toBe('env');
    expect(r.kubeConfig.getCurrentCluster()?.server).toBe('https://192.0.2.2:6443');
  });

  it('falls back to the in-cluster service account', () => {
    const root = tempDir('herald-sa-');
    const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'tok');
    writeFileSync(join(sa, 'ca.crt'), 'ca');
    const r = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '192.0.2.10', KUBERNETES_SERVICE_PORT: '443' }, inClusterRoot: root });
    expect(r.source).toBe('in-cluster');
    expect(r.kubeConfig.getCurrentCluster()?.server).toBe('https://192.0.2.10:443');
  });

  it('names the failing source in a typed error', () => {
    expect(() => loadKubeConfig({ kubeconfig: '/nonexistent/kubeconfig', env: {} })).toThrow(KubeConfigError);
    expect(() => loadKubeConfig({ kubeconfig: '/nonexistent/kubeconfig', env: {} })).toThrow(/from flag/);
    expect(() => loadKubeConfig({ env: {}, inClusterRoot: '/nonexistent' })).toThrow(/no kube configuration/);
  });
});
