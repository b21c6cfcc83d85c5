// kill -9 of a lone server while runs run: restarted on the same data directory, it adopts them and finishes each from its container (SPEC §13).
import Dockerode from 'dockerode';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { oomKillsOf } from '../../src/sandbox/container-usage.ts';
import { TERMINAL_STATUSES, pollRun } from '../helpers/poll-run.ts';
import { until } from '../helpers/until.ts';
import { loneServer } from '../helpers/lone-server.ts';

const docker = new Dockerode();
const FINISHED = [...TERMINAL_STATUSES];
const model = (name: string, script: string, limits = '') => `  ${name}:\n    command: ["python3", "models/${script}"]\n${limits}`;
const FILES: Record<string, string> = {
  'sandrun.yaml': [
    'image: sandrun/python:3.11',
    'limits:',
    '  timeout_seconds: 120',
    'models:',
    model('survivor', 'survivor.py'),
    model('finisher', 'finisher.py'),
    model('overdue', 'overdue.py', '    timeout_seconds: 4\n'),
    model('doomed', 'doomed.py'),
    model('hog', 'hog.py', '    memory_mb: 64\n'),
    model('quick', 'quick.py'),
    '',
  ].join('\n'),
  // Printed before the kill, and after it (while no server was there, or once the next one adopted it).
  'models/survivor.py':
    'import json, time\nprint("survivor before", flush=True)\ntime.sleep(20)\nprint("survivor after", flush=True)\njson.dump({"answer": 42}, open("/outputs/result.json", "w"))\nopen("/outputs/notes.txt", "w").write("kept")\n',
  // Ends while no server runs: exit 3, both streams, outputs. Its last lines (20 kB, no LF) and its outputs' tar (40 kB)
  // are longer than the 16 KiB after which the engine's log loses the LF that ends a line: the launcher's trailer and
  // the frame's end follow them.
  'models/finisher.py':
    'import json, sys, time\nprint("finisher early", flush=True)\ntime.sleep(8)\nprint("finisher late", file=sys.stderr, flush=True)\njson.dump({"ok": True, "pad": "x" * 40000}, open("/outputs/done.json", "w"))\nprint("finisher-done", flush=True)\nsys.stdout.write("y" * 20000)\nsys.stderr.write("z" * 20000)\nsys.exit(3)\n',
  'models/overdue.py': 'import time\nprint("overdue ticking", flush=True)\ntime.sleep(300)\n',
  'models/doomed.py': 'import time\nprint("doomed waiting", flush=True)\ntime.sleep(300)\n',
  // Killed for its memory while no server runs: only the cgroup remembers (the engine's flag is its first process's).
  // It allocates only once its server is gone (the marker file the test writes).
  'models/hog.py':
    'import os, time\nprint("hog waiting", flush=True)\nwhile not os.path.exists("/inputs/go"): time.sleep(0.2)\nprint("hog allocating", flush=True)\nblocks = [bytearray(1024 * 1024) for _ in range(1024)]\n',
  'models/quick.py': 'print("quick")\n',
};

const lone = loneServer('adopt', () => FILES);
const call = lone.call;

const waitFor = (runId: string, statuses: string[]) => pollRun(() => call('GET', `/v1/runs/${runId}`), runId, { until: statuses, timeoutMs: 120_000 });

/** The server's containers (of its instance), by what their kept log says so far. */
async function containersOf(instance: string | undefined): Promise<{ id: string; log: string }[]> {
  const listed = await docker.listContainers({ all: true, filters: { label: [`sandrun.instance=${instance}`] } });
  // One removed meanwhile (a run the live server finished) has no log to read.
  const logOf = (id: string) => docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false }).then((log) => log.toString('latin1'), () => '');
  return Promise.all(listed.map(async (c) => ({ id: c.Id, log: await logOf(c.Id) })));
}

/** The whole SSE stream of a run's live logs (follow), until its end event. */
async function followLogs(runId: string): Promise<string> {
  const response = await fetch(`${lone.url}/v1/runs/${runId}/logs?follow=1`, { headers: { authorization: `Bearer ${lone.token}` } });
  return response.text();
}

