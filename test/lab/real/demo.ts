// `make demo`: Herald on a real Kubernetes cluster, narrated with the real outputs: the images and
// the cluster (real-cluster.ts), `helm install`, the pods, a layer2 and a bgp Service in front of real
// pods, ARP, routes and curl from the client, then a whole node failing and the failover time.
// KEEP=1 leaves the cluster up (state in /var/tmp/herald-real-demo: not under /run, /var/lib or /var/log, which each node mounts over); `make demo-down` removes it.
//
//   tsx test/lab/real/demo.ts [up|down]     (env: KEEP=1; ROUTER=frr runs FRR instead of BIRD)
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NODES, type NodeName } from '../full-lab.js';
import { arpOwner, curlFromClient, waitForBgpSessions } from '../full-setup.js';
import { routerCliHint, routerHops, routerShow, type LabRouterKind } from '../full-router.js';
import { labUnavailableReason } from '../netns.js';
import { helmBinary, kubectlBinary } from '../../tools/helm.js';
import { CHART, HERALD_NAMESPACE, RELEASE, helmInstall, releaseValues } from './herald-release.js';
import { ensureImages } from './images.js';
import { RealCluster } from './real-cluster.js';
import { deployApp } from './workloads.js';
import { demoCommand, endDemo, narrator } from '../narration.js';

const DIR = process.env.HERALD_REAL_DEMO_DIR ?? '/var/tmp/herald-real-demo';
const PREFIX = 'hreal';
const APP_NS = 'demo';
const keep = process.env.KEEP === '1' || process.env.KEEP === 'true';
const router = (process.env.ROUTER || 'bird') as LabRouterKind;

const n = narrator();
const { secs, say, step, show, sleep } = n;

function down(): void {
  if (!existsSync(join(DIR, 'real.json'))) {
    say(`demo-down: no real-cluster demo (no ${join(DIR, 'real.json')})`);
    return;
  }
  RealCluster.destroy(DIR);
  say(`demo-down: removed the real-cluster demo (${DIR})`);
}

