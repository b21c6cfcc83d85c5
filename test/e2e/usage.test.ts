// Resource usage per run from the engine's cgroup accounting, on every backend (backends.ts): CPU seconds, peak memory, the daily sum, and the daily CPU quota.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendServerEnv, eachBackend } from '../helpers/backends.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const FILES: Record<string, string> = {
  'sandrun.yaml': [
    'image: sandrun/python:3.11',
    'limits:',
    '  memory_mb: 512',
    'models:',
    '  burn:',
    '    command: ["python", "models/burn.py"]',
    '  allocate:',
    '    command: ["python", "models/allocate.py"]',
    '',
  ].join('\n'),
  // Busy for one second of CPU time (not wall time), then reports what it measured itself.
  'models/burn.py': 'import time, json\nstart = time.process_time()\nwhile time.process_time() - start < 1.0:\n    pass\nprint("burnt", time.process_time())\njson.dump({"cpu": time.process_time()}, open("/outputs/burn.json", "w"))\n',
  // 200 MiB actually touched, page by page, so it is resident.
  'models/allocate.py': 'block = bytearray(200 * 1024 * 1024)\nfor i in range(0, len(block), 4096):\n    block[i] = 1\nprint(len(block))\n',
};

await eachBackend('usage', (kind) => {
  let server: TestServer;
  let repo: TestRepo;
  let token: string;
  const today = () => new Date().toISOString().slice(0, 10);

  beforeAll(async () => {
    server = await startTestServer({ ...(await backendServerEnv(kind)), SANDRUN_TENANT_DAILY_CPU_SECONDS: '2.5' });
    repo = new TestRepo(FILES);
    token = await server.token(`usage-${process.pid}`);
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'usage', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });

  afterAll(async () => {
    await server?.close();
    repo?.remove();
  });

  describe('resource usage', () => {
    const runs: any[] = [];

    it('a run that burns one CPU second reports about one CPU second', async () => {
      const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'usage', model_name: 'burn' });
      expect(run.status, JSON.stringify(run.body)).toBe(200);
      expect(run.body.status).toBe('success');
      runs.push(run.body);
      const { usage } = run.body;
      expect(usage, JSON.stringify(usage)).toMatchObject({ cpu_seconds: expect.any(Number), wall_seconds: run.body.duration_seconds });
      // The container's account holds what the process measured itself (start-up included), and little more: the
      // launcher's shell. Measured against the model's own figure, so a slow machine's longer start-up does not matter.
      const measured = run.body.outputs.burn.cpu as number;
      expect(measured).toBeGreaterThanOrEqual(1);
      expect(usage.cpu_seconds, `cpu_seconds ${usage.cpu_seconds}, the process measured ${measured}`).toBeGreaterThan(measured * 0.95);
      expect(usage.cpu_seconds, `cpu_seconds ${usage.cpu_seconds}, the process measured ${measured}`).toBeLessThan(measured + 0.5);
      expect(usage.output_bytes).toBe(Buffer.byteLength(run.body.stdout) + Buffer.byteLength(JSON.stringify(run.body.outputs)));
    });

    it('a 200 MiB allocation reports a peak of at least 200 MiB', async () => {
      const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'usage', model_name: 'allocate' });
      expect(run.status, JSON.stringify(run.body)).toBe(200);
      expect(run.body.status, run.body.stderr).toBe('success');
      runs.push(run.body);
      expect(run.body.usage.peak_memory_bytes, JSON.stringify(run.body.usage)).toBeGreaterThanOrEqual(200 * 1024 * 1024);
      expect(run.body.usage.peak_memory_bytes).toBeLessThan(512 * 1024 * 1024);
    });

    it('GET /v1/usage sums the day to what the runs report', async () => {
      const usage = await server.request(token, 'GET', `/v1/usage?from=${today()}&to=${today()}`);
      expect(usage.status, JSON.stringify(usage.body)).toBe(200);
      expect(usage.body.days).toHaveLength(1);
      const [day] = usage.body.days;
      expect(day.date).toBe(today());
      expect(day.runs).toBe(runs.length);
      expect(day.cpu_seconds).toBeCloseTo(runs.reduce((sum, run) => sum + run.usage.cpu_seconds, 0), 6);
      expect(day.wall_seconds).toBeCloseTo(runs.reduce((sum, run) => sum + run.usage.wall_seconds, 0), 6);
      expect(day.output_bytes).toBe(runs.reduce((sum, run) => sum + run.usage.output_bytes, 0));
      expect(day.peak_memory_bytes).toBe(Math.max(...runs.map((run) => run.usage.peak_memory_bytes)));
      expect(usage.body.daily_cpu_seconds_quota).toBe(2.5);

      const bad = await server.request(token, 'GET', '/v1/usage?from=2024-02-30');
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toMatch(/from/);
      const other = await server.request(await server.token(`usage-other-${process.pid}`), 'GET', '/v1/usage');
      expect(other.body.days[0].runs).toBe(0);
    });

    it('a tenant past its daily CPU seconds gets 429 quota_exceeded with a clear message', async () => {
      // Burn until refused: each accepted run must have started under the quota, and the refusal must name it.
      let refused: { status: number; body: any; headers: Headers } | undefined;
      for (let attempt = 0; attempt < 5 && !refused; attempt += 1) {
        const answer = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'usage', model_name: 'burn' });
        if (answer.status === 429) refused = answer;
        else expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      }
      expect(refused, 'no run was refused').toBeDefined();
      expect(refused!.body.error.code).toBe('quota_exceeded');
      expect(refused!.body.error.message).toMatch(/of its 2\.5 CPU seconds for today/);
      // Every 429 says when to come back: here, when the UTC day ends.
      const retryAfter = Number(refused!.headers.get('retry-after'));
      expect(retryAfter, `Retry-After ${refused!.headers.get('retry-after')}`).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(86_400);
      const used = (await server.request(token, 'GET', '/v1/usage')).body.days[0].cpu_seconds;
      expect(used).toBeGreaterThanOrEqual(2.5);
      expect(refused!.body.error.details.cpu_seconds_used).toBeCloseTo(used, 6);
    });
  });
});
