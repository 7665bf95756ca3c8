// `make demo`: the full lab end to end, narrated with the real outputs. `make demo KEEP=1` leaves the
// lab up (state in /run/herald-demo) and prints how to use it; `make demo-down` tears it down.
//
//   tsx test/lab/demo.ts [up|down]     (env: KEEP=1 keeps the lab; ROUTER=frr runs FRR instead of BIRD)
import { existsSync } from 'node:fs';
import { FullLab, HERALD_NAMESPACE, NODES, type NodeName } from './full-lab.js';
import { addVipToNodes, placePods, serviceYaml, tail, waitForServiceIps } from './full-kube.js';
import { arpOwner, curlFromClient, labUp, ndpOwner, startSpeaker, waitForBgpSessions } from './full-setup.js';
import { routerCliHint, routerHops, routerShow, type LabRouterKind } from './full-router.js';
import { labUnavailableReason } from './netns.js';
import { demoCommand, endDemo, narrator } from './narration.js';

const DIR = process.env.HERALD_DEMO_DIR ?? '/run/herald-demo';
const PREFIX = 'hdemo';
const APP_NS = 'demo';
const keep = process.env.KEEP === '1' || process.env.KEEP === 'true';
const router = (process.env.ROUTER || 'bird') as LabRouterKind;

const n = narrator();
const { secs, say, step, show, sleep } = n;

function down(): void {
  if (!existsSync(FullLab.statePath(DIR))) {
    say(`demo-down: no demo lab (no ${FullLab.statePath(DIR)})`);
    return;
  }
  const gone = FullLab.destroy(DIR);
  say(`demo-down: removed ${gone.length} namespaces (${gone.join(' ')}) and ${DIR}`);
}