async function demo(): Promise<void> {
  const reason = labUnavailableReason();
  if (reason) throw new Error(`the demo cannot run here: ${reason}`);
  if (router !== 'bird' && router !== 'frr') throw new Error(`ROUTER: bird or frr, not ${JSON.stringify(router)}`);
  if (existsSync(join(DIR, 'real.json'))) throw new Error(`a demo cluster is already up (${DIR}); run \`make demo-down\` first`);
  const R = router === 'bird' ? 'BIRD' : 'FRR';

  step('images: pause, backend, and Herald from the repository Dockerfile (built once per set of inputs, cached in /var/cache/herald/images)');
  const images = await ensureImages((l) => say(`  ${l}`));
  for (const [k, v] of Object.entries(images)) say(`  ${k}: ${v.name}`);

  step(`a real Kubernetes 1.20 cluster: control plane, 3 nodes (containerd, kubelet, kube-proxy iptables, bridge CNI), ${R}, a client`);
  const cluster = await RealCluster.start({ prefix: PREFIX, dir: DIR, images, router, log: (l) => say(`  ${l}`) });
  let ok = false;
  const kubectl = `ip netns exec ${cluster.lab.host('control').ns} ${kubectlBinary()} --kubeconfig ${cluster.kubeconfig}`;
  const client = `ip netns exec ${cluster.lab.host('client').ns}`;
  try {
    show('kubectl get nodes -o wide', await cluster.kubectl(['get', 'nodes', '-o', 'wide']));

    step('helm install (real helm, charts/herald, a MetalLB-format configInline: layer2 pool lan, bgp pool routed)');
    say(`$ helm install ${RELEASE} charts/herald --namespace ${HERALD_NAMESPACE} --create-namespace --values values.yaml --wait`);
    const values = releaseValues(cluster, images.herald.name, { speaker: { gracefulRestart: 30 } });
    say(`  values.yaml: ${JSON.stringify(values)}`);
    const tInstall = Date.now();
    await helmInstall(cluster, values);
    say(`  installed and ready in ${secs(tInstall)} s`);
    show(`kubectl -n ${HERALD_NAMESPACE} get pods -o wide`, await cluster.kubectl(['-n', HERALD_NAMESPACE, 'get', 'pods', '-o', 'wide']));

    step('a 3-replica backend Deployment behind two LoadBalancer Services: web-l2 (pool lan) and web-bgp (pool routed)');
    await cluster.kubectl(['create', 'namespace', APP_NS]);
    const tApp = Date.now();
    const l2Vip = await deployApp(cluster, { namespace: APP_NS, name: 'web-l2', image: images.backend.name, replicas: 3, pool: 'lan' });
    const bgpVip = await deployApp(cluster, { namespace: APP_NS, name: 'web-bgp', image: images.backend.name, replicas: 3, pool: 'routed' });
    say(`  pods ready and both Services have addresses ${secs(tApp)} s after the apply`);
    show(`kubectl -n ${APP_NS} get pods -o wide`, await cluster.kubectl(['-n', APP_NS, 'get', 'pods', '-o', 'wide']));
    show(`kubectl -n ${APP_NS} get svc`, await cluster.kubectl(['-n', APP_NS, 'get', 'svc']));

    step(`layer2: who answers ARP for ${l2Vip}?`);
    let owner: { node: string | null; line: string } = { node: null, line: '' };
    for (let i = 0; i < 100 && !owner.node; i++) {
      owner = await arpOwner(cluster.lab, l2Vip);
      if (!owner.node) await sleep(200);
    }
    if (!owner.node) throw new Error(`no node answers ARP for ${l2Vip}: ${owner.line}`);
    show(`${client} arping -c 1 -I eth0 ${l2Vip}`, owner.line);
    say(`  that MAC is ${owner.node}'s eth0; kube-proxy there forwards to any of the three pods:`);
    const l2Answers: string[] = [];
    for (let i = 0; i < 4; i++) l2Answers.push((await curlFromClient(cluster.lab, l2Vip, 3)) ?? '(no answer)');
    show(`${client} curl -s http://${l2Vip}/   (4 times)`, l2Answers.join('\n'));

    step(`bgp: ${R}'s route for ${bgpVip}, ECMP over the nodes, and the client's answers`);
    await waitForBgpSessions(cluster.lab, 60_000);
    const tRoute = Date.now();
    while ((await routerHops(cluster.lab, bgpVip)).length < NODES.length) {
      if (Date.now() - tRoute > 60_000) throw new Error(`${R} has not all routes for ${bgpVip}: ${(await routerShow(cluster.lab, { route: bgpVip }))[1]}`);
      await sleep(200);
    }
    show(...(await routerShow(cluster.lab, { route: bgpVip })));
    show(`ip netns exec ${cluster.lab.host('router').ns} ip route show ${bgpVip}`, await cluster.lab.mustExec('router', 'ip', ['route', 'show', bgpVip]));
    const bgpAnswers: string[] = [];
    for (let i = 0; i < 4; i++) bgpAnswers.push((await curlFromClient(cluster.lab, bgpVip, 3)) ?? '(no answer)');
    show(`${client} curl -s http://${bgpVip}/   (4 times)`, bgpAnswers.join('\n'));

    const dead = owner.node as NodeName;
    step(`a node fails: every process on ${dead} (containerd, pods, kubelet, kube-proxy, the speaker) killed, its link cut`);
    const tKill = Date.now();
    await cluster.killNode(dead);
    let moved: string | null = null;
    while (Date.now() - tKill < 60_000) {
      const o = await arpOwner(cluster.lab, l2Vip);
      if (o.node && o.node !== dead) {
        moved = `${secs(tKill)} s (${o.node})`;
        break;
      }
      await sleep(100);
    }
    let answered: string | null = null;
    while (moved && Date.now() - tKill < 90_000) {
      if (await curlFromClient(cluster.lab, l2Vip, 1)) {
        answered = secs(tKill);
        break;
      }
      await sleep(100);
    }
    say(`  layer2: ${l2Vip} answered by another node after ${moved ?? 'more than 60 s'}; first curl answer after ${answered ?? '(none)'} s (speaker liveness: about 1 s; the 30 s Lease is the fallback)`);
    show(`${client} arping -c 1 -I eth0 ${l2Vip}`, (await arpOwner(cluster.lab, l2Vip)).line);
    const deadHop = cluster.lab.host(dead).ipv4;
    while (Date.now() - tKill < 120_000 && (await routerHops(cluster.lab, bgpVip)).includes(deadHop)) await sleep(250);
    say(`  bgp: ${R} dropped the path via ${deadHop} ${secs(tKill)} s after the failure (${R} keeps the stale path until graceful restart's 30 s run out)`);
    show(...(await routerShow(cluster.lab, { route: bgpVip })));
    show('kubectl get nodes', await cluster.kubectl(['get', 'nodes']));
    ok = true;

    if (keep) {
      cluster.keep();
      step('the cluster stays up (KEEP=1)');
      say(`  kubectl:   ${kubectl} get pods -A -o wide`);
      say(`  helm:      ip netns exec ${cluster.lab.host('control').ns} ${helmBinary()} --kubeconfig ${cluster.kubeconfig} -n ${HERALD_NAMESPACE} status ${RELEASE}   (chart: ${CHART})`);
      say(`  client:    ${client} curl -s http://${l2Vip}/   (or http://${bgpVip}/)`);
      say(`  ${R}:${' '.repeat(10 - R.length)}${routerCliHint(cluster.lab)}`);
      say(`  logs:      ${DIR}/*.log (etcd, kube-*, nodeN-containerd/kubelet/kube-proxy); pods: kubectl logs`);
      say('  tear down: make demo-down');
    }
  } finally {
    await endDemo(n, ok, keep, async () => {
      await cluster.stop();
      return `  removed the cluster and ${DIR}`;
    });
  }
}

await demoCommand(demo, down);
