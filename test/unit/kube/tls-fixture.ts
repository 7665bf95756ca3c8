// A throwaway PKI for kubeconfig tests (made with openssl at test time: no key material in the
// repository) and an HTTPS server on 127.0.0.1 that answers with what it saw of each request.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

export interface Pki {
  dir: string;
  caCrt: string;
  serverCrt: string;
  serverKey: string;
  clientCrt: string;
  clientKey: string;
  /** PEM contents by file path. */
  read(path: string): Buffer;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** CA, a server certificate for 127.0.0.1 and api.herald.test, and a client certificate (CN=herald-test). */
export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'herald-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=herald-test-ca']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:api.herald.test\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'herald-test-apiserver'],
    ['client', 'herald-test'],
  ]) {
    openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  }
  return {
    dir,
    caCrt: join(dir, 'ca.crt'),
    serverCrt: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCrt: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    read: (p) => readFileSync(p),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Seen {
  authorization?: string;
  /** CN of the client certificate, if one was presented and verified. */
  clientCn?: string;
  servername?: string;
}

/** HTTPS on 127.0.0.1 with the PKI's server certificate; client certificates are asked for, not required. */
export async function echoServer(pki: Pki): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const server = createServer({ cert: pki.read(pki.serverCrt), key: pki.read(pki.serverKey), ca: pki.read(pki.caCrt), requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const sock = req.socket as TLSSocket;
    const peer = sock.authorized ? sock.getPeerCertificate() : undefined;
    const seen: Seen = {
      authorization: req.headers.authorization,
      clientCn: typeof peer?.subject?.CN === 'string' ? peer.subject.CN : undefined,
      servername: (sock as TLSSocket & { servername?: string | false }).servername || undefined,
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(seen));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `https://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
