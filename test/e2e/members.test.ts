// Servers of one PostgreSQL database know each other (SPEC §13): a starting server leaves live servers' runs alone, and
// runs of servers killed with SIGKILL are taken over by the live ones: adopted from their containers, or run if pending.
import Dockerode from 'dockerode';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun, TERMINAL_STATUSES } from '../helpers/poll-run.ts';
import { startServerGroup, type ServerGroup } from '../helpers/server-group.ts';
import { until } from '../helpers/until.ts';

const docker = new Dockerode();
/** Low, so that a killed server counts as dead within seconds (the defaults are 5 s and 30 s). */
const MEMBERSHIP = { SANDRUN_HEARTBEAT_SECONDS: '1', SANDRUN_SERVER_DEAD_SECONDS: '4' };
const model = (name: string, script: string) => `  ${name}:\n    command: ["python3", "models/${script}"]\n`;
const FILES: Record<string, string> = {
  'sandrun.yaml': ['image: sandrun/python:3.11', 'limits:', '  timeout_seconds: 120', 'models:', model('hello', 'hello.py'), model('nap', 'nap.py'), model('slow', 'slow.py'), model('long', 'long.py'), ''].join('\n'),
  'models/hello.py': 'import json\nprint("hello", flush=True)\njson.dump({"said": "hello"}, open("/outputs/result.json", "w"))\n',
  'models/nap.py': 'import json, time\nprint("nap start", flush=True)\ntime.sleep(4)\nprint("nap end", flush=True)\njson.dump({"napped": 4}, open("/outputs/result.json", "w"))\n',
  'models/slow.py': 'import json, time\nprint("slow start", flush=True)\ntime.sleep(10)\nprint("slow end", flush=True)\njson.dump({"slept": 10}, open("/outputs/result.json", "w"))\n',
  'models/long.py': 'import time\nprint("long start", flush=True)\ntime.sleep(100)\n',
};
const EXPECTED: Record<string, { stdout: string; outputs: Record<string, unknown> }> = {
  hello: { stdout: 'hello\n', outputs: { result: { said: 'hello' } } },
  nap: { stdout: 'nap start\nnap end\n', outputs: { result: { napped: 4 } } },
  slow: { stdout: 'slow start\nslow end\n', outputs: { result: { slept: 10 } } },
};

let repo: TestRepo;
beforeAll(() => {
  repo = new TestRepo(FILES);
});
afterAll(() => repo.remove());

