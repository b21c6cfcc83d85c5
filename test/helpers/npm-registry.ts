// An npm registry for tests: a tiny node HTTP server in a sandrun/node:18 container on a Docker network the test makes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installScriptPackage, plainPackage, tarballPath, type NpmPackage } from './npm-packages.ts';

const run = promisify(execFile);

/** The registry's name on its network and the port it listens on there: its URL is http://registry:4873/. */
export const REGISTRY_ALIAS = 'registry';
export const REGISTRY_PORT = 4873;
/** Every container and network the test fixtures make carries this label. */
export const TEST_LABEL = 'sandrun.test=1';

export interface NpmRegistry {
  /** The user-defined bridge network the registry is on (unique per call): SANDRUN_BUILD_NETWORK for a build. */
  network: string;
  /** 'http://registry:4873/', reachable from containers on `network` only. */
  url: string;
  container: string;
  packages: NpmPackage[];
  /**
   * The requests the registry has seen so far, in order, by decoded path (e.g. '/sandrun-plain'). npm 10 also asks
   * for '/npm' (its update check, 404 here) unless given --no-update-notifier.
   */
  requests(): Promise<{ method: string; path: string; status: number }[]>;
  /** Removes the container, the network and the served files; safe to call twice. */
  stop(): Promise<void>;
}

// Serves routes.json's paths (a packument per package name, a tarball per tarball path) and logs each request as JSON.
const SERVER_JS = `const fs = require('fs');
const routes = JSON.parse(fs.readFileSync('/registry/routes.json', 'utf8'));
require('http').createServer((request, response) => {
  let path;
  try { path = decodeURIComponent(new URL(request.url, 'http://registry').pathname); } catch { path = request.url; }
  const route = (request.method === 'GET' || request.method === 'HEAD') ? routes[path] : undefined;
  console.log(JSON.stringify({ method: request.method, path, status: route ? 200 : 404 }));
  if (!route) { response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}'); return; }
  const body = fs.readFileSync('/registry/' + route.file);
  response.writeHead(200, { 'content-type': route.type, 'content-length': body.length });
  response.end(request.method === 'HEAD' ? undefined : body);
}).listen(${REGISTRY_PORT}, () => console.log('listening'));
`;

function packument(pkg: NpmPackage, url: string): object {
  return {
    _id: pkg.name,
    name: pkg.name,
    'dist-tags': { latest: pkg.version },
    versions: {
      [pkg.version]: {
        ...pkg.manifest,
        _id: `${pkg.name}@${pkg.version}`,
        dist: { tarball: new URL(tarballPath(pkg), url).href, integrity: pkg.integrity, shasum: pkg.shasum },
      },
    },
  };
}

async function waitUntilListening(container: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { stdout } = await run('docker', ['logs', container]);
    if (stdout.includes('listening')) return;
    const { stdout: state } = await run('docker', ['inspect', '--format', '{{.State.Status}}', container]);
    if (state.trim() !== 'running') throw new Error(`npm registry container ${container} is ${state.trim()}: ${stdout}`);
    if (Date.now() > deadline) throw new Error(`npm registry container ${container} did not listen within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts a registry serving `packages` (default: sandrun-plain@1.0.0 and sandrun-install-script@1.0.0) on a new
 * network. All packages must have distinct names. Call stop() in afterAll.
 */
export async function startNpmRegistry(packages?: NpmPackage[]): Promise<NpmRegistry> {
  const served = packages ?? (await Promise.all([plainPackage(), installScriptPackage()]));
  const url = `http://${REGISTRY_ALIAS}:${REGISTRY_PORT}/`;
  const unique = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const network = `sandrun-test-npm-${unique}`;
  const container = `sandrun-test-npm-registry-${unique}`;
  const dir = mkdtempSync(join(tmpdir(), 'sandrun-npm-registry-'));
  chmodSync(dir, 0o755);
  const routes: Record<string, { file: string; type: string }> = {};
  served.forEach((pkg, index) => {
    writeFileSync(join(dir, `packument-${index}.json`), JSON.stringify(packument(pkg, url)), { mode: 0o644 });
    writeFileSync(join(dir, `tarball-${index}.tgz`), pkg.tarball, { mode: 0o644 });
    routes[`/${pkg.name}`] = { file: `packument-${index}.json`, type: 'application/json' };
    routes[`/${tarballPath(pkg)}`] = { file: `tarball-${index}.tgz`, type: 'application/octet-stream' };
  });
  writeFileSync(join(dir, 'routes.json'), JSON.stringify(routes), { mode: 0o644 });
  writeFileSync(join(dir, 'server.js'), SERVER_JS, { mode: 0o644 });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await run('docker', ['rm', '-f', container]).catch(() => undefined); // absent if the start failed before it
    await run('docker', ['network', 'rm', network]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run('docker', ['network', 'create', '--driver', 'bridge', '--label', TEST_LABEL, network]);
    await run('docker', [
      'run', '-d', '--name', container, '--label', TEST_LABEL, '--network', network, '--network-alias', REGISTRY_ALIAS,
      '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--memory', '128m', '--pids-limit', '64',
      '-v', `${dir}:/registry:ro`, 'sandrun/node:18', 'node', '/registry/server.js',
    ]);
    await waitUntilListening(container);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    network,
    url,
    container,
    packages: served,
    async requests() {
      const { stdout } = await run('docker', ['logs', container]);
      return stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
    },
    stop,
  };
}
