// Section 8: many runs of the common case from two tenants at once, against `xargs -P` of bare `docker run`s of the same model.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { TestRepo } from '../test/helpers/git-repo.ts';
import { delay } from '../src/delay.ts';
import { isTerminal, type RunStatus } from '../src/run-status.ts';
import { bareRealisticRun, bareRunArguments } from './bare-docker.ts';
import { realistic, ratio, syncRun, timed } from './bench-requests.ts';
import { startBenchServer, type BenchServer } from './bench-server.ts';
import { round } from './stats.ts';

const IMAGE = 'sandrun/python:3.11';
const TENANTS = ['bench', 'bench-b'];

/**
 * `count` async runs, half from each tenant, submitted at once to a server with `concurrency` run slots and a pool sized for
 * them (what an operator running that many at once would set); timed from the first submission to the last result.
 */
export async function throughput(repo: TestRepo, count = 200, concurrency = 8) {
  console.log(`\n8. ${count} runs of the common case from ${TENANTS.length} tenants, concurrency ${concurrency}, vs xargs -P${concurrency} of ${count} bare docker runs of the same model`);
  const slots = String(concurrency);
  const perTenant = String(Math.ceil(concurrency / TENANTS.length));
  const server = await startBenchServer(
    { SANDRUN_MAX_CONCURRENT_RUNS: slots, SANDRUN_POOL_SIZE: slots, SANDRUN_POOL_PER_TENANT: perTenant, SANDRUN_POOL_PER_TEMPLATE: perTenant },
    { repo, tenants: TENANTS.slice(1) },
  );
  const bare = bareRealisticRun();
  try {
    await syncRun(server, realistic);
    await server.callAs('bench-b', 'POST', '/v1/runs', realistic);
    const statuses = new Map<string, number>();
    const cpuBefore = machineBusyMs();
    const partsBefore = cpuByPart(server);
    const sandrunMs = await timed(async () => {
      const submissions = await Promise.all(Array.from({ length: count }, (_, i) => submit(server, TENANTS[i % TENANTS.length]!)));
      // One poll at a time, in submission order (runs end roughly in that order): the polling itself stays a light load.
      for (const { tenant, runId } of submissions) {
        const status = await untilEnded(server, tenant, runId);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    });
    const sandrunCpuMs = machineBusyMs() - cpuBefore;
    const sandrunParts = cpuByPart(server, partsBefore);
    const pool = await poolCounts(server);
    const xargs = spawn('xargs', [`-P${concurrency}`, '-I{}', 'docker', ...bareRunArguments(IMAGE, bare)], { stdio: ['pipe', 'ignore', 'inherit'] });
    const bareCpuBefore = machineBusyMs();
    const bareParts = cpuByPart(server);
    const bareMs = await timed(async () => {
      xargs.stdin.end(Array.from({ length: count }, (_, i) => String(i)).join('\n') + '\n');
      const [code] = (await once(xargs, 'exit')) as [number | null];
      if (code !== 0) throw new Error(`xargs docker run exited with ${code}`);
    });
    const bareCpuMs = machineBusyMs() - bareCpuBefore;
    const bareEngine = cpuByPart(server, bareParts);
    const result = {
      count,
      concurrency,
      tenants: TENANTS.length,
      statuses: Object.fromEntries(statuses),
      pool,
      sandrunMs: round(sandrunMs),
      xargsBareDockerMs: round(bareMs),
      ratio: ratio(sandrunMs, bareMs),
      machineCpuMsPerRun: { sandrun: round(sandrunCpuMs / count), xargsBareDocker: round(bareCpuMs / count) },
      cpuMsPerRunByPart: { sandrun: perRun(sandrunParts, count), xargsBareDocker: perRun({ dockerd: bareEngine.dockerd!, containerd: bareEngine.containerd! }, count) },
    };
    console.log(`  sandrun ${result.sandrunMs} ms (${JSON.stringify(result.statuses)}, pool ${JSON.stringify(pool)}), xargs -P${concurrency} docker run ${result.xargsBareDockerMs} ms, ratio ${result.ratio} (target ≤ 0.5)`);
    console.log(`  machine CPU per run (all processes, /proc/stat): sandrun ${result.machineCpuMsPerRun.sandrun} ms, bare docker run ${result.machineCpuMsPerRun.xargsBareDocker} ms`);
    console.log(`  of which (ms per run): sandrun ${JSON.stringify(result.cpuMsPerRunByPart.sandrun)}, bare ${JSON.stringify(result.cpuMsPerRunByPart.xargsBareDocker)}`);
    if (statuses.get('success') !== count) throw new Error(`not every run succeeded: ${JSON.stringify(result.statuses)}`);
    return result;
  } finally {
    await server.stop();
    bare.remove();
  }
}

async function submit(server: BenchServer, tenant: string): Promise<{ tenant: string; runId: string }> {
  const receipt = await server.callAs(tenant, 'POST', '/v1/runs', { ...realistic, mode: 'async' });
  if (typeof receipt.run_id !== 'string') throw new Error(`submission refused: ${JSON.stringify(receipt)}`);
  return { tenant, runId: receipt.run_id };
}

async function untilEnded(server: BenchServer, tenant: string, runId: string): Promise<string> {
  for (;;) {
    const run = await server.callAs(tenant, 'GET', `/v1/runs/${runId}`);
    if (isTerminal(run.status as RunStatus)) return run.status as string;
    await delay(50);
  }
}

/** CPU time the whole machine has spent busy (every core, every process), from /proc/stat. */
function machineBusyMs(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / CLOCK_TICKS_PER_SECOND;
}
const CLOCK_TICKS_PER_SECOND = 100;

async function poolCounts(server: BenchServer): Promise<{ hits: number; misses: number }> {
  const metrics = await (await fetch(`${server.process.url}/metrics`)).text();
  const counter = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN);
  return { hits: counter('sandrun_pool_hits_total'), misses: counter('sandrun_pool_misses_total') };
}

/** CPU ms of the long-lived processes a run costs: the sandrun server, dockerd and its containerd (less `since`, if given). */
function cpuByPart(server: BenchServer, since?: Record<string, number>): Record<string, number> {
  const pidFile = (path: string) => Number(readFileSync(path, 'utf8').trim());
  const parts = {
    server: processCpuMs(server.process.child.pid!),
    dockerd: processCpuMs(pidFile('/var/run/docker.pid')),
    containerd: processCpuMs(pidFile('/var/run/docker/containerd/containerd.pid')),
  };
  return Object.fromEntries(Object.entries(parts).map(([part, ms]) => [part, ms - (since?.[part] ?? 0)]));
}

/** utime + stime of one process, from /proc/PID/stat. */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

const perRun = (parts: Record<string, number>, count: number) => Object.fromEntries(Object.entries(parts).map(([part, ms]) => [part, round(ms / count)]));
