// Benchmark section `cli`: how long `sandrun --help` and `sandrun runs list` take, spawn to exit, against Node's own start-up.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestRepo } from '../test/helpers/git-repo.ts';
import { startBenchServer } from './bench-server.ts';
import { printRow, summarize } from './stats.ts';

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

/** 6. The CLI: `--help` and `runs list` against a local server, interleaved with a bare `node -e 0`, after one unmeasured round. */
export async function cliLatency(repo: TestRepo, n: number) {
  console.log(`\n6. the CLI, spawn to exit: \`sandrun --help\` and \`sandrun runs list\` against a local server, interleaved with bare \`node -e 0\`, n=${n}`);
  const server = await startBenchServer({}, { repo });
  try {
    const runIds: string[] = [];
    for (let i = 0; i < 3; i += 1) runIds.push((await server.call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'bench', model_name: 'trivial' })).run_id);
    // NODE_OPTIONS of the benchmark's own process (if any) would load into every child: the CLI gets a clean environment.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SANDRUN_URL: server.process.url, SANDRUN_TOKEN: server.token, NO_COLOR: '1' };
    const commands = {
      nodeAlone: ['-e', '0'],
      help: [BIN, '--help'],
      runsList: [BIN, 'runs', 'list'],
    };
    const check = (name: keyof typeof commands, exit: Exit) => {
      if (name === 'help' && !exit.stdout.includes('Usage: sandrun')) throw new Error(`--help printed no usage:\n${exit.stdout}`);
      if (name === 'runsList' && !runIds.every((id) => exit.stdout.includes(id))) throw new Error(`runs list did not print the runs ${runIds.join(', ')}:\n${exit.stdout}`);
    };
    for (const [name, args] of Object.entries(commands)) check(name as keyof typeof commands, await timedNode(args, env));
    const samples = { nodeAlone: [] as number[], help: [] as number[], runsList: [] as number[] };
    for (let i = 0; i < n; i += 1) {
      for (const [name, args] of Object.entries(commands)) {
        const exit = await timedNode(args, env);
        check(name as keyof typeof commands, exit);
        samples[name as keyof typeof commands].push(exit.ms);
      }
    }
    const summaries = { nodeAlone: summarize(samples.nodeAlone), help: summarize(samples.help), runsList: summarize(samples.runsList) };
    printRow('node -e 0 (Node start-up alone)', summaries.nodeAlone);
    printRow(`sandrun --help (target ≤ ${TARGET_MS.help} ms)`, summaries.help);
    printRow(`sandrun runs list (target ≤ ${TARGET_MS.runsList} ms)`, summaries.runsList);
    const overNode = { helpMs: Math.round(summaries.help.medianMs - summaries.nodeAlone.medianMs), runsListMs: Math.round(summaries.runsList.medianMs - summaries.nodeAlone.medianMs) };
    console.log(`  above Node's own start-up (medians): --help +${overNode.helpMs} ms, runs list +${overNode.runsListMs} ms`);
    return { ...summaries, targetsMs: TARGET_MS, overNodeAloneMs: overNode };
  } finally {
    await server.stop();
  }
}
