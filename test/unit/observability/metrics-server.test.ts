import { createServer } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsAddressError, parseListenAddress, startMetricsServer, type MetricsServer } from '../../../kube/metrics-server.js';

describe('parseListenAddress', () => {
  it.each([
    [':7472', { host: undefined, port: 7472 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['0.0.0.0:7473', { host: '0.0.0.0', port: 7473 }],
    ['[::1]:7472', { host: '::1', port: 7472 }],
    ['[::]:7472', { host: '::', port: 7472 }],
    ['localhost:9000', { host: 'localhost', port: 9000 }],
  ])('%s', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  it.each(['7472', '127.0.0.1', ':', ':65536', ':-1', ':http', '::1:7472', '[::1:7472', '[]:80', 'a b:80'])('rejects %j naming the flag', (bad) => {
    expect(() => parseListenAddress(bad)).toThrow(MetricsAddressError);
    expect(() => parseListenAddress(bad)).toThrow(/^--metrics-address: /);
  });
});

describe('metrics server (real HTTP on 127.0.0.1)', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  function registryWithCounter(): { registry: Registry; counter: Counter } {
    const registry = new Registry();
    const counter = new Counter({ name: 'herald_test_total', help: 'test counter', registers: [registry] });
    return { registry, counter };
  }

  it('serves the registry on /metrics in the Prometheus text format', async () => {
    const { registry, counter } = registryWithCounter();
    counter.inc(3);
    server = await startMetricsServer({ address: '127.0.0.1:0', registry });
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(registry.contentType);
    const body = await res.text();
    expect(body).toContain('# HELP herald_test_total test counter');
    expect(body).toContain('# TYPE herald_test_total counter');
    expect(body).toMatch(/^herald_test_total 3$/m);
  });

  it('/healthz is always ok; /readyz follows the callback, with its reason', async () => {
    let ready: boolean | string = 'informers not synced';
    server = await startMetricsServer({ address: '127.0.0.1:0', registry: new Registry(), ready: () => ready });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    let res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('not ready: informers not synced\n');
    ready = false;
    res = await fetch(`${server.url}/readyz`);
    expect([res.status, await res.text()]).toEqual([503, 'not ready\n']);
    ready = true;
    res = await fetch(`${server.url}/readyz`);
    expect([res.status, await res.text()]).toEqual([200, 'ok\n']);
  });

  it('an async or throwing readiness callback is handled', async () => {
    let fail = true;
    server = await startMetricsServer({
      address: '127.0.0.1:0',
      registry: new Registry(),
      ready: async () => {
        if (fail) throw new Error('lost the API server');
        return true;
      },
    });
    const res = await fetch(`${server.url}/readyz`);
    expect([res.status, await res.text()]).toEqual([503, 'not ready: readiness check failed: lost the API server\n']);
    fail = false;
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('answers 404 for other paths, 405 for other methods, HEAD without a body; ignores query strings', async () => {
    server = await startMetricsServer({ address: '127.0.0.1:0', registry: new Registry() });
    expect((await fetch(`${server.url}/`)).status).toBe(404);
    expect((await fetch(`${server.url}/metricsx`)).status).toBe(404);
    const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${server.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${server.url}/healthz?verbose=1`)).status).toBe(200);
  });

  it('binds IPv6 loopback when asked', async () => {
    server = await startMetricsServer({ address: '[::1]:0', registry: new Registry() });
    expect(server.url).toBe(`http://[::1]:${server.port}`);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('a taken port is a typed error naming the address', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startMetricsServer({ address: `127.0.0.1:${port}`, registry: new Registry() })).rejects.toThrow(
        new MetricsAddressError(`127.0.0.1:${port}`, 'cannot listen: EADDRINUSE'),
      );
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('close() returns promptly even with a keep-alive connection open', async () => {
    server = await startMetricsServer({ address: '127.0.0.1:0', registry: new Registry() });
    await fetch(`${server.url}/healthz`, { keepalive: true });
    const s = server;
    server = undefined;
    await s.close();
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });
});
