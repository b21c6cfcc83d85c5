// The CLI loads only what a command needs: a remote command no server, database, engine client or zod; --help only commander.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { runWithModuleLog, type LoadedModules } from '../helpers/loaded-modules.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** What a command that only talks HTTP must never load (zod: docs/decisions.md, "The CLI's remote commands carry no zod"). */
const SERVER_SIDE = ['better-sqlite3', 'dockerode', 'docker-modem', '@modelcontextprotocol/sdk', 'express', 'pino', 'prom-client', 'zod'];
/** The packages bin/sandrun.js loads itself when dist/ is older than src/ and it runs the sources through tsx. */
const TSX_LOADER = ['tsx', 'esbuild', 'get-tsconfig', 'resolve-pkg-maps'];
/** sandrun modules outside src/cli/ that the CLI's HTTP commands share with the server: small, with no dependencies. */
const SHARED_SMALL = ['src/errors.ts', 'src/run-status.ts', 'src/listen-address.ts'];

const describeLoaded = (loaded: LoadedModules) =>
  `exit ${loaded.code} (${loaded.bundle ? 'dist/ bundle' : 'sources through tsx'})\npackages: ${[...loaded.packages].sort().join(', ')}\n` +
  `sources:\n  ${[...loaded.sources].sort().join('\n  ')}\n--- stdout\n${loaded.stdout}\n--- stderr\n${loaded.stderr}`;

const ownPackages = (loaded: LoadedModules) => [...loaded.packages].filter((name) => loaded.bundle || !TSX_LOADER.includes(name)).sort();

describe('what the CLI loads', () => {
  let server: TestServer;
  let repo: TestRepo;
  let token: string;
  let runId: string;

  beforeAll(async () => {
    server = await startTestServer();
    repo = new TestRepo({ 'models/hello.py': 'print("hello")\n' });
    token = await server.token(`graph-${process.pid}`);
    const added = await server.request(token, 'POST', '/v1/projects', { name: 'graph', repo_url: repo.dir });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'graph', model_name: 'hello' });
    expect(run.body.status, JSON.stringify(run.body)).toBe('success');
    runId = run.body.run_id;
  });

  afterAll(async () => {
    await server?.close();
    repo?.remove();
  });

  const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: process.env.HOME, SANDRUN_URL: server.url, SANDRUN_TOKEN: token, NO_COLOR: '1' });

  it('runs list prints the runs without loading the server, the database, the engine client, express, pino, prom-client or zod', async () => {
    // The server named by SANDRUN_URL, then by SANDRUN_HOST and SANDRUN_PORT (the server's own variables).
    const { hostname, port } = new URL(server.url);
    for (const where of [env(), { ...env(), SANDRUN_URL: undefined, SANDRUN_HOST: hostname, SANDRUN_PORT: port }]) {
      const loaded = await runWithModuleLog(['runs', 'list'], where);
      const context = `SANDRUN_URL=${where.SANDRUN_URL} SANDRUN_PORT=${where.SANDRUN_PORT}\n${describeLoaded(loaded)}`;
      expect(loaded.code, context).toBe(0);
      expect(loaded.stdout, context).toContain(runId);
      expect(ownPackages(loaded).filter((name) => SERVER_SIDE.includes(name)), context).toEqual([]);
      const outsideCli = [...loaded.sources].filter((source) => !source.startsWith('src/cli/') && !SHARED_SMALL.includes(source));
      expect(outsideCli, context).toEqual([]);
    }
  });

  it('run --async, projects list, projects show and secrets list load no server-side package either', async () => {
    for (const args of [['run', 'graph', 'hello', '--async', '--param', 'x=1', '--json'], ['projects', 'list'], ['projects', 'show', 'graph'], ['secrets', 'list', 'graph']]) {
      const loaded = await runWithModuleLog(args, env());
      expect(loaded.code, describeLoaded(loaded)).toBe(0);
      expect(loaded.stdout, describeLoaded(loaded)).toContain('graph');
      expect(ownPackages(loaded).filter((name) => SERVER_SIDE.includes(name)), `${args.join(' ')}\n${describeLoaded(loaded)}`).toEqual([]);
      if (args[0] === 'run') await server.waitForRun(token, JSON.parse(loaded.stdout).run_id);
    }
  });

  it('secrets set and rm load no server-side package: the value goes from stdin to the server over HTTP only', async () => {
    const loaded = await runWithModuleLog(['secrets', 'set', 'graph', 'GRAPH_KEY'], env(), 'graph-value\n');
    expect(loaded.code, describeLoaded(loaded)).toBe(0);
    expect(ownPackages(loaded).filter((name) => SERVER_SIDE.includes(name)), describeLoaded(loaded)).toEqual([]);
    const outsideCli = [...loaded.sources].filter((source) => !source.startsWith('src/cli/') && !SHARED_SMALL.includes(source) && source !== 'src/secrets/secret-rules.ts');
    expect(outsideCli, describeLoaded(loaded)).toEqual([]);
    const removed = await runWithModuleLog(['secrets', 'rm', 'graph', 'GRAPH_KEY'], env());
    expect(removed.code, describeLoaded(removed)).toBe(0);
    expect(ownPackages(removed).filter((name) => SERVER_SIDE.includes(name)), describeLoaded(removed)).toEqual([]);
  });

  it('--help loads commander and the command declarations, no command implementation', async () => {
    for (const args of [['--help'], ['runs', 'list', '--help']]) {
      const loaded = await runWithModuleLog(args, env());
      expect(loaded.code, describeLoaded(loaded)).toBe(0);
      expect(loaded.stdout, describeLoaded(loaded)).toContain('Usage: sandrun');
      expect(ownPackages(loaded), `${args.join(' ')}\n${describeLoaded(loaded)}`).toEqual(['commander']);
      const beyondDeclarations = [...loaded.sources].filter((source) => !/^src\/cli\/(main|program|context|cli-error|terminal|commands\/[a-z-]+)\.ts$/.test(source) && source !== 'src/errors.ts');
      expect(beyondDeclarations, `${args.join(' ')}\n${describeLoaded(loaded)}`).toEqual([]);
    }
  });
});
