// kill -9 of a lone server on the swarm backend while runs run: restarted on the same data directory, it adopts them and finishes each from its task's kept log (SPEC §13).
import Dockerode from 'dockerode';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { backendServerEnv, eachBackend, runLeftovers, swarmCluster } from '../helpers/backends.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { freePort, killHard, startServerProcess, stopGracefully, type ServerProcess, tokenForServer } from '../helpers/server-process.ts';
import { until } from '../helpers/until.ts';
import { runLogEvents } from '../helpers/run-log-events.ts';

const FINISHED = ['success', 'failed', 'timed_out', 'cancelled', 'error'];
const VALUE = 'sk-swarm-adopt-Hq27xVe9Kd3Pw5Lm';
const model = (name: string, script: string, limits = '') => `  ${name}:\n    command: ["python3", "models/${script}"]\n${limits}`;
const FILES: Record<string, string> = {
  'sandrun.yaml': ['image: sandrun/python:3.11', 'limits:', '  timeout_seconds: 120', 'models:', model('survivor', 'survivor.py'), model('finisher', 'finisher.py'), model('doomed', 'doomed.py'), model('chatty', 'chatty.py'),
    model('overdue', 'overdue.py', '    timeout_seconds: 4\n'),
    model('halted', 'halted.py'),
    model('teller', 'teller.py'),
    model('sealed', 'sealed.py', '    timeout_seconds: 4\n'),
    '',
  ].join('\n'),
  // Printed before the kill, and after it (while no server was there, or once the next one adopted it).
  'models/survivor.py':
    'import json, time\nprint("survivor before", flush=True)\ntime.sleep(25)\nprint("survivor after", flush=True)\njson.dump({"answer": 42}, open("/outputs/result.json", "w"))\nopen("/outputs/notes.txt", "w").write("kept")\n',
  // Its command ends while no server runs: both streams, outputs. Its last line (20 kB, no LF) is longer than the 16 KiB
  // after which the node engine's log loses the LF that ends a line: the wrapper's begin line runs into it there.
  'models/finisher.py':
    'import json, sys, time\nprint("finisher early", flush=True)\ntime.sleep(10)\nprint("finisher late", file=sys.stderr, flush=True)\njson.dump({"ok": True}, open("/outputs/done.json", "w"))\nprint("finisher-done", flush=True)\nsys.stdout.write("y" * 20000)\n',
  'models/doomed.py': 'import time\nprint("doomed waiting", flush=True)\ntime.sleep(300)\n',
  'models/overdue.py': 'import time\nprint("overdue ticking", flush=True)\ntime.sleep(300)\n',
  // Cancelled once adopted.
  'models/halted.py': 'import time\nprint("halted waiting", flush=True)\ntime.sleep(300)\n',
  // A run with a secret: the value on both streams before the kill, more after it (while no server runs, or once adopted), an output.
  'models/teller.py': [
    'import json, sys, time',
    'v = open("/run/secrets/API_TOKEN").read()',
    'print("teller before", v, flush=True)',
    'print("teller err", v, file=sys.stderr, flush=True)',
    'time.sleep(8)',
    'print("teller after", v, flush=True)',
    'json.dump({"token": v, "answer": 42}, open("/outputs/result.json", "w"))',
    '',
  ].join('\n'),
  // A run with a secret that passes its deadline while no server runs.
  'models/sealed.py': 'import time\nprint("sealed", open("/run/secrets/API_TOKEN").read(), flush=True)\ntime.sleep(300)\n',
  // Prints far more than its task's log keeps (the caps below), mostly while no server runs: adopted, its tail.
  'models/chatty.py':
    'import json, sys, time\nprint("chatty before", flush=True)\ntime.sleep(12)\nfor i in range(120000): sys.stdout.write(f"{i:06d} " + "y" * 92 + "\\n")\nprint("chatty-end", flush=True)\njson.dump({"lines": 120000}, open("/outputs/chatty.json", "w"))\n',
};

