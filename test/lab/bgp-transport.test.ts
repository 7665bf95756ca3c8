// Our TCP transport against real routers' TCP-MD5 (RFC 2385): BIRD and FRR configured with a
// password accept our connection only when we sign with the same key. This is below BGP: it
// proves the addon's sockets interoperate, whatever the session does afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, describeLab } from './netns.js';
import { createRouter, type BirdRouter, type FrrRouter } from './routers.js';

describeLab('bgp transport: TCP MD5 against BIRD and FRR', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ hosts: ['router', 'node1'], prefix: 'ht' });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  /**
   * Connects from node1 with our transport, one attempt per entry, all at once in one child node
   * process inside node1's namespace; each reports 'connected <local port>', 'timeout' or 'error <code>'.
   */
  async function tryConnects(attempts: Array<{ password: string | null; sourcePort?: number }>): Promise<string[]> {
    const transport = new URL('../../protocols/bgp/transport.ts', import.meta.url).pathname;
    const base = { peerAddress: lab.host('router').ipv4, sourceAddress: lab.host('node1').ipv4 };
    const opts = attempts.map((a) => ({ ...base, ...(a.sourcePort ? { sourcePort: a.sourcePort } : {}), ...(a.password === null ? {} : { password: a.password }) }));
    const script = `
      import { connect } from ${JSON.stringify(transport)};
      const results = await Promise.all(${JSON.stringify(opts)}.map((o) => new Promise((resolve) => {
        const s = connect(o);
        const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, 2500);
        s.on('connect', () => { clearTimeout(t); resolve('connected ' + s.localPort); s.destroy(); });
        s.on('error', (e) => { clearTimeout(t); resolve('error ' + e.code); });
      })));
      console.log(JSON.stringify(results));
    `;
    const tsx = new URL('../../node_modules/.bin/tsx', import.meta.url).pathname;
    const r = await lab.exec('node1', tsx, ['--input-type=module', '--eval', script], { timeoutMs: 30_000 });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    if (!last.startsWith('[')) throw new Error(`transport probe failed: ${r.stdout}${r.stderr}`);
    return JSON.parse(last) as string[];
  }

  for (const kind of ['bird', 'frr'] as const) {
    describe(kind, () => {
      let router: BirdRouter | FrrRouter;
      beforeAll(async () => {
        router = createRouter(kind, lab, { as: 65000, peers: [{ address: lab.host('node1').ipv4, as: 65001, password: 'md5-lab-key' }] });
        await router.start();
      });
      afterAll(async () => {
        await router?.close();
      });

      it('accepts our connection signed with the same key (from the source port we chose), never a wrong key or none', async () => {
        expect(await tryConnects([{ password: 'md5-lab-key', sourcePort: 40179 }, { password: 'wrong-key' }, { password: null }])).toEqual([
          'connected 40179',
          'timeout',
          'timeout',
        ]);
      });
    });
  }
});
