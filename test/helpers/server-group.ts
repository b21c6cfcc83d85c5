// Several sandrun server processes as one service (SPEC §13): one throw-away PostgreSQL database, one engine, each
// server its own data directory, one shared artifacts directory and secrets key.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Scope } from '../../src/auth/principal.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';
import { freePort, killHard, RUN_AND_PROJECT_SCOPES, startServerProcess, stopGracefully, tokenForServer, type ServerProcess } from './server-process.ts';

export interface ServerGroup {
  readonly database: TestDatabase;
  /** The live processes by index (undefined once killed or stopped, until started again). */
  readonly servers: (ServerProcess | undefined)[];
  /** Server i's URL (the same port across its restarts). */
  url(index: number): string;
  /** What server i runs with (its data dir, the shared database URL, artifacts dir and key, and `env`). */
  settings(index: number): Record<string, string>;
  token(tenantId: string, scopes?: readonly Scope[]): Promise<string>;
  start(index: number): Promise<ServerProcess>;
  kill(index: number): Promise<void>;
  stop(index: number): Promise<void>;
  /** Stops every server, drops the database, removes the directories. */
  close(): Promise<void>;
}

export async function startServerGroup(count: number, env: Record<string, string> = {}): Promise<ServerGroup> {
  const database = await createTestDatabase();
  const root = mkdtempSync(join(tmpdir(), 'sandrun-group-'));
  const shared = {
    SANDRUN_DATABASE_URL: database.url,
    SANDRUN_ARTIFACTS_DIR: join(root, 'artifacts'),
    SANDRUN_SECRETS_KEY: randomBytes(32).toString('base64'),
    SANDRUN_LOG_LEVEL: 'info',
    ...env,
  };
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const servers: (ServerProcess | undefined)[] = Array.from({ length: count }, () => undefined);
  const settings = (index: number): Record<string, string> => {
    const dataDir = join(root, `server-${index + 1}`);
    mkdirSync(dataDir, { recursive: true });
    return { ...shared, SANDRUN_DATA_DIR: dataDir };
  };
  const group: ServerGroup = {
    database,
    servers,
    url: (index) => `http://127.0.0.1:${ports[index]}`,
    settings,
    token: (tenantId, scopes = RUN_AND_PROJECT_SCOPES) => tokenForServer(settings(0), tenantId, scopes),
    async start(index) {
      const server = await startServerProcess(settings(index), ports[index]!);
      servers[index] = server;
      return server;
    },
    async kill(index) {
      const server = servers[index];
      servers[index] = undefined;
      if (server) await killHard(server);
    },
    async stop(index) {
      const server = servers[index];
      servers[index] = undefined;
      if (server) await stopGracefully(server);
    },
    async close() {
      await Promise.all(servers.map((_, index) => group.stop(index)));
      await database.drop();
      rmSync(root, { recursive: true, force: true });
    },
  };
  // One at a time: the first migrates the empty database (the others would wait on its lock anyway).
  for (let index = 0; index < count; index += 1) await group.start(index);
  return group;
}