describe('a lone server killed with SIGKILL while runs run, restarted on the same data directory', () => {
  it('adopts every run: full logs and outputs, the timeout from the real start, a removed container ends error, numbering unchanged, nothing left', async () => {
    const env = { SANDRUN_MAX_CONCURRENT_RUNS: '6', SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '5', SANDRUN_LOG_LEVEL: 'warn' };
    await lone.start(env);
    expect((await call('POST', '/v1/projects', { name: 'adopt', repo_url: lone.repo.dir })).status).toBe(201);
    const submit = async (name: string) => (await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'adopt', model_name: name })).body;
    const survivor = await submit('survivor');
    const finisher = await submit('finisher');
    const overdue = await submit('overdue');
    const doomed = await submit('doomed');
    const hog = await submit('hog');
    expect([survivor, finisher, overdue, doomed, hog].map((run) => run.run_number)).toEqual([1, 2, 3, 4, 5]);
    for (const run of [survivor, finisher, overdue, doomed, hog]) await waitFor(run.run_id, ['running']);
    // Each has printed its first line before the kill (what the server has streamed so far, without follow).
    await until('every run to print its first line', async () => {
      const logs = (await Promise.all([survivor, finisher, overdue, doomed, hog].map((run) => lone.printed(run.run_id)))).join('');
      return ['survivor before', 'finisher early', 'overdue ticking', 'doomed waiting', 'hog waiting'].every((text) => logs.includes(text)) || undefined;
    });
    const overdueStart = Date.parse((await call('GET', `/v1/runs/${overdue.run_id}`)).body.started_at);

    await lone.kill();
    // While no server runs: the finisher ends, the overdue run passes its deadline, an operator removes the doomed run's container.
    await until('the finisher to end with no server', async () => ((await containersOf(lone.instance)).some((c) => c.log.includes('finisher-done')) ? true : undefined));
    // Only now does the hog allocate past its limit. A parked container may have served it, under another name: each
    // container of the instance gets the marker, only the hog reads it.
    const listed = await docker.listContainers({ all: true, filters: { label: [`sandrun.instance=${lone.instance}`] } });
    for (const c of listed) {
      const inputs = c.Mounts.find((m) => m.Destination === '/inputs')?.Source;
      if (inputs) writeFileSync(join(inputs, 'go'), '');
    }
    await until('the hog to be killed for its memory with no server', async () => {
      const container = (await containersOf(lone.instance)).find((c) => c.log.includes('hog waiting'));
      return container && (oomKillsOf(container.id) ?? 0) > 0 ? true : undefined;
    });
    await until('the overdue run to pass its deadline', () => (Date.now() > overdueStart + 5_000 ? true : undefined));
    const doomedContainer = (await containersOf(lone.instance)).find((c) => c.log.includes('doomed waiting'));
    expect(doomedContainer, 'the doomed run’s container outlived its server').toBeDefined();
    await docker.getContainer(doomedContainer!.id).remove({ force: true });

    await lone.start(env);
    const live = followLogs(survivor.run_id);

    const survived = await waitFor(survivor.run_id, FINISHED);
    expect(survived, JSON.stringify(survived)).toMatchObject({ status: 'success', exit_code: 0, stdout: 'survivor before\nsurvivor after\n', outputs: { result: { answer: 42 } }, run_number: 1 });
    expect(survived.artifacts.map((a: { path: string }) => a.path)).toEqual(['notes.txt', 'result.json']);
    expect(await live, 'live logs after the restart carry the rest of the run').toContain('survivor after');

    const finished = await waitFor(finisher.run_id, FINISHED);
    expect(finished, JSON.stringify(finished)).toMatchObject({
      status: 'failed',
      exit_code: 3,
      stdout: `finisher early\nfinisher-done\n${'y'.repeat(20_000)}`,
      stderr: `finisher late\n${'z'.repeat(20_000)}`,
      outputs: { done: { ok: true, pad: 'x'.repeat(40_000) } },
      run_number: 2,
    });

    const timedOut = await waitFor(overdue.run_id, FINISHED);
    expect(timedOut, JSON.stringify(timedOut)).toMatchObject({ status: 'timed_out', exit_code: 137, stdout: 'overdue ticking\n', run_number: 3 });

    const lost = await waitFor(doomed.run_id, FINISHED);
    expect(lost, JSON.stringify(lost)).toMatchObject({ status: 'error', exit_code: null, error: { code: 'server_restarted' }, run_number: 4 });
    expect(lost.error.message).toContain('is gone');

    const killed = await waitFor(hog.run_id, FINISHED);
    expect(killed, JSON.stringify(killed)).toMatchObject({ status: 'failed', exit_code: 137, error: { code: 'oom_killed' }, stdout: 'hog waiting\nhog allocating\n', run_number: 5 });

    const next = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'adopt', model_name: 'quick' });
    expect(next.body).toMatchObject({ status: 'success', run_number: 6 });
    await until('the adopted runs’ containers to go', async () => {
      const left = await docker.listContainers({ all: true, filters: { label: [`sandrun.instance=${lone.instance}`] } });
      // Containers parked ahead for the next run are the pool's; no container of a run is left.
      return left.every((c) => c.Labels['sandrun.run_id']?.startsWith('pool-') && c.State === 'running') ? true : undefined;
    });
  });
});
