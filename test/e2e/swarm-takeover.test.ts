// Two servers on one PostgreSQL with the swarm backend: runs of one killed with SIGKILL for good are taken over by the other (SPEC §13).
import Dockerode from 'dockerode';
import pg from 'pg';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { INSTANCE_LABEL, RUN_ID_LABEL } from '../../src/sandbox/labels.ts';
import { WORKSPACE_IMAGE_LABEL } from '../../src/sandbox/swarm/workspace-image.ts';
import { backendServerEnv, eachBackend, runLeftovers, swarmCluster } from '../helpers/backends.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun, TERMINAL_STATUSES } from '../helpers/poll-run.ts';
import { startServerGroup, type ServerGroup } from '../helpers/server-group.ts';
import { apiCaller } from '../helpers/server-process.ts';
import { until } from '../helpers/until.ts';
import { runLogEvents } from '../helpers/run-log-events.ts';

const VALUE = 'sk-swarm-takeover-Zr81Nq4Tb6Wc3Yh';
/** Low, so that the killed server counts as dead within seconds (the defaults are 5 s and 30 s). */
const MEMBERSHIP = { SANDRUN_HEARTBEAT_SECONDS: '1', SANDRUN_SERVER_DEAD_SECONDS: '4' };
const WAIT_FOR_GO = 'while not os.path.exists("/tmp/go"): time.sleep(0.2)';
const model = (name: string) => `  ${name}:\n    command: ["python3", "${name}.py"]\n`;
const FILES: Record<string, string> = {
  'sandrun.yaml': ['image: sandrun/python:3.11', 'limits:', '  timeout_seconds: 240', 'models:', model('plain'), model('secret'), model('halted'), ''].join('\n'),
  // Each prints before its server's death, then waits for the test's word (a file in its /tmp) once the other server holds it.
  'plain.py': [
    'import json, os, sys, time',
    'print("plain before", flush=True)',
    'print("plain err", file=sys.stderr, flush=True)',
    WAIT_FOR_GO,
    'print("plain after", flush=True)',
    'json.dump({"answer": 42}, open("/outputs/result.json", "w"))',
    '',
  ].join('\n'),
  'secret.py': [
    'import json, os, sys, time',
    'v = open("/run/secrets/API_TOKEN").read()',
    'print("secret before", v, flush=True)',
    'print("secret err", v, file=sys.stderr, flush=True)',
    WAIT_FOR_GO,
    'print("secret after", v, flush=True)',
    'json.dump({"token": v, "answer": 7}, open("/outputs/result.json", "w"))',
    '',
  ].join('\n'),
  'halted.py': 'import time\nprint("halted waiting", flush=True)\ntime.sleep(300)\n',
};

let repo: TestRepo;
let group: ServerGroup | undefined;
const runIds: string[] = [];

async function manager(): Promise<Dockerode> {
  const cluster = await swarmCluster();
  if ('unavailable' in cluster) throw new Error(cluster.unavailable);
  return new Dockerode({ socketPath: cluster.sockets[0]! });
}

const instanceOf = (index: number) => readFileSync(join(group!.settings(index).SANDRUN_DATA_DIR!, 'instance-id'), 'utf8').trim();

/** The engine instance (data directory) of the server that answers for a run now, as the shared database records it. */
async function ownerInstance(runId: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: group!.database.url });
  await client.connect();
  try {
    const found = await client.query<{ instance_id: string }>('SELECT s.instance_id FROM runs r JOIN servers s ON s.id = r.server_id WHERE r.id = $1', [runId]);
    return found.rows[0]?.instance_id;
  } finally {
    await client.end();
  }
}

/** The workspace images (a run's checkout on its runner image) a server's engine instance left on the swarm's nodes. */
async function workspaceImagesOf(instanceId: string): Promise<string[]> {
  const cluster = await swarmCluster();
  if ('unavailable' in cluster) throw new Error(cluster.unavailable);
  const filters = { label: [`${WORKSPACE_IMAGE_LABEL}=true`, `${INSTANCE_LABEL}=${instanceId}`] };
  const lists = await Promise.all(cluster.sockets.map(async (socketPath) => (await new Dockerode({ socketPath }).listImages({ filters })).map((image) => `${socketPath}: ${image.Id}`)));
  return lists.flat();
}

