// Project environments on the shared 3-node swarm (SPEC §9): built once, shipped to every node, run there, removed from all.
// The cluster's nodes have no route out (scripts/swarm/layout.ts), so Debian's mirror is out of their reach: the server
// builds on this machine's engine (SANDRUN_SWARM_BUILD_HOST), which holds the same runner image, and ships from there.
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentStore } from '../../src/store/environment-store.ts';
import { eachBackend, swarmCluster } from '../helpers/backends.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import type { SharedCluster } from '../helpers/swarm-cluster.ts';

const BUILD_HOST = 'unix:///var/run/docker.sock';
// python3-wcwidth (tabulate's optional helper) only makes this environment's key this file's own: another test that
// builds plain python3-tabulate on this machine's engine keeps its image when this one removes its own.
const MANIFEST = 'image: sandrun/python:3.11\nenvironment:\n  apt: [python3-tabulate, python3-wcwidth]\n';
const MODEL = 'import tabulate, wcwidth\nprint(tabulate.tabulate([["swarm", 3]], tablefmt="plain"))\n';

let cluster: SharedCluster;
let engines: Dockerode[];
let server: TestServer;
let repo: TestRepo;
let token: string;
let tag: string;

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}
const builds = () => metric('sandrun_environment_builds_total{result="ready"}');

async function runModel(): Promise<{ status: string; stdout: string; error: unknown }> {
  const created = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'tables', model_name: 'table' });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  return server.waitForRun(token, created.body.run_id as string);
}

/** The image ID `image` has on each node (undefined where it is missing). */
async function onNodes(image: string): Promise<(string | undefined)[]> {
  return Promise.all(engines.map(async (engine) => ((await engine.getImage(image).inspect().catch(() => undefined)) as { Id: string } | undefined)?.Id));
}

/** How many times each node loaded image `id` since `since` (seconds), by the engines' own events. */
async function loadsSince(id: string, since: number): Promise<number[]> {
  const until = Math.ceil(Date.now() / 1000) + 1;
  return Promise.all(
    engines.map(async (engine) => {
      const stream = await engine.getEvents({ since, until, filters: { type: ['image'], event: ['load'] } });
      let text = '';
      for await (const chunk of stream) text += chunk.toString();
      return text.split('\n').filter((line) => line.trim() && (JSON.parse(line) as { Actor?: { ID?: string } }).Actor?.ID === id).length;
    }),
  );
}

await eachBackend(
  'swarm environments',
  () => {
    beforeAll(async () => {
      cluster = (await swarmCluster()) as SharedCluster;
      engines = cluster.sockets.map((socketPath) => new Dockerode({ socketPath }));
      const hosts = cluster.sockets.map((socket) => `unix://${socket}`).join(',');
      server = await startTestServer({ SANDRUN_BACKEND: 'swarm', SANDRUN_SWARM_HOST: hosts, SANDRUN_SWARM_NODE_HOSTS: hosts, SANDRUN_SWARM_BUILD_HOST: BUILD_HOST });
      repo = new TestRepo({ 'sandrun.yaml': MANIFEST, 'models/table.py': MODEL });
      token = await server.token('swarm-environments');
      const project = await server.request(token, 'POST', '/v1/projects', { name: 'tables', repo_url: repo.dir });
      expect(project.status, JSON.stringify(project.body)).toBe(201);
    });
    afterAll(async () => {
      if (tag) await server?.sandrun.sandbox.environments.remove(tag).catch(() => undefined);
      await server?.close();
      repo?.remove();
    });

    describe('a project environment on the swarm', () => {
      it('a run of a project with apt python3-tabulate builds it once, ships it to every node and imports tabulate there', async () => {
        const started = Date.now();
        const run = await runModel();
        expect(run, JSON.stringify(run)).toMatchObject({ status: 'success', stdout: 'swarm  3\n' });
        // The environments table: one environment, built.
        const records = await new EnvironmentStore(server.sandrun.database.db).idleSince('9999');
        expect(records.map((r) => r.status), 'the environments of the server').toEqual(['ready']);
        tag = records[0]!.tag;
        const built = (await new Dockerode().getImage(tag).inspect()) as { Id: string; Size: number };
        expect(await onNodes(tag), `the image ID of ${tag} on each node`).toEqual([built.Id, built.Id, built.Id]);
        expect(await builds(), 'environment builds').toBe(1);
        console.log(`first run with its build and shipping to 3 nodes: ${Date.now() - started} ms; image ${Math.round(built.Size / 1e6)} MB; build log: ${records[0]!.log.trim().split('\n').at(-1)}`);
      });

      it('a second run builds nothing', async () => {
        const hits = await metric('sandrun_environment_cache_hits_total');
        const started = Date.now();
        const run = await runModel();
        expect(run, JSON.stringify(run)).toMatchObject({ status: 'success', stdout: 'swarm  3\n' });
        expect(await builds(), 'environment builds after a second run').toBe(1);
        expect(await metric('sandrun_environment_cache_hits_total'), 'cache hits').toBe(hits + 1);
        console.log(`second run: ${Date.now() - started} ms`);
      });

      it('nodes that lost the image get it back at the next runs, each loading it once however many runs start together', async () => {
        const id = (await onNodes(tag))[0]!;
        await Promise.all([engines[1]!, engines[2]!].map((engine) => engine.getImage(tag).remove({ force: true })));
        expect(await onNodes(tag), 'the image on each node after removing it from two').toEqual([id, undefined, undefined]);
        const since = Math.floor(Date.now() / 1000) - 1;
        const started = Date.now();
        const runs = await Promise.all([runModel(), runModel(), runModel()]);
        for (const run of runs) expect(run, JSON.stringify(run)).toMatchObject({ status: 'success', stdout: 'swarm  3\n' });
        console.log(`3 runs shipping the image to 2 nodes again: ${Date.now() - started} ms`);
        expect(await onNodes(tag), 'the image on each node after the runs').toEqual([id, id, id]);
        expect(await loadsSince(id, since), 'loads of the environment image on each node').toEqual([0, 1, 1]);
        expect(await builds(), 'environment builds').toBe(1);
      });

      it('the workspace-image sweep leaves environment images; removing the environment removes it from the build engine and every node', async () => {
        expect(tag, 'the environment image of the first run').toMatch(/^sandrun\/env:/);
        const id = (await onNodes(tag))[0]!;
        // Ends every run's leftovers of this server and sweeps its workspace images with no idle time.
        await server.sandrun.sandbox.removeAll();
        expect(await onNodes(tag), 'the environment image on each node after the workspace-image sweep').toEqual([id, id, id]);
        await server.sandrun.sandbox.environments.remove(tag);
        expect(await onNodes(tag), 'the environment image on each node after its removal').toEqual([undefined, undefined, undefined]);
        expect(await onNodes(id), 'the environment image, by ID, on each node after its removal').toEqual([undefined, undefined, undefined]);
        expect(await server.sandrun.sandbox.environments.has(tag), 'the build engine still holds it').toBe(false);
        tag = '';
      });
    });
  },
  ['swarm'],
);