async function demo(): Promise<void> {
  const reason = labUnavailableReason();
  if (reason) throw new Error(`the demo cannot run here: ${reason}`);
  if (router !== 'bird' && router !== 'frr') throw new Error(`ROUTER: bird or frr, not ${JSON.stringify(router)}`);
  if (existsSync(FullLab.statePath(DIR))) throw new Error(`a demo lab is already up (${DIR}); run \`make demo-down\` first`);

  const R = router === 'bird' ? 'BIRD' : 'FRR';
  step(`bringing the lab up: namespaces, etcd + kube-apiserver, ${R}, herald controller, 3 x herald speaker`);
  // Ctrl-C from here on tears down whatever exists (the daemons are detached and would outlive us).
  let ok = false;
  const onSignal = (): void => {
    say('\ninterrupted: tearing down');
    FullLab.destroy(DIR);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const h = await labUp({ prefix: PREFIX, dir: DIR, router, log: (l) => say(`  ${l}`) });
  const { lab } = h;
  try {
    say(`  hosts: ${Object.entries(lab.state.hosts).map(([n, x]) => `${n} ${x.ipv4}`).join(', ')}`);
    say('  the daemons run under the herald-controller / herald-speaker ServiceAccounts (tokens from the TokenRequest API, RBAC from `herald manifests`)');

    step('the pool ConfigMap (MetalLB legacy format) applied by the lab');
    show(`kubectl -n ${HERALD_NAMESPACE} get configmap herald-config -o jsonpath={.data.config}`, await lab.kubectl(['-n', HERALD_NAMESPACE, 'get', 'configmap', 'herald-config', '-o', 'jsonpath={.data.config}']));

    step(`BGP sessions from the three speakers to ${R}`);
    const tBgp = Date.now();
    await waitForBgpSessions(lab);
    show(...(await routerShow(lab, 'sessions')));
    say(`  all Established ${secs(tBgp)} s after asking`);

    step('two LoadBalancer Services: web-l2 (pool lan, layer2) with pods on node1 and node2; web-bgp (pool routed, bgp) with pods on all nodes');
    await lab.kubectl(['create', 'namespace', APP_NS]);
    await lab.kubectl(['apply', '-f', '-'], `${serviceYaml('web-l2', APP_NS, 'lan')}---\n${serviceYaml('web-bgp', APP_NS, 'routed')}`);
    const l2Pods: NodeName[] = ['node1', 'node2'];
    await placePods(lab, APP_NS, 'web-l2', l2Pods);
    await placePods(lab, APP_NS, 'web-bgp', NODES);
    const tAlloc = Date.now();
    const [l2Vip] = await waitForServiceIps(lab, APP_NS, 'web-l2');
    const [bgpVip] = await waitForServiceIps(lab, APP_NS, 'web-bgp');
    say(`  both have addresses ${secs(tAlloc)} s after the apply`);
    say('  (externalTrafficPolicy Cluster: any live speaker may own a layer2 VIP; kube-proxy would forward to the pods)');
    show(`kubectl -n ${APP_NS} get svc`, await lab.kubectl(['-n', APP_NS, 'get', 'svc']));
    // kube-proxy's part: every node accepts traffic for every VIP.
    await addVipToNodes(lab, l2Vip);
    await addVipToNodes(lab, bgpVip);

    step(`layer2: who answers ARP for ${l2Vip}?`);
    let owner: { node: string | null; line: string } = { node: null, line: '' };
    for (let i = 0; i < 50 && !owner.node; i++) {
      owner = await arpOwner(lab, l2Vip);
      if (!owner.node) await sleep(200);
    }
    if (!owner.node) throw new Error(`no node answers ARP for ${l2Vip}: ${owner.line}\n${tail(lab.logPath('speaker-node1'))}`);
    show(`ip netns exec ${lab.host('client').ns} arping -c 1 -I eth0 ${l2Vip}`, owner.line);
    say(`  that MAC is ${owner.node}'s eth0 (${NODES.map((n) => `${n} ${lab.host(n).mac}`).join(', ')})`);
    show(`ip netns exec ${lab.host('client').ns} curl -s http://${l2Vip}/`, (await curlFromClient(lab, l2Vip, 3)) ?? '(no answer)');

    step('layer2 over IPv6: Service web-l2-v6 (pool lan6, IPv6 single stack), pods on node1 and node3');
    await lab.kubectl(['apply', '-f', '-'], serviceYaml('web-l2-v6', APP_NS, 'lan6', { family: 6 }));
    await placePods(lab, APP_NS, 'web-l2-v6', ['node1', 'node3']);
    const [v6Vip] = await waitForServiceIps(lab, APP_NS, 'web-l2-v6');
    await addVipToNodes(lab, v6Vip);
    let v6Owner: { node: string | null; line: string } = { node: null, line: '' };
    for (let i = 0; i < 50 && !v6Owner.node; i++) {
      v6Owner = await ndpOwner(lab, v6Vip);
      if (!v6Owner.node) await sleep(200);
    }
    show(`ip netns exec ${lab.host('client').ns} ndisc6 -1 ${v6Vip} eth0`, v6Owner.line);
    say(`  that is ${v6Owner.node ?? '(nobody)'}'s eth0`);
    show(`ip netns exec ${lab.host('client').ns} curl -s http://[${v6Vip}]/`, (await curlFromClient(lab, v6Vip, 3)) ?? '(no answer)');

    step(`bgp: ${R}'s routes for ${bgpVip} (ECMP over the nodes) and the client's answers`);
    const tRoute = Date.now();
    while ((await routerHops(lab, bgpVip)).length < NODES.length) {
      if (Date.now() - tRoute > 30_000) throw new Error(`${R} has not all routes for ${bgpVip}: ${(await routerShow(lab, { route: bgpVip }))[1]}`);
      await sleep(200);
    }
    show(...(await routerShow(lab, { route: bgpVip })));
    show(`ip netns exec ${lab.host('router').ns} ip route show ${bgpVip}`, await lab.mustExec('router', 'ip', ['route', 'show', bgpVip]));
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) answers.push((await curlFromClient(lab, bgpVip, 3)) ?? '(no answer)');
    show(`ip netns exec ${lab.host('client').ns} curl -s http://${bgpVip}/   (3 times)`, answers.join('\n'));

    step(`failover: SIGKILL the speaker on ${owner.node}, the layer2 owner of ${l2Vip} and one of the BGP next hops`);
    const killed = owner.node as NodeName;
    const deadHop = lab.host(killed).ipv4;
    lab.signal(`speaker-${killed}`, 'SIGKILL');
    const tKill = Date.now();
    // BGP side, watched alongside: how long until BIRD drops the dead node's path.
    const bgpDrop = (async (): Promise<string> => {
      while (Date.now() - tKill < 30_000) {
        if (!(await routerHops(lab, bgpVip)).includes(deadHop)) return secs(tKill);
        await sleep(50);
      }
      return 'not within 30';
    })();
    let after: string | null = null;
    let lastAnswer: string | null = null;
    let probes = 0;
    while (Date.now() - tKill < 30_000) {
      probes++;
      lastAnswer = await curlFromClient(lab, l2Vip, 0.3);
      if (lastAnswer && lastAnswer !== killed) {
        after = lastAnswer;
        break;
      }
      await sleep(50);
    }
    const failoverSec = secs(tKill);
    if (!after) throw new Error(`no failover within 30 s (last answer ${lastAnswer}); logs:\n${NODES.map((n) => tail(lab.logPath(`speaker-${n}`), 8)).join('\n')}`);
    say(`  the client's curl answered "${after}" ${failoverSec} s after the SIGKILL (${probes} probes; speaker Lease duration 3 s)`);
    show(`ip netns exec ${lab.host('client').ns} arping -c 1 -I eth0 ${l2Vip}`, (await arpOwner(lab, l2Vip)).line);
    say(`  ${R} dropped the path via ${deadHop} ${await bgpDrop} s after the SIGKILL (the kernel closed the dead speaker's TCP session)`);
    show(...(await routerShow(lab, { route: bgpVip })));

    step(`the speaker on ${killed} comes back`);
    startSpeaker(h, killed);
    const tBack = Date.now();
    await waitForBgpSessions(lab);
    say(`  its BGP session is Established again ${secs(tBack)} s after the restart`);
    await sleep(3000);
    const back = await arpOwner(lab, l2Vip);
    say(`  ${l2Vip} is now answered by ${back.node ?? '(nobody)'}: ${back.line}`);
    show(`kubectl -n ${HERALD_NAMESPACE} get leases`, await lab.kubectl(['-n', HERALD_NAMESPACE, 'get', 'leases']));
    ok = true;

    if (keep) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      step('the lab stays up (KEEP=1)');
      say(`  kubectl:   ${lab.kubectlCommand()} get svc -A`);
      say(`             (the API server listens on ${lab.host('control').ipv4}:6443 inside the lab only, hence ip netns exec)`);
      say(`  client:    ip netns exec ${lab.host('client').ns} curl -s http://${l2Vip}/   (or http://${bgpVip}/, http://[${v6Vip}]/)`);
      say(`             ip netns exec ${lab.host('client').ns} arping -c 3 -I eth0 ${l2Vip}`);
      say(`  ${R}:${' '.repeat(10 - R.length)}${routerCliHint(lab)}`);
      say(`  logs:      ${DIR}/*.log (controller, speaker-node1..3, backends); router: ${DIR}/${router}/*.log; etcd and kube-apiserver: ${lab.state.cluster?.dir ?? DIR}/*.log`);
      say(`  state:     ${FullLab.statePath(DIR)} (namespaces, addresses, daemon pids)`);
      say('  tear down: make demo-down');
    }
  } finally {
    await endDemo(n, ok, keep, () => `  removed ${FullLab.destroy(DIR).length} namespaces and ${DIR}`);
  }
}

await demoCommand(demo, down);
