// kill -9 of a lone server while runs on an image without a shell run (the direct path): restarted, it adopts them from their containers (SPEC §13).
import Dockerode from 'dockerode';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oomKillsOf } from '../../src/sandbox/container-usage.ts';
import { buildNoShellImage, removeImage } from '../helpers/no-shell-image.ts';
import { TERMINAL_STATUSES, pollRun } from '../helpers/poll-run.ts';
import { until } from '../helpers/until.ts';
import { loneServer } from '../helpers/lone-server.ts';

const docker = new Dockerode();
const FINISHED = [...TERMINAL_STATUSES];

let image: string;

// Registered before the server's hooks: the image is built before its first start and removed after its containers.
beforeAll(() => {
  image = buildNoShellImage('adopt-direct');
}, 120_000);
afterAll(() => {
  if (image) removeImage(image);
});

const lone = loneServer('adopt-direct', () => ({
  'sandrun.yaml': [
    `image: ${image}`,
    'models:',
    '  steady:',
    '    command: ["python3", "models/steady.py"]',
    '  overdue:',
    '    command: ["python3", "models/overdue.py"]',
    '    timeout_seconds: 4',
    '  waiter:',
    '    command: ["python3", "models/waiter.py"]',
    '  hog:',
    '    command: ["python3", "models/hog.py"]',
    '    memory_mb: 64',
    '',
  ].join('\n'),
  // Prints before the kill, while no server runs, and once the next one adopted it; writes its outputs last.
  'models/steady.py': [
    'import json, sys, time',
    'for i in range(1, 4):',
    '    print("steady", i, flush=True)',
    '    time.sleep(6)',
    'print("steady warns", file=sys.stderr, flush=True)',
    'json.dump({"lines": 3}, open("/outputs/result.json", "w"))',
    '',
  ].join('\n'),
  'models/overdue.py': 'import time\nprint("overdue ticking", flush=True)\ntime.sleep(300)\n',
  'models/waiter.py': 'import time\nprint("waiter waiting", flush=True)\ntime.sleep(300)\n',
  // Killed for its memory while no server runs: it allocates only once its server is gone (the marker file the test writes).
  'models/hog.py': [
    'import os, time',
    'print("hog waiting", flush=True)',
    'while not os.path.exists("/inputs/go"): time.sleep(0.2)',
    'print("hog allocating", flush=True)',
    'blocks = [bytearray(1024 * 1024) for _ in range(1024)]',
    '',
  ].join('\n'),
}));
const call = lone.call;

const waitFor = (runId: string, statuses: string[]) => pollRun(() => call('GET', `/v1/runs/${runId}`), runId, { until: statuses, timeoutMs: 120_000 });

/** What the engine still holds of these runs: their containers (the run's and its outputs holder) and outputs volumes. */
async function leftOf(runIds: string[]): Promise<string[]> {
  const label = `sandrun.instance=${lone.instance}`;
  const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
  const volumes = (await docker.listVolumes({ filters: { label: [label] } })).Volumes ?? [];
  return [
    ...containers.filter((c) => runIds.includes(c.Labels['sandrun.run_id'] ?? '')).map((c) => `container ${c.Names[0]}`),
    ...volumes.filter((v) => runIds.includes(v.Labels?.['sandrun.run_id'] ?? '')).map((v) => `volume ${v.Name}`),
  ];
}

/** Whether the run's own container (not its outputs holder) was killed for its memory: its cgroup's count while it is there, the engine's flag after. */
async function oomKilledWhileAlone(runId: string): Promise<boolean> {
  const [found] = await docker.listContainers({ all: true, filters: { name: [`^/sandrun-${runId}$`] } });
  if (!found) return false;
  if ((oomKillsOf(found.Id) ?? 0) > 0) return true;
  return (await docker.getContainer(found.Id).inspect()).State.OOMKilled;
}