/** A view of one group: calls to server i, runs submitted and waited for through whichever server is alive. */
function client(group: ServerGroup, token: string) {
  const send = (index: number, method: string, path: string, body: unknown, timeoutMs: number) =>
    fetch(group.url(index) + path, {
      method,
      signal: AbortSignal.timeout(timeoutMs),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const call = async (index: number, method: string, path: string, body?: unknown, timeoutMs = 120_000) => {
    // A GET is idempotent: one whose kept-alive connection was reset (seen once in 60 runs' polls on a loaded machine)
    // is sent again on a new one, as HTTP clients may; a server that is down fails the second time too.
    let response: Response;
    try {
      response = await send(index, method, path, body, timeoutMs);
    } catch (error) {
      if (method !== 'GET' || (error as { cause?: { code?: string } }).cause?.code !== 'ECONNRESET') throw error;
      response = await send(index, method, path, body, timeoutMs);
    }
    return { status: response.status, body: (await response.json()) as any, headers: response.headers };
  };
  const live = () => group.servers.findIndex((server) => server !== undefined);
  return {
    call,
    async submit(index: number, modelName: string): Promise<{ run_id: string; run_number: number }> {
      const answer = await call(index, 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'members', model_name: modelName });
      expect(answer.status, JSON.stringify(answer.body)).toBe(202);
      return answer.body;
    },
    waitFor: (runId: string, until: readonly string[] = TERMINAL_STATUSES, timeoutMs = 180_000) =>
      pollRun(() => call(live(), 'GET', `/v1/runs/${runId}`), runId, { until, timeoutMs, intervalMs: 250 }),
  };
}

/** The engine instance (container label) of server i: its data directory's identity. */
const instanceOf = (group: ServerGroup, index: number) => readFileSync(join(group.settings(index).SANDRUN_DATA_DIR!, 'instance-id'), 'utf8').trim();

async function containersOf(instances: readonly string[]): Promise<string[]> {
  const lists = await Promise.all(instances.map((instance) => docker.listContainers({ all: true, filters: { label: [`sandrun.instance=${instance}`] } })));
  return lists.flat().map((container) => `${container.Names[0]} (${container.Labels['sandrun.instance']}, ${container.State})`);
}

/** Removes whatever a failed test left of the group's containers, then the group. */
async function closeGroup(group: ServerGroup | undefined, count: number): Promise<void> {
  if (!group) return;
  const instances = Array.from({ length: count }, (_, index) => index).flatMap((index) => {
    try {
      return [instanceOf(group, index)];
    } catch {
      return [];
    }
  });
  await group.close();
  const left = await Promise.all(instances.map((instance) => docker.listContainers({ all: true, filters: { label: [`sandrun.instance=${instance}`] } })));
  await Promise.all(left.flat().map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

describe('three servers on one PostgreSQL database', () => {
  let group: ServerGroup | undefined;
  afterAll(() => closeGroup(group, 3), 120_000);

  it("a server that starts again leaves a live server's running and queued runs to it; a cancel of a killed server's run is answered by a live one", async () => {
    // One run at a time per server: the second run waits in server A's queue while the first runs.
    group = await startServerGroup(3, { ...MEMBERSHIP, SANDRUN_MAX_CONCURRENT_RUNS: '1', SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '1' });
    const api = client(group, await group.token('members'));
    expect((await api.call(0, 'POST', '/v1/projects', { name: 'members', repo_url: repo.dir })).status).toBe(201);
    const running = await api.submit(0, 'slow');
    const queued = await api.submit(0, 'hello');
    await api.waitFor(running.run_id, ['running']);
    expect((await api.call(0, 'GET', `/v1/runs/${queued.run_id}`)).body.status, 'the second run of server A, behind its one slot').toBe('pending');

    // Server C is killed and started again (a restart), while A's runs are under way.
    await group.kill(2);
    await group.start(2);
    const meanwhile = (await api.call(0, 'GET', `/v1/runs/${queued.run_id}`)).body.status;

    const napped = await api.waitFor(running.run_id);
    expect(napped, JSON.stringify(napped)).toMatchObject({ status: 'success', ...EXPECTED.slow, run_number: 1 });
    expect(meanwhile, 'the queued run once C was up again (a slow machine may have ended the first run by then)').toMatch(/pending|running|success/);
    const hello = await api.waitFor(queued.run_id);
    expect(hello, JSON.stringify(hello)).toMatchObject({ status: 'success', ...EXPECTED.hello, run_number: 2 });
    expect(Date.parse(hello.started_at), `the queued run started at ${hello.started_at}, the first ended at ${napped.finished_at}: still A's, in A's one slot`).toBeGreaterThanOrEqual(
      Date.parse(napped.finished_at),
    );
    expect(group.servers[2]!.output(), 'what the restarted server C took over').not.toMatch(/adopting a run|took over/);

    // A run on server B; B is killed; a cancel sent to A is answered (cancelled) once A takes the run over.
    const doomed = await api.submit(1, 'long');
    await api.waitFor(doomed.run_id, ['running']);
    await group.kill(1);
    const cancelled = await api.call(0, 'POST', `/v1/runs/${doomed.run_id}/cancel`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', run_number: 3 });
    expect(cancelled.body.stdout).toContain('long start');
    await until('the cancelled run’s container to go', async () => ((await containersOf([instanceOf(group!, 1)])).length === 0 ? true : undefined), 60_000);
  }, 300_000);
});

describe('a 60-run batch over three servers, one killed and restarted later, one killed for good', () => {
  let group: ServerGroup | undefined;
  afterAll(() => closeGroup(group, 3), 120_000);

  it('every accepted run ends success with its full output, numbered 1..60, and no container is left', async () => {
    group = await startServerGroup(3, { ...MEMBERSHIP, SANDRUN_MAX_CONCURRENT_RUNS: '6', SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '6', SANDRUN_TENANT_MAX_QUEUED_RUNS: '100' });
    const api = client(group, await group.token('members'));
    expect((await api.call(0, 'POST', '/v1/projects', { name: 'members', repo_url: repo.dir })).status).toBe(201);
    const instances = [0, 1, 2].map((index) => instanceOf(group!, index));
    const submitted: { run_id: string; run_number: number; model: string; server: number }[] = [];
    const submitTo = async (servers: number[], count: number) => {
      for (let i = 0; i < count; i += 1) {
        // Pairs of naps and hellos: every server gets naps in every batch (a round robin over 3 or 2 servers), so some
        // of its runs are still running when it is killed; hellos alone may all have ended before anyone looks.
        const modelName = Math.floor(submitted.length / 2) % 2 === 0 ? 'nap' : 'hello';
        const server = servers[i % servers.length]!;
        submitted.push({ ...(await api.submit(server, modelName)), model: modelName, server });
      }
    };
    /** Runs server i accepted that are running now (asked of server A, which is never killed). */
    const runningOn = async (index: number) => {
      const listed = await api.call(0, 'GET', '/v1/runs?status=running&limit=100');
      const running = new Set((listed.body.runs as { run_id: string }[]).map((run) => run.run_id));
      const found = submitted.filter((run) => run.server === index && running.has(run.run_id)).map((run) => run.run_id);
      return found.length > 0 ? found : undefined;
    };

    await submitTo([0, 1, 2], 24);
    const runningOnB = await until('runs of server B to be running', () => runningOn(1));
    await group.kill(1);
    const killedB = Date.now();
    await submitTo([0, 2], 18);
    const runningOnC = await until('runs of server C to be running', () => runningOn(2));
    await group.kill(2);
    const killedC = Date.now();
    await submitTo([0], 18);
    await group.start(1);

    const ended = await Promise.all(submitted.map((run) => api.waitFor(run.run_id, TERMINAL_STATUSES, 240_000)));
    const wrong = ended.filter((run, i) => run.status !== 'success' || run.stdout !== EXPECTED[submitted[i]!.model]!.stdout);
    expect(
      wrong.map((run) => ({ n: run.run_number, status: run.status, error: run.error, stdout: run.stdout })),
      'runs that did not end success with their full output',
    ).toEqual([]);
    ended.forEach((run, i) => expect(run.outputs, `outputs of run ${run.run_number}`).toEqual(EXPECTED[submitted[i]!.model]!.outputs));
    expect(ended.map((run) => run.run_number).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    // Those running when their server was killed were adopted, not run again: their start is the one before the kill.
    const startedAfter = (ids: string[], killedAt: number) =>
      ended.filter((run) => ids.includes(run.run_id) && !(Date.parse(run.started_at) < killedAt)).map((run) => `${run.run_number}: ${run.started_at}`);
    expect(startedAfter(runningOnB, killedB), `runs running on B at its kill (${new Date(killedB).toISOString()}) started again`).toEqual([]);
    expect(startedAfter(runningOnC, killedC), `runs running on C at its kill (${new Date(killedC).toISOString()}) started again`).toEqual([]);

    // The server killed for good left its parked containers: the live servers sweep them once it counts as dead.
    await until('no container of the server killed for good', async () => ((await containersOf([instances[2]!])).length === 0 ? true : undefined), 60_000);
    const live = group;
    group = undefined;
    await live.close();
    expect(await containersOf(instances), 'containers left by the group').toEqual([]);
  }, 600_000);
});

describe('a lone server on PostgreSQL killed with SIGKILL and started again', () => {
  let group: ServerGroup | undefined;
  afterAll(() => closeGroup(group, 1), 120_000);

  it('adopts its running run (on a warm container) and runs its queued one, with full output', async () => {
    group = await startServerGroup(1, { ...MEMBERSHIP, SANDRUN_MAX_CONCURRENT_RUNS: '1', SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '1' });
    const api = client(group, await group.token('members'));
    expect((await api.call(0, 'POST', '/v1/projects', { name: 'members', repo_url: repo.dir })).status).toBe(201);
    // A first run leaves a container parked for the next one of its kind: the run killed below starts on it.
    const first = await api.call(0, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'members', model_name: 'hello' });
    expect(first.body).toMatchObject({ status: 'success', run_number: 1 });
    const instance = instanceOf(group, 0);
    await until('a parked container', async () => {
      const parked = await docker.listContainers({ filters: { label: [`sandrun.instance=${instance}`], name: ['pool-'] } });
      return parked.length > 0 ? true : undefined;
    });
    const running = await api.submit(0, 'slow');
    const queued = await api.submit(0, 'hello');
    await api.waitFor(running.run_id, ['running']);
    await group.kill(0);
    await group.start(0);
    const napped = await api.waitFor(running.run_id);
    expect(napped, JSON.stringify(napped)).toMatchObject({ status: 'success', ...EXPECTED.slow, run_number: 2 });
    const hello = await api.waitFor(queued.run_id);
    expect(hello, JSON.stringify(hello)).toMatchObject({ status: 'success', ...EXPECTED.hello, run_number: 3 });
    expect(group.servers[0]!.output(), 'the restarted server').toContain('adopting a run whose server stopped while it ran');
  }, 300_000);
});

describe('a server stopped cleanly (SIGTERM)', () => {
  let group: ServerGroup | undefined;
  afterAll(() => closeGroup(group, 2), 120_000);

  it('finishes its running run, and its queued run is taken by another server at once, not after the dead period', async () => {
    // A dead period far longer than the takeover should take: only the stop's own mark can explain a prompt one.
    group = await startServerGroup(2, { SANDRUN_HEARTBEAT_SECONDS: '1', SANDRUN_SERVER_DEAD_SECONDS: '90', SANDRUN_MAX_CONCURRENT_RUNS: '1', SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '1' });
    const api = client(group, await group.token('members'));
    expect((await api.call(0, 'POST', '/v1/projects', { name: 'members', repo_url: repo.dir })).status).toBe(201);
    const running = await api.submit(1, 'slow');
    const queued = await api.submit(1, 'hello');
    await api.waitFor(running.run_id, ['running']);
    await group.stop(1);
    const stoppedAt = Date.now();
    const slow = await api.waitFor(running.run_id);
    expect(slow, JSON.stringify(slow)).toMatchObject({ status: 'success', ...EXPECTED.slow, run_number: 1 });
    const hello = await api.waitFor(queued.run_id, TERMINAL_STATUSES, 80_000);
    expect(hello, JSON.stringify(hello)).toMatchObject({ status: 'success', ...EXPECTED.hello, run_number: 2 });
    expect(Date.parse(hello.started_at) - stoppedAt, 'ms from the stop to the queued run’s start on the other server').toBeLessThan(60_000);
  }, 300_000);
});
