// The daemons' HTTP endpoint: Prometheus metrics on /metrics, liveness on /healthz, readiness on
// /readyz (from a callback, e.g. "informers synced and config loaded"). node:http only: three fixed
// routes do not need a framework.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { metricsText } from './metrics-text.js';

export interface ListenAddress {
  /** undefined: every address (":7472"), IPv6 and IPv4. */
  host: string | undefined;
  port: number;
}

/** A bad --metrics-address, or a failure to listen on it. */
export class MetricsAddressError extends Error {
  readonly value: string;
  constructor(value: string, why: string) {
    super(`--metrics-address: ${why} (got ${JSON.stringify(value)})`);
    this.name = 'MetricsAddressError';
    this.value = value;
  }
}

/** Parse "host:port", ":port" (all addresses) or "[v6]:port"; port 0 picks a free port. */
export function parseListenAddress(value: string): ListenAddress {
  const colon = value.lastIndexOf(':');
  if (colon < 0) throw new MetricsAddressError(value, 'expected host:port or :port');
  let host = value.slice(0, colon);
  const portText = value.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new MetricsAddressError(value, 'port must be a number 0..65535');
  }
  if (host.startsWith('[') || host.endsWith(']')) {
    if (!(host.startsWith('[') && host.endsWith(']')) || host.length < 3) throw new MetricsAddressError(value, 'unbalanced brackets around the IPv6 host');
    host = host.slice(1, -1);
  } else if (host.includes(':')) {
    throw new MetricsAddressError(value, 'an IPv6 host must be written in brackets, like [::1]:7472');
  }
  if (/[\s/]/.test(host)) throw new MetricsAddressError(value, 'bad host');
  return { host: host === '' ? undefined : host, port: Number(portText) };
}

/** Readiness: true, or false / a short text saying what is missing. */
export type ReadyCheck = () => boolean | string | Promise<boolean | string>;

export interface MetricsServerOptions {
  /** Listen address, e.g. ":7472" or "127.0.0.1:0". */
  address: string;
  registry: Registry;
  /** /readyz answers 200 when this returns true; default always ready. */
  ready?: ReadyCheck;
}

export interface MetricsServer {
  /** The address actually bound (port resolved when 0 was asked). */
  readonly host: string;
  readonly port: number;
  /** Base URL, e.g. "http://127.0.0.1:41234". */
  readonly url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

async function handle(req: IncomingMessage, res: ServerResponse, options: MetricsServerOptions): Promise<void> {
  const text = 'text/plain; charset=utf-8';
  const path = (req.url ?? '/').split('?')[0];
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, text, 'method not allowed\n', false);
  }
  switch (path) {
    case '/metrics': {
      try {
        // Over several turns: at 100,000 Services one turn of formatting held the loop ~0.4 s.
        const body = await metricsText(options.registry);
        return send(res, 200, options.registry.contentType, body, head);
      } catch (err) {
        return send(res, 500, text, `collecting metrics failed: ${(err as Error).message}\n`, head);
      }
    }
    case '/healthz':
      return send(res, 200, text, 'ok\n', head);
    case '/readyz': {
      let result: boolean | string;
      try {
        result = options.ready ? await options.ready() : true;
      } catch (err) {
        result = `readiness check failed: ${(err as Error).message}`;
      }
      if (result === true) return send(res, 200, text, 'ok\n', head);
      return send(res, 503, text, `not ready${typeof result === 'string' && result ? `: ${result}` : ''}\n`, head);
    }
    default:
      return send(res, 404, text, 'not found\n', head);
  }
}

/** Start listening; resolves once bound, rejects with MetricsAddressError when the address is bad or taken. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(options.address);
  const server = createServer((req, res) => {
    handle(req, res, options).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${(err as Error).message}\n`, false);
      else res.destroy();
    });
  });
  // Scrapes are short; do not let idle keep-alive sockets hold close() open.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new MetricsAddressError(options.address, `cannot listen: ${err.code ?? err.message}`));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      // Later errors are accept failures (EMFILE, ...): without a listener they would end the
      // daemon; the server keeps listening and the next scrape may get through.
      server.on('error', () => undefined);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const urlHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    host: bound.address,
    port: bound.port,
    url: `http://${urlHost}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
