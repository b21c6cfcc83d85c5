// What only the swarm has, on the shared 3-node cluster (swarm-cluster.ts): runs spread over the nodes, and a node lost
// mid-run. Everything a run gets and sees is the contract suites' (backends.ts), run on the swarm as on Docker. This file
// cuts a node off: vitest.config.ts runs it after every other file, so no other file's runs are on the cluster then.
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxResult, SandboxSpec } from '../../src/sandbox/backend.ts';
import { createBackendSandbox, eachBackend, swarmCluster, type BackendSandbox } from '../helpers/backends.ts';
import { setSharedNodeLink, type SharedCluster } from '../helpers/swarm-cluster.ts';

let cluster: SharedCluster;
let sandbox: BackendSandbox;
let engines: Dockerode[];
let workspace: string;

const python = (code: string) => ['python3', '-c', code];

/** Which node (index) holds each run's container, as seen by the nodes' own engines. */
async function nodesOfRuns(runIds: string[]): Promise<Map<string, number>> {
  const where = new Map<string, number>();
  for (const [index, engine] of engines.entries()) {
    const containers = await engine.listContainers({ all: true, filters: { label: ['sandrun.managed=true'] } });
    for (const c of containers) if (runIds.includes(c.Labels['sandrun.run_id'] ?? '')) where.set(c.Labels['sandrun.run_id']!, index);
  }
  return where;
}

async function leftovers(runIds: string[]): Promise<string[]> {
  return (await Promise.all(runIds.map((runId) => sandbox.leftovers(runId)))).flat();
}

await eachBackend(
  'swarm',
  () => {
    beforeAll(async () => {
      cluster = (await swarmCluster()) as SharedCluster;
      engines = cluster.sockets.map((socketPath) => new Dockerode({ socketPath }));
      sandbox = await createBackendSandbox('swarm', { outputsCapBytes: 1024 * 1024, fileSizeMb: 64, logCapBytes: 64 * 1024 });
      workspace = await sandbox.workspace({ 'noop.py': 'print("ok")\n' });
    });
    afterAll(async () => sandbox?.cleanup());

    const spec = (command: string[], overrides: Partial<SandboxSpec> = {}) =>
      sandbox.spec({ command, workspaceDir: workspace, limits: { timeoutSeconds: 30, memoryMb: 128, cpus: 1, pids: 64 }, ...overrides });

    describe('the swarm sandbox on a 3-node swarm', () => {
      it('runs 24 concurrent runs spread over the three nodes, all succeeding', async () => {
        const specs = Array.from({ length: 24 }, (_, i) => spec(python(`import time\ntime.sleep(2)\nprint(${i})`)));
        const seen = new Map<string, number>();
        let watching = true;
        const watcher = (async () => {
          while (watching) {
            for (const [runId, node] of await nodesOfRuns(specs.map((s) => s.runId))) seen.set(runId, node);
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        })();
        const results = await Promise.all(specs.map((s) => sandbox.backend.run(s)));
        watching = false;
        await watcher;
        results.forEach((result, i) => expect(`${result.exitCode} ${result.stdout.text}`).toBe(`0 ${i}\n`));
        const perNode = [0, 1, 2].map((node) => specs.filter((s) => seen.get(s.runId) === node).length);
        console.log(`24 runs per node: ${perNode.join('/')}`);
        expect(perNode.every((count) => count > 0), `runs per node ${perNode.join('/')}`).toBe(true);
      });

      it('ends a run whose node is cut off with a platform error naming the lost node; the others succeed; nothing is left', async () => {
        const specs = Array.from({ length: 3 }, () => spec(python('import time\ntime.sleep(20)\nprint("done")'), { limits: { timeoutSeconds: 90, memoryMb: 64, cpus: 0.5, pids: 64 } }));
        const settled = specs.map((s) => sandbox.backend.run(s).then((r): SandboxResult | Error => r, (error: Error) => error));
        let victim: { runId: string; node: number } | undefined;
        for (let attempt = 0; attempt < 100 && !victim; attempt += 1) {
          const where = await nodesOfRuns(specs.map((s) => s.runId));
          // Not the node the backend talks to: its manager must stay reachable.
          const candidate = specs.find((s) => (where.get(s.runId) ?? 0) > 0);
          if (candidate) victim = { runId: candidate.runId, node: where.get(candidate.runId)! };
          else await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(victim, 'no run was placed on a node other than the manager').toBeDefined();
        const cutAt = Date.now();
        await setSharedNodeLink(cluster, victim!.node, false);
        try {
          const results = await Promise.all(settled);
          for (const [i, s] of specs.entries()) {
            const result = results[i]!;
            if (s.runId === victim!.runId) {
              expect(result).toBeInstanceOf(Error);
              expect((result as Error).message).toMatch(/node .* was lost/);
              expect((result as { code?: string }).code).toBe('engine_unavailable');
              console.log(`the lost node's run ended ${Date.now() - cutAt} ms after the cut: ${(result as Error).message}`);
              expect(Date.now() - cutAt).toBeLessThan(60_000);
            } else {
              expect(result instanceof Error ? result.message : `${result.exitCode} ${result.stdout.text}`).toBe('0 done\n');
            }
          }
        } finally {
          await setSharedNodeLink(cluster, victim!.node, true);
        }
        // Once back, the node learns its service was removed and stops the task.
        // The managers may hold an election when the node returns: their API refuses calls meanwhile.
        const look = () => leftovers(specs.map((s) => s.runId)).catch((error: Error) => [`(manager not answering: ${error.message})`]);
        let left = await look();
        for (let attempt = 0; attempt < 120 && left.length > 0; attempt += 1) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          left = await look();
        }
        expect(left).toEqual([]);
      }, 150_000);
    });
  },
  ['swarm'],
);
