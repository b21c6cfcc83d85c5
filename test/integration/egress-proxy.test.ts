// The egress proxy as a plain process on 127.0.0.1 (SPEC §11): a run reaches exactly its grants, proves who it is, and every byte is counted.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countsFileSchema, countsPath, grantPath, tokenSha256, writeAtomically, type CountsFile, type EgressGrant } from '../../src/egress/egress-files.ts';
import { createEgressProxy, type EgressProxy } from '../../src/egress/proxy/egress-proxy.ts';
import { basic, connectThrough, exchange, getThrough, httpDestination, tcpDestination, until, type Destination } from '../helpers/egress-destinations.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the egress proxy', () => {
  let dir: string;
  let proxy: EgressProxy;
  let proxyPort: number;
  const logged: Array<Record<string, unknown>> = [];
  const cleanups: Array<() => Promise<void>> = [];

  async function startProxy(overrides: { maxConnectionsPerRun?: number } = {}): Promise<void> {
    proxy = createEgressProxy({
      dir,
      connectTimeoutMs: 5_000,
      idleTimeoutMs: 60_000,
      maxConnectionsPerRun: overrides.maxConnectionsPerRun ?? 16,
      maxConnections: 256,
      sweepIntervalMs: 50,
      log: (event) => logged.push(event),
    });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxyPort = (proxy.server.address() as AddressInfo).port;
  }

  function grant(runId: string, token: string, grants: EgressGrant[]): void {
    writeAtomically(grantPath(dir, runId), { run: runId, tokenSha256: tokenSha256(token), grants });
  }

  /** Ends the run as the server does (its grant file goes) and reads the counts the proxy then writes for the last time. */
  async function finalCounts(runId: string): Promise<CountsFile> {
    unlinkSync(grantPath(dir, runId));
    return until(`the final counts of ${runId}`, () => {
      if (!existsSync(countsPath(dir, runId))) return undefined;
      const counts = countsFileSchema.parse(JSON.parse(readFileSync(countsPath(dir, runId), 'utf8')));
      return counts.closed ? counts : undefined;
    });
  }

  async function destination<T extends Destination>(made: Promise<T>): Promise<T> {
    const value = await made;
    cleanups.push(() => value.close());
    return value;
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sandrun-egress-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'grants'));
    mkdirSync(join(dir, 'counts'));
    logged.length = 0;
    await startProxy();
  });

  afterEach(async () => {
    await proxy.close();
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('tunnels CONNECT to a granted host:port and counts the bytes each way exactly', async () => {
    const server = await destination(tcpDestination(3000));
    grant('run-a', 'token-a', [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    const tunnel = await connectThrough(proxyPort, `localhost:${server.port}`, basic('run-a', 'token-a'));
    expect(tunnel.status, tunnel.body).toBe(200);
    await exchange(tunnel.socket!, 1000, 3000);
    await exchange(tunnel.socket!, 500, 500);
    tunnel.socket!.destroy();
    await until('the destination to see the connection close', () => server.connections[0]?.closed);
    const counts = await finalCounts('run-a');
    expect(counts.egress).toEqual([{ host: 'localhost', port: server.port, bytes_out: 1500, bytes_in: 3500, connections: 1 }]);
    expect(server.connections[0], 'what the destination saw').toMatchObject({ bytesRead: 1500, bytesWritten: 3500 });
  });

  it('forwards an absolute-URI http:// request to a granted pair, without the run\'s credential, and counts its wire bytes', async () => {
    const server = await destination(httpDestination());
    grant('run-h', 'token-h', [{ host: '127.0.0.1', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    const answer = await getThrough(proxyPort, `http://127.0.0.1:${server.port}/data?x=1`, basic('run-h', 'token-h'), { 'x-model': 'revenue', 'proxy-connection': 'keep-alive' });
    expect(answer.status, answer.body).toBe(200);
    const echoed = JSON.parse(answer.body) as { path: string; headers: IncomingHttpHeaders };
    expect(echoed.path).toBe('/data?x=1');
    expect(echoed.headers['x-model']).toBe('revenue');
    expect(echoed.headers.host).toBe(`127.0.0.1:${server.port}`);
    expect(echoed.headers['proxy-authorization'], 'the run\'s proxy credential must not reach the destination').toBeUndefined();
    expect(echoed.headers['proxy-connection']).toBeUndefined();
    await until('the destination to see the connection close', () => server.connections[0]?.closed);
    const counts = await finalCounts('run-h');
    expect(counts.egress).toEqual([{ host: '127.0.0.1', port: server.port, bytes_out: server.connections[0]!.bytesRead, bytes_in: server.connections[0]!.bytesWritten, connections: 1 }]);
    expect(counts.egress[0]!.bytes_in, 'the answer\'s bytes, head and body').toBeGreaterThan(answer.body.length);
  });

  it('refuses another port or another host with 403 before any connection is made', async () => {
    const granted = await destination(tcpDestination(10));
    const other = await destination(tcpDestination(10));
    grant('run-b', 'token-b', [{ host: 'localhost', port: granted.port, privateRanges: ['127.0.0.0/8'] }]);
    const auth = basic('run-b', 'token-b');
    for (const target of [`localhost:${other.port}`, `127.0.0.1:${granted.port}`, '169.254.169.254:80', '10.1.2.3:80', `LOCALHOST.:${other.port}`]) {
      const refused = await connectThrough(proxyPort, target, auth);
      expect(refused.status, target).toBe(403);
      expect(refused.body).toContain(`is not granted to this run (its grants: localhost:${granted.port})`);
    }
    const plain = await getThrough(proxyPort, `http://localhost:${other.port}/`, auth);
    expect(plain.status).toBe(403);
    expect(other.connections, 'connections the refused port received').toHaveLength(0);
    expect(granted.connections, 'connections to the granted port by address').toHaveLength(0);
    const counts = await finalCounts('run-b');
    expect(counts.egress).toEqual([]);
    expect(counts.refused).toContainEqual({ host: '169.254.169.254', port: 80, reason: 'not granted', attempts: 1 });
    expect(counts.refused).toContainEqual({ host: 'localhost', port: other.port, reason: 'not granted', attempts: 3 });
  });

  it('asks for credentials (407) when they are missing, wrong, of an unknown run or of a run that has ended', async () => {
    const server = await destination(tcpDestination(10));
    grant('run-c', 'token-c', [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    grant('run-d', 'token-d', [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    const target = `localhost:${server.port}`;
    const missing = await connectThrough(proxyPort, target);
    expect(missing.status).toBe(407);
    expect(missing.headers['proxy-authenticate']).toBe('Basic realm="sandrun egress"');
    expect((await connectThrough(proxyPort, target, basic('run-c', 'token-d'))).status, 'another run\'s token').toBe(407);
    expect((await connectThrough(proxyPort, target, basic('run-x', 'token-c'))).status, 'an unknown run').toBe(407);
    expect((await connectThrough(proxyPort, target, basic('../grants/run-c', 'token-c'))).status, 'a path for a run id').toBe(407);
    expect((await connectThrough(proxyPort, target, 'Bearer token-c')).status, 'another scheme').toBe(407);
    expect((await getThrough(proxyPort, `http://${target}/`)).status, 'a plain request without credentials').toBe(407);
    // run-d never connected: the proxy has nothing to write for it.
    unlinkSync(grantPath(dir, 'run-d'));
    expect((await connectThrough(proxyPort, target, basic('run-d', 'token-d'))).status, 'a run whose grants are gone').toBe(407);
    expect(server.connections).toHaveLength(0);
    expect((await connectThrough(proxyPort, target, basic('run-c', 'token-c'))).status, 'the right credential').toBe(200);
  });

  it('refuses a granted name that resolves to a loopback address unless the operator named that range', async () => {
    const server = await destination(tcpDestination(10));
    grant('run-e', 'token-e', [{ host: 'localhost', port: server.port, privateRanges: [] }]);
    const refused = await connectThrough(proxyPort, `localhost:${server.port}`, basic('run-e', 'token-e'));
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('localhost resolves to a loopback address (127.0.0.1)');
    expect(server.connections, 'connections the destination received').toHaveLength(0);

    grant('run-f', 'token-f', [{ host: 'localhost', port: server.port, privateRanges: ['10.0.0.0/8'] }]);
    expect((await connectThrough(proxyPort, `localhost:${server.port}`, basic('run-f', 'token-f'))).status, 'a private range that is not loopback').toBe(403);
    grant('run-g', 'token-g', [{ host: '127.0.0.1', port: server.port, privateRanges: [] }]);
    expect((await connectThrough(proxyPort, `127.0.0.1:${server.port}`, basic('run-g', 'token-g'))).status, 'a loopback address granted without its range').toBe(403);
    expect(server.connections).toHaveLength(0);
    const counts = await finalCounts('run-e');
    expect(counts.refused).toEqual([{ host: 'localhost', port: server.port, reason: expect.stringContaining('resolves to a loopback address'), attempts: 1 }]);

    grant('run-i', 'token-i', [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    expect((await connectThrough(proxyPort, `localhost:${server.port}`, basic('run-i', 'token-i'))).status, 'with 127.0.0.0/8 named').toBe(200);
  });

  it('cuts a run\'s open tunnels when its grants are removed, and writes its counts once more, closed', async () => {
    const server = await destination(tcpDestination(100));
    grant('run-j', 'token-j', [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    const tunnel = await connectThrough(proxyPort, `localhost:${server.port}`, basic('run-j', 'token-j'));
    await exchange(tunnel.socket!, 10, 100);
    const closed = new Promise<void>((resolve) => tunnel.socket!.on('close', () => resolve()));
    const counts = await finalCounts('run-j');
    await closed;
    expect(counts.egress).toEqual([{ host: 'localhost', port: server.port, bytes_out: 10, bytes_in: 100, connections: 1 }]);
  });

  it('goes on counting from what it wrote before a restart', async () => {
    const server = await destination(tcpDestination(40));
    grant('run-k', 'token-k', [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    const first = await connectThrough(proxyPort, `localhost:${server.port}`, basic('run-k', 'token-k'));
    await exchange(first.socket!, 4, 40);
    first.socket!.destroy();
    await until('the first connection to be written', () => {
      const text = existsSync(countsPath(dir, 'run-k')) && readFileSync(countsPath(dir, 'run-k'), 'utf8');
      return text && countsFileSchema.parse(JSON.parse(text)).egress[0]?.bytes_in === 40;
    });
    await proxy.close();
    await startProxy();
    const second = await connectThrough(proxyPort, `localhost:${server.port}`, basic('run-k', 'token-k'));
    await exchange(second.socket!, 6, 40);
    second.socket!.destroy();
    await until('the destination to see both connections close', () => server.connections.length === 2 && server.connections.every((entry) => entry.closed));
    const counts = await finalCounts('run-k');
    expect(counts.egress).toEqual([{ host: 'localhost', port: server.port, bytes_out: 10, bytes_in: 80, connections: 2 }]);
  });

  it('refuses a run more connections at once than its limit (429), and origin-form requests (400)', async () => {
    await proxy.close();
    await startProxy({ maxConnectionsPerRun: 1 });
    const server = await destination(tcpDestination(1));
    grant('run-l', 'token-l', [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    const open = await connectThrough(proxyPort, `localhost:${server.port}`, basic('run-l', 'token-l'));
    expect(open.status).toBe(200);
    const second = await connectThrough(proxyPort, `localhost:${server.port}`, basic('run-l', 'token-l'));
    expect(second.status).toBe(429);
    expect(second.body).toContain('1 connections open');
    open.socket!.destroy();
    expect((await getThrough(proxyPort, '/not-absolute', basic('run-l', 'token-l'))).status).toBe(400);
  });
});

describe('the bundled egress proxy program (dist/egress-proxy.mjs)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGTERM');
  });

  it('starts from its environment alone and tunnels a granted pair', async () => {
    const bundle = join(import.meta.dirname, '../../dist/egress-proxy.mjs');
    expect(existsSync(bundle), 'run `node scripts/build.js` first').toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'sandrun-egress-bin-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'grants'));
    const server = await tcpDestination(5);
    try {
      writeAtomically(grantPath(dir, 'run-z'), { run: 'run-z', tokenSha256: tokenSha256('token-z'), grants: [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }] });
      child = spawn(process.execPath, [bundle], { env: { EGRESS_DIR: dir, EGRESS_HOST: '127.0.0.1', EGRESS_PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
      const port = await new Promise<number>((resolve, reject) => {
        let text = '';
        child!.stdout!.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          const match = /"event":"listening","port":(\d+)/.exec(text);
          if (match) resolve(Number(match[1]));
        });
        child!.on('exit', (code) => reject(new Error(`the proxy exited (${code}): ${text}`)));
      });
      const tunnel = await connectThrough(port, `localhost:${server.port}`, basic('run-z', 'token-z'));
      expect(tunnel.status).toBe(200);
      await exchange(tunnel.socket!, 1, 5);
      tunnel.socket!.destroy();
      expect((await connectThrough(port, `localhost:${server.port + 1}`, basic('run-z', 'token-z'))).status).toBe(403);
    } finally {
      await server.close();
    }
  });
});
