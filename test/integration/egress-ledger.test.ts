// The server's side of egress (SPEC §11) against the real proxy on 127.0.0.1: a run's credential works while it runs, its counts come back when it ends.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EgressLedger } from '../../src/egress/egress-ledger.ts';
import { grantPath } from '../../src/egress/egress-files.ts';
import { createEgressProxy, type EgressProxy } from '../../src/egress/proxy/egress-proxy.ts';
import { connectThrough, exchange, tcpDestination, until, type Destination } from '../helpers/egress-destinations.ts';

/** The Proxy-Authorization a client sends for the credential in an HTTP_PROXY URL. */
function authorizationOf(proxyUrl: string): string {
  const url = new URL(proxyUrl);
  return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
}

describe('the egress ledger', () => {
  let dir: string;
  let proxy: EgressProxy;
  let port: number;
  let ledger: EgressLedger;
  let server: Destination;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sandrun-ledger-'));
    ledger = new EgressLedger({ dir, proxyAddress: 'egress-proxy:3128', closeWaitMs: 5_000 });
    proxy = createEgressProxy({ dir, connectTimeoutMs: 5_000, idleTimeoutMs: 60_000, maxConnectionsPerRun: 8, maxConnections: 64, sweepIntervalMs: 50, log: () => {} });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    port = (proxy.server.address() as AddressInfo).port;
    server = await tcpDestination(200);
  });

  afterEach(async () => {
    await proxy.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives a run proxy variables with its own credential, kept only as a hash on disk', () => {
    const env = ledger.open('run-1', [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    const url = new URL(env.HTTPS_PROXY!);
    expect(url.host).toBe('egress-proxy:3128');
    expect(url.username).toBe('run-1');
    expect(url.password.length, 'the credential').toBeGreaterThanOrEqual(32);
    expect(env.http_proxy).toBe(env.HTTPS_PROXY);
    expect(readFileSync(grantPath(dir, 'run-1'), 'utf8'), 'the grant file').not.toContain(url.password);
    expect(ledger.open('run-2', []).HTTP_PROXY, 'another run\'s credential').not.toBe(env.HTTP_PROXY);
  });

  it('returns what a run moved when it ends, cutting what is still open, and the credential stops working', async () => {
    const env = ledger.open('run-3', [{ host: 'localhost', port: server.port, privateRanges: ['127.0.0.0/8'] }]);
    const auth = authorizationOf(env.HTTP_PROXY!);
    const closedOne = await connectThrough(port, `localhost:${server.port}`, auth);
    await exchange(closedOne.socket!, 7, 200);
    closedOne.socket!.destroy();
    const open = await connectThrough(port, `localhost:${server.port}`, auth);
    await exchange(open.socket!, 3, 200);
    const usage = await ledger.close('run-3');
    expect(usage).toEqual([{ host: 'localhost', port: server.port, bytes_out: 10, bytes_in: 400 }]);
    await until('the open tunnel to be cut', () => open.socket!.destroyed);
    expect((await connectThrough(port, `localhost:${server.port}`, auth)).status, 'the ended run\'s credential').toBe(407);
    expect(readdirSync(join(dir, 'counts')), 'files left').toEqual([]);
  });

  it('returns nothing at once for a run that never connected', async () => {
    ledger.open('run-4', [{ host: 'localhost', port: server.port, privateRanges: [] }]);
    const started = Date.now();
    expect(await ledger.close('run-4')).toEqual([]);
    expect(Date.now() - started, 'ms spent waiting').toBeLessThan(4_000);
    expect(existsSync(grantPath(dir, 'run-4'))).toBe(false);
  });

  it('sweeps the files of runs that are not live, and only theirs', () => {
    ledger.open('live-run', []);
    ledger.open('dead-run', []);
    writeFileSync(join(dir, 'counts', 'dead-run.json'), '{}');
    writeFileSync(join(dir, 'grants', 'dead-run.json.1.x.tmp'), '{}');
    expect(ledger.sweep((runId) => runId === 'live-run')).toBe(2);
    expect(readdirSync(join(dir, 'grants')).sort()).toEqual(['dead-run.json.1.x.tmp', 'live-run.json']);
    expect(readdirSync(join(dir, 'counts'))).toEqual([]);
  });
});