describe('a lone server killed with SIGKILL while runs on an image without a shell run, restarted on the same data directory', () => {
  it('adopts them: full logs, outputs and exit code, the timeout from the real start, a cancel, an OOM kill while no server ran, nothing left', async () => {
    // Four runs at once: more than a tenant's default share of the default 4.
    const env = { SANDRUN_IMAGES: `sandrun/python:3.11,${image}`, SANDRUN_LOG_LEVEL: 'warn', SANDRUN_MAX_CONCURRENT_RUNS: '5', SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '4' };
    await lone.start(env);
    expect((await call('POST', '/v1/projects', { name: 'adopt-direct', repo_url: lone.repo.dir })).status).toBe(201);
    const submit = async (name: string) => (await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'adopt-direct', model_name: name })).body;
    const steady = await submit('steady');
    const overdue = await submit('overdue');
    const waiter = await submit('waiter');
    const hog = await submit('hog');
    for (const run of [steady, overdue, waiter, hog]) await waitFor(run.run_id, ['running']);
    const firstLines: [string, string][] = [
      [steady.run_id, 'steady 1'],
      [overdue.run_id, 'overdue ticking'],
      [waiter.run_id, 'waiter waiting'],
      [hog.run_id, 'hog waiting'],
    ];
    await until('every run to print its first line', async () => (await Promise.all(firstLines.map(async ([runId, line]) => (await lone.printed(runId)).includes(line)))).every(Boolean) || undefined);
    const overdueStart = Date.parse((await call('GET', `/v1/runs/${overdue.run_id}`)).body.started_at);

    await lone.kill();
    // Only now does the hog allocate past its limit: the kernel kills it while no server watches.
    writeFileSync(join(lone.dataDir, 'runs', hog.run_id, 'inputs', 'go'), '');
    await until('the hog to be killed for its memory with no server', async () => (await oomKilledWhileAlone(hog.run_id)) || undefined);
    // While no server runs, the overdue run passes its deadline (4 s from its start).
    await until('the overdue run to pass its deadline', () => (Date.now() > overdueStart + 5_000 ? true : undefined));
    expect(await leftOf([steady.run_id]), 'the steady run’s container and holder outlived their server').toHaveLength(3);
    await lone.start(env);

    const done = await waitFor(steady.run_id, FINISHED);
    expect(done, JSON.stringify(done)).toMatchObject({
      status: 'success',
      exit_code: 0,
      stdout: 'steady 1\nsteady 2\nsteady 3\n',
      stderr: 'steady warns\n',
      outputs: { result: { lines: 3 } },
    });
    expect(done.artifacts.map((a: { path: string }) => a.path)).toEqual(['result.json']);

    const timedOut = await waitFor(overdue.run_id, FINISHED);
    expect(timedOut, JSON.stringify(timedOut)).toMatchObject({ status: 'timed_out', stdout: 'overdue ticking\n' });
    expect(timedOut.exit_code, 'the process was stopped by sandrun (SIGKILL)').toBe(137);

    const cancel = await call('POST', `/v1/runs/${waiter.run_id}/cancel`);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    const cancelled = await waitFor(waiter.run_id, FINISHED);
    expect(cancelled, JSON.stringify(cancelled)).toMatchObject({ status: 'cancelled', exit_code: 137, stdout: 'waiter waiting\n' });

    const killed = await waitFor(hog.run_id, FINISHED);
    expect(killed, JSON.stringify(killed)).toMatchObject({ status: 'failed', exit_code: 137, error: { code: 'oom_killed' }, stdout: 'hog waiting\nhog allocating\n' });

    const runs = [steady.run_id, overdue.run_id, waiter.run_id, hog.run_id];
    await until('the adopted runs’ containers, holders and volumes to go', async () => ((await leftOf(runs)).length === 0 ? true : undefined), 30_000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}: left ${JSON.stringify(await leftOf(runs))}`);
    });
    for (const runId of runs) expect(existsSync(join(lone.dataDir, 'runs', runId)), `directory of run ${runId} removed`).toBe(false);
  });
});
