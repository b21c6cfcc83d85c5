// Benchmark section `cli`: how long `sandrun --help` and `sandrun runs list` take, spawn to exit, against Node's own start-up.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestRepo } from '../test/helpers/git-repo.ts';
import { startBenchServer } from './bench-server.ts';
import { printRow, summarize, type Summary } from './stats.ts';

const BIN = fileURLToPath(new URL('../bin/sandrun.js', import.meta.url));
const TARGET_MS = { help: 100, runsList: 150 };

interface Exit {
  ms: number;
  stdout: string;
}

/** One child process, timed from spawn to exit; a failure stops the benchmark with what the child said. */
function timedNode(args: string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { env, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`node ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve({ ms: performance.now() - started, stdout });
    });
  });
}

/**
 * 6. The CLI: `--help` and `runs list` against a local server (at SANDRUN_URL, and at SANDRUN_HOST/SANDRUN_PORT), interleaved
 * with a bare `node -e 0`, after one unmeasured round.
 */
export async function cliLatency(repo: TestRepo, n: number) {
  console.log(`\n6. the CLI, spawn to exit: \`sandrun --help\` and \`sandrun runs list\` against a local server, interleaved with bare \`node -e 0\`, n=${n}`);
  const server = await startBenchServer({}, { repo });
  try {
    const runIds: string[] = [];
    for (let i = 0; i < 3; i += 1) runIds.push((await server.call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'bench', model_name: 'trivial' })).run_id);
    // NODE_OPTIONS of the benchmark's own process (if any) would load into every child: the CLI gets a clean environment.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SANDRUN_URL: server.process.url, SANDRUN_TOKEN: server.token, NO_COLOR: '1' };
    // The server found through SANDRUN_HOST and SANDRUN_PORT instead: the CLI then reads them with config.ts, and zod.
    const { port } = new URL(server.process.url);
    const viaPortEnv: NodeJS.ProcessEnv = { ...env, SANDRUN_URL: undefined, SANDRUN_HOST: '127.0.0.1', SANDRUN_PORT: port };
    const commands = {
      nodeAlone: { args: ['-e', '0'], env },
      help: { args: [BIN, '--help'], env },
      runsList: { args: [BIN, 'runs', 'list'], env },
      runsListViaPortEnv: { args: [BIN, 'runs', 'list'], env: viaPortEnv },
    };
    type Name = keyof typeof commands;
    const check = (name: Name, exit: Exit) => {
      if (name === 'help' && !exit.stdout.includes('Usage: sandrun')) throw new Error(`--help printed no usage:\n${exit.stdout}`);
      if (name.startsWith('runsList') && !runIds.every((id) => exit.stdout.includes(id))) throw new Error(`runs list did not print the runs ${runIds.join(', ')}:\n${exit.stdout}`);
    };
    const names = Object.keys(commands) as Name[];
    for (const name of names) check(name, await timedNode(commands[name].args, commands[name].env));
    const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<Name, number[]>;
    for (let i = 0; i < n; i += 1) {
      for (const name of names) {
        const exit = await timedNode(commands[name].args, commands[name].env);
        check(name, exit);
        samples[name].push(exit.ms);
      }
    }
    const summaries = Object.fromEntries(names.map((name) => [name, summarize(samples[name])])) as Record<Name, Summary>;
    printRow('node -e 0 (Node start-up alone)', summaries.nodeAlone);
    printRow(`sandrun --help (target ≤ ${TARGET_MS.help} ms)`, summaries.help);
    printRow(`sandrun runs list (target ≤ ${TARGET_MS.runsList} ms)`, summaries.runsList);
    printRow('sandrun runs list, SANDRUN_PORT (info)', summaries.runsListViaPortEnv);
    const overNode = { helpMs: Math.round(summaries.help.medianMs - summaries.nodeAlone.medianMs), runsListMs: Math.round(summaries.runsList.medianMs - summaries.nodeAlone.medianMs) };
    console.log(`  above Node's own start-up (medians): --help +${overNode.helpMs} ms, runs list +${overNode.runsListMs} ms`);
    return { ...summaries, targetsMs: TARGET_MS, overNodeAloneMs: overNode };
  } finally {
    await server.stop();
  }
}
