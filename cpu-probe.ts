// Server CPU per GET /v1/runs/{id} and idle CPU, for the worktree it is run from.
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startBenchServer, BENCH_MODELS } from './bench/bench-server.ts';
import { TestRepo } from './test/helpers/git-repo.ts';

const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const repo = new TestRepo({ 'sandrun.yaml': 'image: sandrun/python:3.11\nmodels:\n  trivial:\n    command: ["python3", "models/trivial.py"]\n', ...BENCH_MODELS });
const server = await startBenchServer({}, { repo });
const pid = server.process.child.pid!;
const done = await server.call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'bench', model_name: 'trivial' });
await new Promise((r) => setTimeout(r, 3000));
let before = cpuMs(pid);
await new Promise((r) => setTimeout(r, 10_000));
const idle = cpuMs(pid) - before;
before = cpuMs(pid);
const child = spawn(process.execPath, ['bench/load-generator.js', `${server.process.url}/v1/runs/${done.run_id}`, server.token, '500', '10', '500'], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (c) => (out += c));
await once(child, 'exit');
const busy = cpuMs(pid) - before;
const lat = JSON.parse(out.slice(out.indexOf('{'))).latencies as number[];
console.log(JSON.stringify({ dir: process.cwd(), idleMsPer10s: idle, cpuUsPerRequest: Math.round((busy * 1000) / (lat.length + 500)), requests: lat.length }));
await server.stop();
repo.remove();
