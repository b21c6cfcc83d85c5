// The one throw-away 3-node swarm a test run shares: started on first use by the run's main process, torn down at its end.
// Test files run in worker processes; the main process (test/global-setup.ts) owns the cluster and hands its
// address out over loopback HTTP, so the ~25 s start is paid once per run, and only by runs that use it.
import Dockerode from 'dockerode';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setNodeEngine, setNodeLink, startSwarmCluster, type SwarmCluster } from '../../scripts/swarm/cluster.ts';
import { ensureClusterPrerequisites } from '../../scripts/swarm/prerequisites.ts';
import { PYTHON_IMAGE } from './sandbox.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where a test file asks for the shared swarm cluster (see sharedSwarmCluster). */
    swarmClusterUrl: string;
  }
}

/** What a test file gets: the nodes' engine sockets (the first is the manager `swarm init` ran on). */
export interface SharedCluster {
  id: string;
  sockets: string[];
  hubNamespace: string;
}

type Answer = { cluster: SharedCluster } | { unavailable: string } | { failed: string };

/** Main process: serves the cluster, starting it at the first request; `close` tears it down if it was started. */
export async function serveSharedCluster(): Promise<{ url: string; close(): Promise<void> }> {
  let cluster: SwarmCluster | undefined;
  let answer: Promise<Answer> | undefined;
  const start = async (): Promise<Answer> => {
    const reason = ensureClusterPrerequisites();
    if (reason) return { unavailable: reason };
    try {
      cluster = await startSwarmCluster({ images: [PYTHON_IMAGE] });
      console.log(`shared swarm cluster ${cluster.id} up; setup ms: ${JSON.stringify(cluster.timings)}`);
      return { cluster: { id: cluster.id, sockets: cluster.sockets, hubNamespace: cluster.hubNamespace } };
    } catch (error) {
      return { failed: `the shared swarm cluster did not start: ${(error as Error).message}` };
    }
  };
  const server = createServer((_request, response) => {
    answer ??= start();
    void answer.then((body) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.close();
      await answer;
      if (!cluster) return;
      try {
        await expectNoServicesLeft(cluster.sockets[0]!);
      } finally {
        await cluster.teardown();
      }
    },
  };
}

/** As the engine's own check (global-setup.ts): every run's service must be gone once the suite ends. */
async function expectNoServicesLeft(managerSocket: string): Promise<void> {
  const manager = new Dockerode({ socketPath: managerSocket, timeout: 10_000 });
  const left = async () => {
    const services = await manager.listServices({ filters: { label: ['sandrun.managed=true'] } }).catch(() => []);
    return services.map((s) => `${s.Spec?.Name ?? s.ID}`);
  };
  for (let attempt = 0; attempt < 20; attempt += 1) {
    if ((await left()).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const names = await left();
  if (names.length > 0) throw new Error(`${names.length} swarm service(s) labelled sandrun.managed=true remain after the suite: ${names.join('; ')}`);
}

let asked: Promise<Answer> | undefined;

/**
 * Test file: the shared cluster, or why this machine cannot make one (a skip); a cluster that failed to start throws.
 * `url`: the provided swarmClusterUrl (inject() belongs to the test side, this file is also the main process's).
 */
export async function sharedSwarmCluster(url: string): Promise<SharedCluster | { unavailable: string }> {
  asked ??= fetch(`${url}/cluster`).then((response) => response.json() as Promise<Answer>);
  const answer = await asked;
  if ('failed' in answer) throw new Error(answer.failed);
  return 'cluster' in answer ? answer.cluster : answer;
}

/** Cuts node `index` of the shared cluster off its network, or puts it back. */
export function setSharedNodeLink(cluster: SharedCluster, index: number, up: boolean): Promise<void> {
  return setNodeLink(cluster.hubNamespace, index, up);
}

/** Stops node `index`'s engine of the shared cluster, or starts it again (it rejoins the swarm). */
export function setSharedNodeEngine(cluster: SharedCluster, index: number, up: boolean): Promise<void> {
  return setNodeEngine(cluster.id, index, up);
}
