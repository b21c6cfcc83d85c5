// A lone SQLite server of one test file, killed with SIGKILL and started again on its data directory and port (the
// adoption tests). What a failed test left of its instance on the engine is removed after the file.
import Dockerode from 'dockerode';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { TestRepo } from './git-repo.ts';
import { printedText, runLogEvents } from './run-log-events.ts';
import { apiCaller, freePort, killHard, startServerProcess, stopGracefully, tokenForServer, type ServerProcess } from './server-process.ts';

const docker = new Dockerode();

export interface LoneServer {
  readonly dataDir: string;
  readonly repo: TestRepo;
  readonly token: string;
  /** Its engine instance (the containers' label), known once it has started. */
  readonly instance: string | undefined;
  /** Its URL while it runs. */
  readonly url: string;
  call: ReturnType<typeof apiCaller>;
  /** What a run has printed so far on stdout and stderr, as the server streams it (no follow): the text of its log events. */
  printed(runId: string): Promise<string>;
  /** Starts it (again) with `env` over its data directory, on the port of its first start. */
  start(env?: Record<string, string>): Promise<void>;
  kill(): Promise<void>;
}

/**
 * `files`: the repository's files, asked for in its beforeAll (a test's own hooks registered before this call run
 * before its set-up and after its clean-up: an image the files name, for one).
 */
export function loneServer(tenant: string, files: () => Record<string, string>): LoneServer {
  let dataDir = '';
  let repo: TestRepo | undefined;
  let token = '';
  let port: number | undefined;
  let server: ServerProcess | undefined;
  let instance: string | undefined;
  const url = () => {
    if (!server) throw new Error('the lone server is not running');
    return server.url;
  };
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), `sandrun-${tenant}-`));
    repo = new TestRepo(files());
    token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, tenant);
  }, 120_000);
  afterAll(async () => {
    if (server) await stopGracefully(server);
    if (instance) {
      const label = `sandrun.instance=${instance}`;
      const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
      await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      const volumes = (await docker.listVolumes({ filters: { label: [label] } })).Volumes ?? [];
      await Promise.all(volumes.map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)));
    }
    rmSync(dataDir, { recursive: true, force: true });
    repo?.remove();
  });
  const call = apiCaller(url, () => token);
  return {
    get dataDir() {
      return dataDir;
    },
    get repo() {
      return repo!;
    },
    get token() {
      return token;
    },
    get instance() {
      return instance;
    },
    get url() {
      return url();
    },
    call,
    printed: async (runId) => printedText(await runLogEvents(url(), token, runId)),
    async start(env = {}) {
      port ??= await freePort();
      server = await startServerProcess({ SANDRUN_DATA_DIR: dataDir, ...env }, port);
      instance = readFileSync(join(dataDir, 'instance-id'), 'utf8').trim();
    },
    async kill() {
      if (server) await killHard(server);
      server = undefined;
    },
  };
}
