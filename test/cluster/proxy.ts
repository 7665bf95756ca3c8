// A loopback TCP relay that a test can cut and restore: a network partition between one client
// (e.g. an informer) and the API server, while other clients keep talking to the server directly.
import { KubeConfig } from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';

export class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private isCut = false;
  private readonly server: Server;
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = createServer((client) => this.relay(client));
  }

  /** Listens on 127.0.0.1 (`listenPort`, default a free one) and relays to targetHost:targetPort. */
  static async start(targetHost: string, targetPort: number, listenPort = 0): Promise<CuttableProxy> {
    const proxy = new CuttableProxy(targetHost, targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    const addr = proxy.server.address();
    proxy.port = typeof addr === 'object' && addr ? addr.port : 0;
    return proxy;
  }

  /** Writes `<kubeconfig>.proxied`: the same credentials, the server reached through this relay; returns its path. */
  kubeconfigThrough(kubeconfig: string): string {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const current = kc.getCurrentCluster();
    if (!current) throw new Error(`no cluster in ${kubeconfig}`);
    kc.clusters = kc.clusters.map((c) => (c.name === current.name ? { ...c, server: `https://127.0.0.1:${this.port}` } : c));
    const path = `${kubeconfig}.proxied`;
    writeFileSync(path, kc.exportConfig());
    return path;
  }

  private relay(client: Socket): void {
    if (this.isCut) {
      client.destroy();
      return;
    }
    const upstream = connect(this.targetPort, this.targetHost);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** Drops every relayed connection and refuses new ones until restore(). */
  cut(): void {
    this.isCut = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.isCut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
