// The options both daemons read their inputs with (where the config and the Services come from, how to reach the
// API server), declared and resolved once so `herald controller` and `herald speaker` cannot drift apart.
import { existsSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { CONFIG_SOURCE_KINDS, type ConfigSourceKind } from '../allocator/config-verdict.js';
import type { KubeAccess } from '../kube/access.js';
import { KubeConfigError, loadKubeConfig } from '../kube/config.js';

export interface DaemonInputOpts {
  namespace?: string;
  configMap: string;
  configSource: ConfigSourceKind;
  kubeconfig?: string;
  lbClass?: string;
  servicesNamespace?: string;
}

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Adds the input options; `leases` names what else lives in --namespace (e.g. "the leader Lease"). */
export function addDaemonInputOptions(cmd: Command, leases: string): Command {
  return cmd
    .addOption(new Option('--namespace <ns>', `namespace of the ConfigMap and ${leases} (default: the service account's namespace)`).env('HERALD_NAMESPACE'))
    .addOption(new Option('--config-map <name>', 'name of the ConfigMap (MetalLB legacy format, key data.config)').default('config').env('HERALD_CONFIG_MAP'))
    .addOption(
      new Option('--config-source <source>', 'read the config from the ConfigMap, or from the metallb.io objects (IPAddressPool, L2Advertisement, ...) of --namespace; a config in both is refused')
        .choices(CONFIG_SOURCE_KINDS)
        .default('configmap')
        .env('HERALD_CONFIG_SOURCE'),
    )
    .addOption(new Option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, then in-cluster)'))
    .addOption(new Option('--lb-class <class>', 'handle Services with this spec.loadBalancerClass (default: only Services without one)').env('HERALD_LB_CLASS'))
    .addOption(new Option('--services-namespace <ns>', 'handle Services of this namespace only (default: all namespaces)').env('HERALD_SERVICES_NAMESPACE'));
}

/** --namespace, else the Pod's service account namespace; exits 2 outside a Pod without it. */
export function daemonNamespace(opts: DaemonInputOpts, cmd: Command): string {
  let namespace = opts.namespace;
  if (!namespace && existsSync(SA_NAMESPACE)) namespace = readFileSync(SA_NAMESPACE, 'utf8').trim();
  if (!namespace) cmd.error('--namespace: required outside a Pod (or set HERALD_NAMESPACE)', { exitCode: 2 });
  return namespace as string;
}

/** The API server access of --kubeconfig (then KUBECONFIG, then in-cluster); exits 2 naming the flag if unusable. */
export function daemonKubeConfig(opts: DaemonInputOpts, cmd: Command): KubeAccess {
  try {
    return loadKubeConfig({ kubeconfig: opts.kubeconfig }).kubeConfig;
  } catch (e) {
    if (e instanceof KubeConfigError) cmd.error(`--kubeconfig: ${e.message}`, { exitCode: 2 });
    throw e;
  }
}

/** Where the config is read from, for the `starting` log line. */
export function configSourceText(opts: DaemonInputOpts): string {
  return `config ${opts.configSource === 'crds' ? 'from metallb.io objects' : `map ${opts.configMap}`}`;
}