/** Lets a run waiting at WAIT_FOR_GO go on: writes /tmp/go in its task's container, on whichever node it runs. */
async function go(runId: string): Promise<void> {
  const cluster = await swarmCluster();
  if ('unavailable' in cluster) throw new Error(cluster.unavailable);
  for (const socketPath of cluster.sockets) {
    const engine = new Dockerode({ socketPath });
    for (const found of await engine.listContainers({ filters: { label: [`${RUN_ID_LABEL}=${runId}`] } })) {
      const exec = await engine.getContainer(found.Id).exec({ Cmd: ['touch', '/tmp/go'], AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({});
      await new Promise((resolve) => {
        stream.on('end', resolve);
        stream.resume();
      });
      const { ExitCode } = await exec.inspect();
      expect(ExitCode, `touch /tmp/go in run ${runId}'s container`).toBe(0);
      return;
    }
  }
  throw new Error(`no running container of run ${runId} on the swarm's nodes`);
}

await eachBackend(
  'swarm-takeover',
  () => {
    beforeAll(() => {
      repo = new TestRepo(FILES);
    });
    afterAll(async () => {
      await group?.close();
      // A failed test may leave runs' services: not another test's problem.
      const swarm = await manager().catch(() => undefined);
      for (const runId of runIds) {
        const services = (await swarm?.listServices({ filters: { label: [`${RUN_ID_LABEL}=${runId}`] } })) ?? [];
        await Promise.all(services.map((s) => swarm!.getService(s.ID).remove().catch(() => undefined)));
      }
      repo.remove();
    }, 120_000);

    it('runs of a server killed for good are finished by the other: full logs and outputs, the secret as ***; a cancel sent to the live server ends one cancelled; nothing is left on the swarm', async () => {
      group = await startServerGroup(2, { ...(await backendServerEnv('swarm')), ...MEMBERSHIP, SANDRUN_LOG_LEVEL: 'warn' });
      const token = await group.token('swarmtakeover');
      const on = (index: number) => apiCaller(() => group!.url(index), () => token);
      const waitFor = (index: number, runId: string, until: readonly string[] = TERMINAL_STATUSES) =>
        pollRun(() => on(index)('GET', `/v1/runs/${runId}`), runId, { until, timeoutMs: 180_000 });
      const printed = (index: number, runId: string) => runLogEvents(group!.url(index), token, runId);

      expect((await on(1)('POST', '/v1/projects', { name: 'takeover', repo_url: repo.dir })).status).toBe(201);
      const set = await on(1)('PUT', '/v1/projects/takeover/secrets/API_TOKEN', { value: VALUE });
      expect(set.status, JSON.stringify(set.body)).toBe(201);
      const submit = async (name: string) => {
        const answer = await on(1)('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'takeover', model_name: name });
        expect(answer.status, JSON.stringify(answer.body)).toBe(202);
        runIds.push(answer.body.run_id);
        return answer.body as { run_id: string };
      };
      const plain = await submit('plain');
      const secret = await submit('secret');
      const halted = await submit('halted');
      for (const [run, line] of [
        [plain, 'plain before'],
        [secret, 'secret before'],
        [halted, 'halted waiting'],
      ] as const) {
        await waitFor(1, run.run_id, ['running']);
        await until(`“${line}” to be printed`, async () => ((await printed(1, run.run_id)).includes(line) ? true : undefined));
      }
      // Each run's service is server 1's (its engine instance's label): server 0 never started them.
      const swarm = await manager();
      for (const run of [plain, secret, halted]) {
        const services = await swarm.listServices({ filters: { label: [`${RUN_ID_LABEL}=${run.run_id}`] } });
        expect(
          services.map((s) => s.Spec?.Labels?.[INSTANCE_LABEL]),
          `run ${run.run_id}'s service`,
        ).toEqual([instanceOf(1)]);
      }

      await group.kill(1);
      // Server 0 takes them once server 1's heartbeat is SANDRUN_SERVER_DEAD_SECONDS old; they print the rest while it holds them.
      for (const run of [plain, secret, halted]) {
        await until(`server 0 to take run ${run.run_id} over`, async () => ((await ownerInstance(run.run_id)) === instanceOf(0) ? true : undefined));
      }
      await go(plain.run_id);
      await go(secret.run_id);

      const plainDone = await waitFor(0, plain.run_id);
      expect(plainDone, JSON.stringify(plainDone)).toMatchObject({
        status: 'success',
        exit_code: 0,
        stdout: 'plain before\nplain after\n',
        stderr: 'plain err\n',
        stdout_truncated: false,
        outputs: { result: { answer: 42 } },
      });
      expect(plainDone.artifacts.map((a: { path: string }) => a.path)).toEqual(['result.json']);
      const secretDone = await waitFor(0, secret.run_id);
      expect(secretDone, JSON.stringify(secretDone)).toMatchObject({
        status: 'success',
        exit_code: 0,
        stdout: 'secret before ***\nsecret after ***\n',
        stderr: 'secret err ***\n',
        outputs: { result: { token: '***', answer: 7 } },
      });
      expect(JSON.stringify(secretDone), 'the secret’s value in its result').not.toContain(VALUE);
      const served = await printed(0, secret.run_id);
      expect(served, 'its log as server 0 serves it').toContain('secret after ***');
      expect(served, 'its log as server 0 serves it').not.toContain(VALUE);

      // A cancel of the third, sent to server 0, which holds it.
      const before = await on(0)('GET', `/v1/runs/${halted.run_id}`);
      expect(before.body.status, 'the halted run, before its cancel').toBe('running');
      const cancel = await on(0)('POST', `/v1/runs/${halted.run_id}/cancel`);
      expect(cancel.status, JSON.stringify(cancel.body)).toBeLessThan(300);
      const cancelled = await waitFor(0, halted.run_id);
      expect(cancelled, JSON.stringify(cancelled)).toMatchObject({ status: 'cancelled', exit_code: 137, stdout: 'halted waiting\n' });

      for (const runId of runIds) {
        await until(`run ${runId}'s service, config, secret and containers to go`, async () => ((await runLeftovers('swarm', runId)).length === 0 ? true : undefined));
      }
      // The dead server loaded its runs' workspace images into every node; with them done, none is left there.
      const dead = instanceOf(1);
      await until('the dead server’s workspace images to go from the nodes', async () => ((await workspaceImagesOf(dead)).length === 0 ? true : undefined), 60_000).catch(async (error: Error) => {
        throw new Error(`${error.message}: ${(await workspaceImagesOf(dead)).join(', ')}`);
      });
    }, 300_000);
  },
  ['swarm'],
);
