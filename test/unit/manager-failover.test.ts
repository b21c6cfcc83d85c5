// The swarm managers' failover: which requests go to the next manager, against real HTTP servers on unix sockets.
import Dockerode from 'dockerode';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failoverClient } from '../../src/sandbox/swarm/manager-failover.ts';

let dir: string;
const servers: Server[] = [];
/** Requests each socket's server received, as "METHOD path". */
const received = new Map<string, string[]>();

/** A server on a unix socket that answers `{}` (answering) or drops the connection on every request (hanging up). */
async function serve(name: string, answering: boolean): Promise<string> {
  const socket = join(dir, `${name}.sock`);
  received.set(name, []);
  const server = createServer((request, response) => {
    received.get(name)!.push(`${request.method} ${request.url?.replace(/\?.*$/, '')}`);
    request.resume();
    if (!answering) return request.socket.destroy();
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ ID: name }));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  servers.push(server);
  return socket;
}

const client = (...sockets: string[]) => failoverClient(sockets.map((s) => `unix://${s}`), sockets.map((socketPath) => new Dockerode({ socketPath })));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sandrun-failover-'));
});

afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

describe('swarm manager failover', () => {
  it('sends any request, a service create included, to the next manager when the first cannot be connected to', async () => {
    const up = await serve('up-1', true);
    const manager = client(join(dir, 'gone.sock'), up);
    expect(((await manager.createService({ Name: 'x' })) as { id: string }).id).toBe('up-1');
    await expect(manager.listServices()).resolves.toEqual({ ID: 'up-1' });
    expect(received.get('up-1')).toEqual(['POST /services/create', 'GET /services']);
  });

  it('sends a read again to the next manager when the first drops the connection, but never a service create (it may have been made)', async () => {
    const dropping = await serve('dropping', false);
    const up = await serve('up-2', true);
    const manager = client(dropping, up);
    await expect(manager.getService('s1').inspect()).resolves.toEqual({ ID: 'up-2' });
    const created = await manager.createService({ Name: 'x' }).then(
      () => 'created',
      (error: Error) => error.message,
    );
    // The read moved the client to the manager that answered; a new client starts at the dropping one again.
    const fresh = client(dropping, up);
    const createdFresh = await fresh.createService({ Name: 'y' }).then(
      () => 'created',
      (error: Error) => error.message,
    );
    expect(created).toBe('created');
    expect(createdFresh).toMatch(/socket hang up/);
    expect(received.get('dropping')).toEqual(['GET /services/s1', 'POST /services/create']);
    expect(received.get('up-2')).toEqual(['GET /services/s1', 'POST /services/create']);
  });

  it('names every manager and its failure when none answers', async () => {
    const manager = client(join(dir, 'gone-a.sock'), join(dir, 'gone-b.sock'));
    const error = (await manager.ping().catch((e: unknown) => e)) as { code?: string; message: string };
    expect(error.code).toBe('engine_unavailable');
    expect(error.message).toMatch(/no swarm manager took GET \/_ping: unix:\/\/.*gone-a\.sock: ENOENT.*; unix:\/\/.*gone-b\.sock: ENOENT/);
  });
});
