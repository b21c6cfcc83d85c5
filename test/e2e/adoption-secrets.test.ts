// kill -9 of a lone server while runs of a project with a secret run: restarted, it adopts the run from what its container kept in memory, the value on no disk of the engine (SPEC §10, §13).
import Dockerode from 'dockerode';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { oomKillsOf } from '../../src/sandbox/container-usage.ts';
import { TERMINAL_STATUSES, pollRun } from '../helpers/poll-run.ts';
import { until } from '../helpers/until.ts';
import { loneServer } from '../helpers/lone-server.ts';

const docker = new Dockerode();
const VALUE = 'sk-adopt-Zq81mWc4Lr6Tn0Vb';
const FINISHED = [...TERMINAL_STATUSES];
const FILES: Record<string, string> = {
  'sandrun.yaml': [
    'image: sandrun/python:3.11',
    'limits:',
    '  timeout_seconds: 120',
    'models:',
    '  teller:',
    '    command: ["python3", "models/teller.py"]',
    '  chatty:',
    '    command: ["python3", "models/chatty.py"]',
    '  ticker:',
    '    command: ["python3", "models/ticker.py"]',
    '  overdue:',
    '    command: ["python3", "models/overdue.py"]',
    '    timeout_seconds: 4',
    '  hog:',
    '    command: ["python3", "models/hog.py"]',
    '    memory_mb: 64',
    '',
  ].join('\n'),
  // Prints a line with the value every half second for 50 s: some before the kill, most after the restart.
  'models/ticker.py': 'import time\nv = open("/run/secrets/API_TOKEN").read()\nfor i in range(100):\n    print("tick", i, v, flush=True)\n    time.sleep(0.5)\n',
  'models/overdue.py': 'import time\nprint("overdue", open("/run/secrets/API_TOKEN").read(), flush=True)\ntime.sleep(300)\n',
  // Killed for its memory while no server runs: it allocates only once its server is gone (the marker file the test writes).
  'models/hog.py': [
    'import os, time',
    'print("hog waiting", open("/run/secrets/API_TOKEN").read(), flush=True)',
    'while not os.path.exists("/inputs/go"): time.sleep(0.2)',
    'print("hog allocating", flush=True)',
    'blocks = [bytearray(1024 * 1024) for _ in range(1024)]',
    '',
  ].join('\n'),
  // Prints far more than the log cap (64 KiB here), the value at the start and the end.
  'models/chatty.py': [
    'import sys, time',
    'v = open("/run/secrets/API_TOKEN").read()',
    'print("chatty", v, flush=True)',
    'for i in range(20000): print("chat", i, v)',
    'sys.stdout.flush()',
    'time.sleep(8)',
    'print("chatty done", v, flush=True)',
    '',
  ].join('\n'),
  // Prints the value on both streams before the kill, goes on while no server runs (or once the next one adopted it), writes an output.
  'models/teller.py': [
    'import json, sys, time',
    'v = open("/run/secrets/API_TOKEN").read()',
    'print("teller before", v, flush=True)',
    'print("teller err", v, file=sys.stderr, flush=True)',
    'time.sleep(8)',
    'for i in range(3): print("line", i, flush=True)',
    'print("teller after", v, flush=True)',
    'json.dump({"token": v, "answer": 42}, open("/outputs/result.json", "w"))',
    '',
  ].join('\n'),
};

const lone = loneServer('adopt-secrets', () => FILES);
const call = lone.call;

/** The instance's containers whose secrets directory is mounted (the run's; a parked one for the next run of the kind may be there too). */
async function containersWithSecrets(): Promise<Dockerode.ContainerInfo[]> {
  const listed = await docker.listContainers({ all: true, filters: { label: [`sandrun.instance=${lone.instance}`] } });
  return listed.filter((c) => c.Mounts.some((m) => m.Destination === '/run/secrets'));
}

/** How many tick lines a log has. */
const ticks = (log: string) => log.split('\n').filter((line) => line.startsWith('tick ')).length;