let dataDir: string;
let repo: TestRepo;
let token: string;
let server: ServerProcess | undefined;
const runIds: string[] = [];

async function manager(): Promise<Dockerode> {
  const cluster = await swarmCluster();
  if ('unavailable' in cluster) throw new Error(cluster.unavailable);
  return new Dockerode({ socketPath: cluster.sockets[0]! });
}

/** What a run's task kept on its node so far (its container's log, or its last `tail` lines), across the cluster's nodes. */
async function taskLog(runId: string, tail?: number): Promise<string> {
  const cluster = await swarmCluster();
  if ('unavailable' in cluster) throw new Error(cluster.unavailable);
  const logs = await Promise.all(
    cluster.sockets.map(async (socketPath) => {
      const engine = new Dockerode({ socketPath });
      const containers = await engine.listContainers({ all: true, filters: { label: [`sandrun.run_id=${runId}`] } });
      return Promise.all(containers.map((c) => engine.getContainer(c.Id).logs({ stdout: true, stderr: true, follow: false, ...(tail ? { tail } : {}) }).then((log) => log.toString('latin1'), () => '')));
    }),
  );
  return logs.flat().join('');
}

/** The directories on the nodes' disks (each node's data root) of the containers of a run's task. */
async function taskContainerDirs(runId: string): Promise<string[]> {
  const cluster = await swarmCluster();
  if ('unavailable' in cluster) throw new Error(cluster.unavailable);
  const dirs = await Promise.all(
    cluster.sockets.map(async (socketPath) => {
      const engine = new Dockerode({ socketPath });
      const root = ((await engine.info()) as { DockerRootDir: string }).DockerRootDir;
      const containers = await engine.listContainers({ all: true, filters: { label: [`sandrun.run_id=${runId}`] } });
      return containers.map((c) => join(root, 'containers', c.Id));
    }),
  );
  return dirs.flat();
}

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(server!.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const waitFor = (runId: string, statuses: string[]) => pollRun(() => call('GET', `/v1/runs/${runId}`), runId, { until: statuses, timeoutMs: 180_000 });

await eachBackend(
  'swarm-adoption',
  () => {
    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'sandrun-swarm-adopt-'));
      repo = new TestRepo(FILES);
      token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, 'swarmadopt');
    });
    afterAll(async () => {
      if (server) await stopGracefully(server);
      // A failed test may leave runs' services: not another test's problem.
      const swarm = await manager().catch(() => undefined);
      for (const runId of runIds) {
        const services = (await swarm?.listServices({ filters: { label: [`sandrun.run_id=${runId}`] } })) ?? [];
        await Promise.all(services.map((s) => swarm!.getService(s.ID).remove().catch(() => undefined)));
      }
      rmSync(dataDir, { recursive: true, force: true });
      repo.remove();
    });

    it('a server killed with SIGKILL and restarted adopts its swarm runs: full logs and outputs, the timeout from the real start, cancel, a removed service ends error, no service left', async () => {
      const port = await freePort();
      // Small caps, so that a task's kept log (two capped logs, the largest frame, 1 MiB: ~5 MiB here) is outprinted quickly.
      const caps = { SANDRUN_LOG_CAP_BYTES: '65536', SANDRUN_OUTPUTS_CAP_BYTES: '1048576' };
      const limits = { SANDRUN_MAX_CONCURRENT_RUNS: '8', SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '7' };
      const env = { ...(await backendServerEnv('swarm')), ...caps, ...limits, SANDRUN_DATA_DIR: dataDir, SANDRUN_LOG_LEVEL: 'warn' };
      server = await startServerProcess(env, port);
      expect((await call('POST', '/v1/projects', { name: 'swarmadopt', repo_url: repo.dir })).status).toBe(201);
      const submit = async (name: string) => (await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'swarmadopt', model_name: name })).body;
      const survivor = await submit('survivor');
      const finisher = await submit('finisher');
      const doomed = await submit('doomed');
      const chatty = await submit('chatty');
      const overdue = await submit('overdue');
      const halted = await submit('halted');
      const all = [survivor, finisher, doomed, chatty, overdue, halted];
      runIds.push(...all.map((run) => run.run_id));
      for (const run of all) await waitFor(run.run_id, ['running']);
      const printed = (runId: string) => runLogEvents(server!.url, token, runId);
      await until('every run to print its first line', async () => {
        const logs = (await Promise.all(all.map((run) => printed(run.run_id)))).join('');
        return ['survivor before', 'finisher early', 'doomed waiting', 'chatty before', 'overdue ticking', 'halted waiting'].every((text) => logs.includes(text)) || undefined;
      });

      const overdueStart = Date.parse((await call('GET', `/v1/runs/${overdue.run_id}`)).body.started_at);
      await killHard(server);
      server = undefined;
      // While no server runs: the finisher's command ends (its task keeps what it printed), an operator removes the doomed run's service.
      await until('the finisher’s command to end with no server', async () => ((await taskLog(finisher.run_id)).includes('finisher-done') ? true : undefined));
      await until('the chatty run to print its last line', async () => ((await taskLog(chatty.run_id, 5)).includes('chatty-end') ? true : undefined));
      const swarm = await manager();
      const doomedServices = await swarm.listServices({ filters: { label: [`sandrun.run_id=${doomed.run_id}`] } });
      expect(doomedServices.length, 'the doomed run’s service outlived its server').toBe(1);
      await swarm.getService(doomedServices[0]!.ID).remove();
      await until('the overdue run to pass its deadline', () => (Date.now() > overdueStart + 5_000 ? true : undefined));

      server = await startServerProcess(env, port);
      expect((await call('POST', `/v1/runs/${halted.run_id}/cancel`)).status).toBeLessThan(300);

      const survived = await waitFor(survivor.run_id, FINISHED);
      expect(survived, JSON.stringify(survived)).toMatchObject({
        status: 'success',
        exit_code: 0,
        stdout: 'survivor before\nsurvivor after\n',
        stdout_truncated: false,
        outputs: { result: { answer: 42 } },
        run_number: 1,
      });
      expect(survived.artifacts.map((a: { path: string }) => a.path)).toEqual(['notes.txt', 'result.json']);

      const finished = await waitFor(finisher.run_id, FINISHED);
      expect(finished, JSON.stringify(finished)).toMatchObject({
        status: 'success',
        exit_code: 0,
        stdout: `finisher early\nfinisher-done\n${'y'.repeat(20_000)}`,
        stderr: 'finisher late\n',
        outputs: { done: { ok: true } },
        run_number: 2,
      });
      // Its wrapper waited at the frame for a server: the adopter read its usage before letting it go on.
      expect(finished.usage?.cpu_seconds, JSON.stringify(finished.usage)).toBeGreaterThan(0);

      const lost = await waitFor(doomed.run_id, FINISHED);
      expect(lost, JSON.stringify(lost)).toMatchObject({ status: 'error', exit_code: null, error: { code: 'server_restarted' }, run_number: 3 });
      expect(lost.error.message).toContain('is gone');

      const chatted = await waitFor(chatty.run_id, FINISHED);
      expect(chatted.status, JSON.stringify({ ...chatted, stdout: chatted.stdout?.slice(-300) })).toBe('success');
      expect(chatted, 'the kept log lost its head: the result says so').toMatchObject({ stdout_truncated: true, outputs: { chatty: { lines: 120000 } }, run_number: 4 });
      expect(chatted.stdout.endsWith('119999 ' + 'y'.repeat(92) + '\nchatty-end\n'), chatted.stdout.slice(-300)).toBe(true);
      expect(chatted.stdout).not.toContain('chatty before');

      const timedOut = await waitFor(overdue.run_id, FINISHED);
      expect(timedOut, 'its timeout counts from its real start').toMatchObject({ status: 'timed_out', exit_code: 137, stdout: 'overdue ticking\n', run_number: 5 });
      const cancelled = await waitFor(halted.run_id, FINISHED);
      expect(cancelled).toMatchObject({ status: 'cancelled', exit_code: 137, stdout: 'halted waiting\n', run_number: 6 });

      for (const runId of runIds) await until(`run ${runId}'s service, config and containers to go`, async () => ((await runLeftovers('swarm', runId)).length === 0 ? true : undefined));
    });

    it('runs with a project secret outlive their server: adopted from their task’s memory, one ends success with *** for the value and its outputs, one past its deadline times out; the node’s disk never held the value', async () => {
      if (server) await stopGracefully(server);
      const port = await freePort();
      const env = { ...(await backendServerEnv('swarm')), SANDRUN_LOG_CAP_BYTES: '65536', SANDRUN_DATA_DIR: dataDir, SANDRUN_LOG_LEVEL: 'warn' };
      server = await startServerProcess(env, port);
      expect((await call('POST', '/v1/projects', { name: 'swarmvault', repo_url: repo.dir })).status).toBe(201);
      const set = await call('PUT', '/v1/projects/swarmvault/secrets/API_TOKEN', { value: VALUE });
      expect(set.status, JSON.stringify(set.body)).toBe(201);
      const submit = async (name: string) => (await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'swarmvault', model_name: name })).body;
      const teller = await submit('teller');
      const sealed = await submit('sealed');
      runIds.push(teller.run_id, sealed.run_id);
      const printed = (runId: string) => runLogEvents(server!.url, token, runId);
      for (const [run, line] of [
        [teller, 'teller before'],
        [sealed, 'sealed'],
      ] as const) {
        await waitFor(run.run_id, ['running']);
        await until(`${line} to be printed`, async () => ((await printed(run.run_id)).includes(line) ? true : undefined));
      }

      const sealedStart = Date.parse((await call('GET', `/v1/runs/${sealed.run_id}`)).body.started_at);
      await killHard(server);
      server = undefined;
      // While no server runs: the task's container outlived it, and its directory on the node's disk holds no copy of the
      // value (no log); the one file that does is the secret itself, on the tmpfs the node mounts it from (memory).
      const dirs = await taskContainerDirs(teller.run_id);
      expect(dirs.length, 'the teller’s container outlived its server').toBeGreaterThan(0);
      for (const dir of dirs) {
        expect(existsSync(dir), `${dir} exists`).toBe(true);
        const grep = spawnSync('grep', ['-rlaF', '--', VALUE, dir], { encoding: 'utf8' });
        expect(grep.status, grep.stderr).toBeLessThan(2);
        const onDisk = grep.stdout.split('\n').filter((file) => file && spawnSync('stat', ['-f', '-c', '%T', file], { encoding: 'utf8' }).stdout.trim() !== 'tmpfs');
        expect(onDisk, 'files on the node’s disk holding the value').toEqual([]);
      }

      await until('the sealed run to pass its deadline', () => (Date.now() > sealedStart + 5_000 ? true : undefined));

      server = await startServerProcess(env, port);
      const done = await waitFor(teller.run_id, FINISHED);
      expect(done, JSON.stringify(done)).toMatchObject({
        status: 'success',
        exit_code: 0,
        stdout: 'teller before ***\nteller after ***\n',
        stderr: 'teller err ***\n',
        outputs: { result: { token: '***', answer: 42 } },
      });
      expect(JSON.stringify(done)).not.toContain(VALUE);
      const timedOut = await waitFor(sealed.run_id, FINISHED);
      expect(timedOut, 'its timeout counts from its real start').toMatchObject({ status: 'timed_out', exit_code: 137, stdout: 'sealed ***\n' });
      for (const run of [teller, sealed]) {
        await until(`run ${run.run_id}'s service, config, secret and container to go`, async () => ((await runLeftovers('swarm', run.run_id)).length === 0 ? true : undefined));
      }
    });
  },
  ['swarm'],
);
