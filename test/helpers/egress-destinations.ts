// Test servers on 127.0.0.1 and clients of the egress proxy (CONNECT and absolute-URI requests), for the egress tests.
import type Dockerode from 'dockerode';
import { request, createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';

/** A destination on 127.0.0.1 that records each connection's bytes as it saw them. */
export interface Destination {
  port: number;
  connections: Array<{ bytesRead: number; bytesWritten: number; closed: boolean }>;
  close(): Promise<void>;
}

/** Answers each connection's first chunk with `reply` bytes, then echoes; records what it read and wrote. */
export async function tcpDestination(reply: number): Promise<Destination> {
  const connections: Destination['connections'] = [];
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    const record = { bytesRead: 0, bytesWritten: 0, closed: false };
    connections.push(record);
    let first = true;
    socket.on('data', (chunk) => {
      if (first) socket.write(Buffer.alloc(reply, 0x61));
      else socket.write(chunk);
      first = false;
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      Object.assign(record, { bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten, closed: true });
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** An HTTP destination that answers with the headers it received (as JSON), recording its sockets' bytes. */
export async function httpDestination(): Promise<Destination & { seen: IncomingHttpHeaders[] }> {
  const connections: Destination['connections'] = [];
  const seen: IncomingHttpHeaders[] = [];
  const server: HttpServer = createHttpServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ path: req.url, headers: req.headers })));
  });
  server.on('connection', (socket: Socket) => {
    const record = { bytesRead: 0, bytesWritten: 0, closed: false };
    connections.push(record);
    socket.on('close', () => Object.assign(record, { bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten, closed: true }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const basic = (runId: string, token: string) => `Basic ${Buffer.from(`${runId}:${token}`).toString('base64')}`;

export interface ConnectResult {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
  socket?: Socket;
}

export function connectThrough(proxyPort: number, target: string, authorization?: string): Promise<ConnectResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: target, headers: authorization ? { 'proxy-authorization': authorization } : {} });
    req.on('connect', (res, socket, head: Buffer) => {
      if (res.statusCode === 200) {
        resolve({ status: 200, body: '', headers: res.headers, socket });
        return;
      }
      // A refusal's body follows the head on the same socket (its first bytes may have come with the head).
      const chunks: Buffer[] = [head];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      socket.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export function getThrough(proxyPort: number, url: string, authorization?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: url, agent: false, headers: { ...headers, ...(authorization ? { 'proxy-authorization': authorization } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `bytes` through an open tunnel and reads until `expected` bytes came back. */
export function exchange(socket: Socket, bytes: number, expected: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received >= expected) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(Buffer.alloc(bytes, 0x62));
  });
}

/** A test HTTP server in a container: answers every request on 8080 and 8081 with its name and port. */
const DESTINATION_SERVER_SCRIPT = `
const http = require('http');
for (const port of [8080, 8081]) http.createServer((req, res) => res.end(process.env.NAME + ':' + port)).listen(port);
`;

/**
 * Starts a destination for egress tests: a container called `name` on `network` (the proxy's outbound network),
 * labelled so that the test removes it; returns its address there.
 */
export async function startDestinationContainer(docker: Dockerode, name: string, network: string, labels: Record<string, string>): Promise<string> {
  const container = await docker.createContainer({
    name,
    Image: 'sandrun/node:18',
    Cmd: ['node', '-e', DESTINATION_SERVER_SCRIPT],
    Env: [`NAME=${name}`],
    User: '10001:10001',
    Labels: labels,
    HostConfig: { NetworkMode: network, CapDrop: ['ALL'], ReadonlyRootfs: true },
  });
  await container.start();
  return (await container.inspect()).NetworkSettings.Networks[network]!.IPAddress;
}
