// The fallback for kubeconfigs the lean loader does not serve (user exec plugins, auth providers,
// proxy-url): client-node's KubeConfig, imported only then, so processes with plain credentials
// never load its module graph (~70 MB of RSS).
import type { RequestOptions } from 'node:https';
import type { KubeAccess, KubeCluster } from './access.js';

export class ClientNodeAccess implements KubeAccess {
  private loaded: Promise<KubeAccess> | undefined;

  constructor(
    readonly file: string,
    /** Parsed by our loader already: answers getCurrentCluster() before client-node is loaded. */
    private readonly cluster: KubeCluster,
    /** Why the lean loader passed, e.g. "users[0].user.exec is set". */
    readonly reason: string,
  ) {}

  getCurrentCluster(): KubeCluster {
    return this.cluster;
  }

  async applyToHTTPSOptions(o: RequestOptions): Promise<void> {
    await (await this.kubeConfig()).applyToHTTPSOptions(o);
  }

  private kubeConfig(): Promise<KubeAccess> {
    this.loaded ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const kc = new KubeConfig();
      kc.loadFromFile(this.file);
      return kc;
    });
    // A failed load is not cached: the next request tries again.
    this.loaded.catch(() => (this.loaded = undefined));
    return this.loaded;
  }
}
