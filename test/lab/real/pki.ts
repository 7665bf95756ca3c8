// The real cluster's certificates: one throwaway CA, the API server's serving certificate, one client
// certificate per component with the names the default RBAC (and the Node authorizer) expect, and
// the ServiceAccount signing key. ECDSA P-256 throughout: RSA key generation costs seconds on a busy
// machine. Kubeconfigs embed the certificates so they can be copied anywhere.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class PkiError extends Error {
  override readonly name = 'PkiError';
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new PkiError(`openssl ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

/** A client identity: the certificate's CN is the user, O the groups. */
export interface Identity {
  /** File stem: <dir>/<file>.crt and .key. */
  file: string;
  cn: string;
  org?: string;
}

export class Pki {
  constructor(readonly dir: string) {}

  get caFile(): string {
    return join(this.dir, 'ca.crt');
  }

  /** CA, serving certificate (IP and DNS names), ServiceAccount key pair. */
  init(serverIps: string[], serverNames: string[]): void {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], this.dir);
    openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=herald-real-cluster-ca', '-days', '30', '-out', 'ca.crt'], this.dir);
    const sans = [...serverIps.map((i) => `IP:${i}`), ...serverNames.map((n) => `DNS:${n}`)];
    this.sign({ file: 'apiserver', cn: 'kube-apiserver' }, `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\n`);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key'], this.dir);
    openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], this.dir);
  }

  /** A client certificate for `id`. */
  client(id: Identity): void {
    this.sign(id, 'extendedKeyUsage=clientAuth\n');
  }

  private sign(id: Identity, ext: string): void {
    const subj = `/CN=${id.cn}${id.org ? `/O=${id.org}` : ''}`;
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${id.file}.key`], this.dir);
    openssl(['req', '-new', '-key', `${id.file}.key`, '-subj', subj, '-out', `${id.file}.csr`], this.dir);
    writeFileSync(join(this.dir, `${id.file}.ext`), `${ext}keyUsage=digitalSignature,keyEncipherment\n`);
    openssl(['x509', '-req', '-in', `${id.file}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', `${id.file}.ext`, '-out', `${id.file}.crt`], this.dir);
  }

  /** A kubeconfig for `id` (client certificate embedded) against `server`; returns its path. */
  kubeconfig(id: Identity, server: string): string {
    const b64 = (f: string): string => readFileSync(join(this.dir, f)).toString('base64');
    const path = join(this.dir, `${id.file}.kubeconfig`);
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: real',
        '  cluster:',
        `    server: ${server}`,
        `    certificate-authority-data: ${b64('ca.crt')}`,
        'users:',
        `- name: ${id.cn}`,
        '  user:',
        `    client-certificate-data: ${b64(`${id.file}.crt`)}`,
        `    client-key-data: ${b64(`${id.file}.key`)}`,
        'contexts:',
        '- name: real',
        '  context:',
        '    cluster: real',
        `    user: ${id.cn}`,
        'current-context: real',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return path;
  }
}
