// sandrun's egress proxy (SPEC §11): an HTTP forward proxy (CONNECT, and absolute-URI http:// requests) through which each run reaches exactly its granted host:port pairs.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { formatDestination, parseDestination, type Destination } from '../destination.ts';
import { grantFileSchema, grantPath, readJsonFile, RUN_ID, tokenMatches, type EgressGrant } from '../egress-files.ts';
import { dialGranted, ProxyRefusal } from './dial.ts';
import { RunCounts } from './run-counts.ts';

export interface EgressProxyOptions {
  /** The directory shared with the server (egress-files.ts). */
  dir: string;
  connectTimeoutMs: number;
  /** A tunnel or request that moves no byte for this long is closed. */
  idleTimeoutMs: number;
  maxConnectionsPerRun: number;
  /** Client connections at once, all runs together. */
  maxConnections: number;
  /** How often counts are written and ended runs' connections cut. */
  sweepIntervalMs: number;
  /** One JSON object per event (a refusal, a closed connection). */
  log: (event: Record<string, unknown>) => void;
}

export interface EgressProxy {
  server: Server;
  close(): Promise<void>;
}

const REALM = 'Basic realm="sandrun egress"';
/** Headers of one hop only (RFC 9110 §7.6.1), and the run's credential: never passed on. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

class ClientError extends Error {
  constructor(
    readonly status: 400 | 407 | 429,
    message: string,
  ) {
    super(message);
  }
}

interface Admitted {
  runId: string;
  destination: Destination;
  grant: EgressGrant;
}

export function createEgressProxy(options: EgressProxyOptions): EgressProxy {
  const counts = new RunCounts(options.dir, (runId, error) => options.log({ event: 'counts_file_failed', run: runId, message: error.message }));

  /** The run a Proxy-Authorization header proves, with its grants; a ClientError(407) otherwise. */
  function authenticate(header: string | undefined): { runId: string; grants: EgressGrant[] } {
    const refused = new ClientError(407, 'sandrun egress proxy: proxy credentials are missing or not valid (they are in this run\'s HTTP_PROXY)');
    const encoded = header === undefined ? undefined : /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)?.[1];
    if (encoded === undefined) throw refused;
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const runId = decoded.slice(0, colon);
    const token = decoded.slice(colon + 1);
    if (colon < 0 || !RUN_ID.test(runId) || token.length === 0) throw refused;
    const file = readJsonFile(grantPath(options.dir, runId), grantFileSchema);
    if (!file || file.run !== runId || !tokenMatches(file, token)) throw refused;
    return { runId, grants: file.grants };
  }

  /** Checks, in order and before any lookup or connection: the credential, the target's form, the grant, the run's connection count. */
  function admit(header: string | undefined, target: string): Admitted {
    const { runId, grants } = authenticate(header);
    const parsed = parseDestination(target);
    if (parsed.problem !== undefined) throw new ClientError(400, `sandrun egress proxy: the target ${parsed.problem}`);
    const destination = parsed.value;
    const grant = grants.find((candidate) => candidate.host === destination.host && candidate.port === destination.port);
    if (!grant) {
      const granted = grants.map(formatDestination).join(', ') || 'none';
      counts.refused(runId, destination.host, destination.port, 'not granted');
      throw new ProxyRefusal(403, `sandrun egress proxy: ${formatDestination(destination)} is not granted to this run (its grants: ${granted})`);
    }
    if (counts.liveConnections(runId) >= options.maxConnectionsPerRun) {
      throw new ClientError(429, `sandrun egress proxy: this run has ${options.maxConnectionsPerRun} connections open, the most it may`);
    }
    return { runId, destination, grant };
  }

  /** Resolves and connects, counting a refusal of the address (403) against the run. */
  async function dial(admitted: Admitted): Promise<Socket> {
    try {
      return await dialGranted(admitted.grant, options.connectTimeoutMs);
    } catch (error) {
      if (error instanceof ProxyRefusal) counts.refused(admitted.runId, admitted.destination.host, admitted.destination.port, error.message);
      throw error;
    }
  }

  function statusOf(error: unknown): { status: number; message: string } {
    if (error instanceof ClientError || error instanceof ProxyRefusal) return { status: error.status, message: error.message };
    options.log({ event: 'proxy_error', message: (error as Error).message });
    return { status: 500, message: 'sandrun egress proxy: internal error' };
  }

  function track(admitted: Admitted, upstream: Socket, client: Socket): void {
    counts.track(admitted.runId, admitted.destination.host, admitted.destination.port, upstream, client);
    upstream.on('close', () =>
      options.log({ event: 'connection_closed', run: admitted.runId, destination: formatDestination(admitted.destination), bytes_out: upstream.bytesWritten, bytes_in: upstream.bytesRead }),
    );
  }

  async function onConnect(request: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => client.destroy());
    let admitted: Admitted | undefined;
    try {
      admitted = admit(request.headers['proxy-authorization'], request.url ?? '');
      const upstream = await dial(admitted);
      upstream.on('error', () => upstream.destroy());
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      track(admitted, upstream, client);
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.setTimeout(options.idleTimeoutMs, () => client.destroy());
      upstream.setTimeout(options.idleTimeoutMs, () => upstream.destroy());
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    } catch (error) {
      const { status, message } = statusOf(error);
      if (admitted || status !== 407) options.log({ event: 'refused', run: admitted?.runId, target: request.url, status, message });
      const extra = status === 407 ? `Proxy-Authenticate: ${REALM}\r\n` : '';
      const body = `${message}\n`;
      client.end(`HTTP/1.1 ${status} ${status === 407 ? 'Proxy Authentication Required' : 'Refused'}\r\n${extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
  }

  async function onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let admitted: Admitted | undefined;
    try {
      let url: URL;
      try {
        url = new URL(request.url ?? '');
      } catch {
        throw new ClientError(400, 'sandrun egress proxy: a request through this proxy names an absolute http:// URL (https goes through CONNECT)');
      }
      if (url.protocol !== 'http:') throw new ClientError(400, `sandrun egress proxy: ${url.protocol} URLs are not proxied as requests; https:// goes through CONNECT`);
      admitted = admit(request.headers['proxy-authorization'], `${url.hostname}:${url.port || '80'}`);
      const upstream = await dial(admitted);
      upstream.on('error', () => upstream.destroy());
      track(admitted, upstream, request.socket);
      upstream.setTimeout(options.idleTimeoutMs, () => upstream.destroy());
      const outgoing = httpRequest({ createConnection: () => upstream, method: request.method, path: `${url.pathname}${url.search}`, headers: forwardedHeaders(request.headers, url.host), setHost: false });
      outgoing.on('response', (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardedHeaders(answer.headers));
        answer.pipe(response);
        answer.on('error', () => response.destroy());
      });
      outgoing.on('error', () => {
        if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' }).end(`sandrun egress proxy: ${formatDestination(admitted!.destination)} broke the connection\n`);
        else response.destroy();
      });
      response.on('close', () => {
        if (!response.writableFinished) outgoing.destroy();
        upstream.destroy();
      });
      request.pipe(outgoing);
    } catch (error) {
      const { status, message } = statusOf(error);
      if (admitted || status !== 407) options.log({ event: 'refused', run: admitted?.runId, target: request.url, status, message });
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', ...(status === 407 ? { 'proxy-authenticate': REALM } : {}) }).end(`${message}\n`);
    }
  }

  const server = createServer({ headersTimeout: 10_000, requestTimeout: 0, keepAliveTimeout: 5_000 });
  server.maxConnections = options.maxConnections;
  server.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => void onConnect(request, client, head));
  server.on('request', (request: IncomingMessage, response: ServerResponse) => void onRequest(request, response));
  // Protocol upgrades (WebSocket over ws://) are not relayed; wss:// works through CONNECT.
  server.on('upgrade', (_request: IncomingMessage, client: Socket) => {
    client.on('error', () => client.destroy());
    client.end('HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  const sweeper = setInterval(() => {
    try {
      counts.sweep();
    } catch (error) {
      options.log({ event: 'sweep_failed', message: (error as Error).message });
    }
  }, options.sweepIntervalMs);
  sweeper.unref();

  return {
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        clearInterval(sweeper);
        server.close((error) => (error ? reject(error) : resolve()));
        // Tunnels have left the HTTP server's hands: closeAllConnections does not see them.
        counts.closeAll();
        server.closeAllConnections();
      }),
  };
}

/** The headers to pass on: without hop-by-hop ones, those the Connection header names, and the run's credential; `host` replaced when given. */
function forwardedHeaders(headers: IncomingHttpHeaders, host?: string): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    kept[name] = value;
  }
  if (host !== undefined) {
    kept.host = host;
    // One upstream connection per request: it is counted, then closed.
    kept.connection = 'close';
  }
  return kept;
}