describe('a lone server killed with SIGKILL while a run with a secret runs, restarted on the same data directory', () => {
  it('adopts it from its container’s memory: its log goes on live, full logs with the value as ***, outputs, exit code; the engine’s disk never held the value; one past its deadline times out, one past the log cap keeps its head, one killed for its memory ends oom_killed; nothing is left', async () => {
    // Five runs at once: more than a tenant's default share of the default 4.
    const env = { SANDRUN_LOG_LEVEL: 'warn', SANDRUN_LOG_CAP_BYTES: String(64 * 1024), SANDRUN_MAX_CONCURRENT_RUNS: '6', SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '5' };
    await lone.start(env);
    expect((await call('POST', '/v1/projects', { name: 'vault', repo_url: lone.repo.dir })).status).toBe(201);
    const set = await call('PUT', '/v1/projects/vault/secrets/API_TOKEN', { value: VALUE });
    expect(set.status, JSON.stringify(set.body)).toBe(201);
    const submit = async (name: string) => (await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'vault', model_name: name })).body;
    const run = await submit('teller');
    const chatty = await submit('chatty');
    const overdue = await submit('overdue');
    const ticker = await submit('ticker');
    const hog = await submit('hog');
    for (const [started, line] of [
      [run, 'teller before'],
      [ticker, 'tick 1 ***'],
      [chatty, 'chat 19999'],
      [overdue, 'overdue'],
      [hog, 'hog waiting'],
    ] as const) {
      await pollRun(() => call('GET', `/v1/runs/${started.run_id}`), started.run_id, { until: ['running'], timeoutMs: 60_000 });
      await until(`${line} to be printed`, async () => ((await lone.printed(started.run_id)).includes(line) ? true : undefined));
    }

    const overdueStart = Date.parse((await call('GET', `/v1/runs/${overdue.run_id}`)).body.started_at);
    const ticksBeforeRestart = ticks(await lone.printed(ticker.run_id));
    await lone.kill();
    // While no server runs: the engine's directory of every container that holds the value has no copy of it (no log, no config).
    const holders = await containersWithSecrets();
    expect(holders.length, 'the run’s container outlived its server').toBeGreaterThan(0);
    for (const holder of holders) {
      const dir = `/var/lib/docker/containers/${holder.Id}`;
      expect(existsSync(dir), `${dir} exists`).toBe(true);
      const grep = spawnSync('grep', ['-rlaF', '--', VALUE, dir], { encoding: 'utf8' });
      expect(grep.status, `grep found the value in ${grep.stdout}${grep.stderr}`).toBe(1);
    }

    // Only now does the hog allocate past its limit: the kernel kills it while no server watches. Its container is one
    // with secrets (a parked one may have served it, under another name): each gets the marker, only the hog reads it.
    for (const holder of holders) {
      const inputs = holder.Mounts.find((m) => m.Destination === '/inputs')?.Source;
      if (inputs) writeFileSync(join(inputs, 'go'), '');
    }
    await until('the hog to be killed for its memory with no server', () => (holders.some((holder) => (oomKillsOf(holder.Id) ?? 0) > 0) ? true : undefined));

    // The overdue run passes its deadline while no server runs.
    await until('the overdue run to pass its deadline', () => (Date.now() > overdueStart + 5_000 ? true : undefined));

    await lone.start(env);
    // The adopted run's log goes on while it runs, redacted as a watched run's.
    const live = await until('ticks printed after the restart while the ticker runs', async () => {
      const printed = await lone.printed(ticker.run_id);
      return ticks(printed) >= ticksBeforeRestart + 4 ? printed : undefined;
    });
    expect((await call('GET', `/v1/runs/${ticker.run_id}`)).body.status, 'the ticker is still running').toBe('running');
    expect(live).not.toContain(VALUE);
    expect(live).toContain(`tick ${ticksBeforeRestart + 3} ***\n`);
    const ticked = await pollRun(() => call('GET', `/v1/runs/${ticker.run_id}`), ticker.run_id, { until: FINISHED, timeoutMs: 120_000 });
    expect(ticked, JSON.stringify(ticked)).toMatchObject({
      status: 'success',
      stdout: Array.from({ length: 100 }, (_, i) => `tick ${i} ***\n`).join(''),
    });

    const done = await pollRun(() => call('GET', `/v1/runs/${run.run_id}`), run.run_id, { until: FINISHED, timeoutMs: 120_000 });
    expect(done, JSON.stringify(done)).toMatchObject({
      status: 'success',
      exit_code: 0,
      stdout: 'teller before ***\nline 0\nline 1\nline 2\nteller after ***\n',
      stderr: 'teller err ***\n',
      outputs: { result: { token: '***', answer: 42 } },
    });
    expect(JSON.stringify(done)).not.toContain(VALUE);

    // Its copy kept the head, up to the cap; cut before anything that could be the start of the value.
    const chatted = await pollRun(() => call('GET', `/v1/runs/${chatty.run_id}`), chatty.run_id, { until: FINISHED, timeoutMs: 120_000 });
    expect(chatted, JSON.stringify({ ...chatted, stdout: chatted.stdout?.slice(0, 200) })).toMatchObject({ status: 'success', exit_code: 0, stdout_truncated: true });
    expect(chatted.stdout.startsWith('chatty ***\nchat 0 ***\n'), chatted.stdout.slice(0, 100)).toBe(true);
    // 64 KiB of lines of ~37 bytes before redaction.
    expect(chatted.stdout.split('\n').length, 'lines of stdout kept').toBeGreaterThan(1500);
    // The cap falls 3 bytes into a value ("sk-"): no start of it is left at the end.
    const prefixes = Array.from({ length: VALUE.length - 1 }, (_, i) => VALUE.slice(0, i + 1));
    expect(prefixes.filter((prefix) => chatted.stdout.endsWith(prefix)), chatted.stdout.slice(-40)).toEqual([]);

    const timedOut = await pollRun(() => call('GET', `/v1/runs/${overdue.run_id}`), overdue.run_id, { until: FINISHED, timeoutMs: 120_000 });
    expect(timedOut, JSON.stringify(timedOut)).toMatchObject({ status: 'timed_out', exit_code: 137, stdout: 'overdue ***\n' });

    const killed = await pollRun(() => call('GET', `/v1/runs/${hog.run_id}`), hog.run_id, { until: FINISHED, timeoutMs: 120_000 });
    expect(killed, JSON.stringify(killed)).toMatchObject({ status: 'failed', exit_code: 137, error: { code: 'oom_killed' }, stdout: 'hog waiting ***\nhog allocating\n' });

    // Nothing of the run is left: its container (a parked one for the next run may be), and its secrets directory.
    await until('the adopted run’s container and secrets directory to go', async () => {
      const left = await containersWithSecrets();
      const parked = left.every((c) => c.Labels['sandrun.run_id']?.startsWith('pool-') && c.State === 'running');
      const secretsRoot = join('/dev/shm/sandrun-secrets', lone.instance!);
      const dirs = existsSync(secretsRoot) ? readdirSync(secretsRoot) : [];
      const strays = dirs.filter((dir) => !left.some((c) => c.Names.includes(`/sandrun-${dir}`)));
      return parked && strays.length === 0 ? true : undefined;
      // Within the restarted server's first sweep, not its next one a minute later (the killed server's parked container had a directory too).
    }, 30_000);
  });
});
