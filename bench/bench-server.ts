// A sandrun server process for benchmarks, with a token and a registered project, on its own data dir.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.ts';
import { openStores } from '../src/sandrun.ts';
import { TestRepo } from '../test/helpers/git-repo.ts';
import { freePort, startServerProcess, stopGracefully, type ServerProcess } from '../test/helpers/server-process.ts';

export const BENCH_MODELS: Record<string, string> = {
  'models/trivial.py': 'print(1)\n',
  'models/sleep3.py': 'import time\ntime.sleep(3)\n',
  // The common case (issue 16): reads its parameters, prints a line, writes two small outputs.
  'models/realistic.py':
    'import json\nparams = json.load(open("/inputs/parameters.json"))\nprint("growth", params.get("growth", 0.1))\njson.dump([100, 110, 121], open("/outputs/revenue.json", "w"))\njson.dump({"ok": True}, open("/outputs/summary.json", "w"))\n',
  // The common case without its outputs: what the outputs alone cost through sandrun is the difference.
  'models/reads-parameters.py': 'import json\nparams = json.load(open("/inputs/parameters.json"))\nprint("growth", params.get("growth", 0.1))\n',
  'models/flood.py': 'import sys\nline = "x" * 1023 + "\\n"\nfor _ in range(1024 * 1024): sys.stdout.write(line)\n',
};

export interface BenchServer {
  process: ServerProcess;
  dataDir: string;
  token: string;
  call(method: string, path: string, body?: unknown): Promise<any>;
  /** The same call as tenant `bench` or one of `options.tenants` (each has its own project `bench`). */
  callAs(tenant: string, method: string, path: string, body?: unknown): Promise<any>;
  rssBytes(): number;
  stop(): Promise<void>;
}

export async function startBenchServer(env: Record<string, string> = {}, options: { dataDir?: string; repo?: TestRepo; tenants?: string[] } = {}): Promise<BenchServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'sandrun-bench-'));
  const stores = await openStores(loadConfig({ SANDRUN_DATA_DIR: dataDir }));
  const tokenFor = async (tenantId: string) => (await stores.apiTokens.create({ tenantId, scopes: ['runs:read', 'runs:write', 'projects:read', 'projects:write'] })).token;
  const token = await tokenFor('bench');
  const tokens = new Map([['bench', token], ...(await Promise.all((options.tenants ?? []).map(async (tenant) => [tenant, await tokenFor(tenant)] as const)))]);
  await stores.database.close();
  const serverProcess = await startServerProcess(
    { SANDRUN_DATA_DIR: dataDir, SANDRUN_LOG_LEVEL: 'warn', SANDRUN_RATE_LIMIT_PER_MINUTE: '1000000', SANDRUN_MAX_QUEUED_RUNS: '1000', SANDRUN_TENANT_MAX_QUEUED_RUNS: '1000', ...env },
    await freePort(),
  );
  const callWith = async (bearer: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(serverProcess.url + path, {
      method,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return response.json();
  };
  const call = (method: string, path: string, body?: unknown) => callWith(token, method, path, body);
  const callAs = (tenant: string, method: string, path: string, body?: unknown) => {
    const bearer = tokens.get(tenant);
    if (!bearer) throw new Error(`no token for tenant ${tenant}: pass it in options.tenants`);
    return callWith(bearer, method, path, body);
  };
  if (options.repo) {
    for (const bearer of tokens.values()) await callWith(bearer, 'POST', '/v1/projects', { name: 'bench', repo_url: options.repo.dir });
  }
  return {
    process: serverProcess,
    dataDir,
    token,
    call,
    callAs,
    rssBytes: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${serverProcess.child.pid}/status`, 'utf8'))![1]) * 1024,
    async stop() {
      await stopGracefully(serverProcess);
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
