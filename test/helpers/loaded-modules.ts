// Runs `node bin/sandrun.js ...` with module-recorder.js and says what it loaded: npm packages and sandrun's own source files.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'sandrun.js');
const RECORDER = join(ROOT, 'test', 'helpers', 'module-recorder.js');

export interface LoadedModules {
  code: number;
  stdout: string;
  stderr: string;
  /** npm packages by name (`@scope/name` for scoped ones), bundled ones included. */
  packages: Set<string>;
  /** sandrun's own modules, as paths from the checkout's root (`src/cli/program.ts`), also when they came bundled in dist/. */
  sources: Set<string>;
  /** Whether bin/sandrun.js ran the dist/ bundle (else the sources through tsx). */
  bundle: boolean;
}

/** `…/node_modules/@scope/name/…` or `…/node_modules/name/…` → the package's name. */
function packageOf(path: string): string | undefined {
  const at = path.lastIndexOf('/node_modules/');
  if (at === -1) return undefined;
  const parts = path.slice(at + '/node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** A file of dist/ stands for the files its source map names: sandrun's sources and the packages bundled into it. */
function originalFiles(path: string): string[] {
  const map = `${path}.map`;
  if (!path.startsWith(join(ROOT, 'dist')) || !existsSync(map)) return [path];
  const { sources } = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] };
  return sources.map((source) => resolve(dirname(path), source));
}

/** `stdin`: written to the command's standard input, which is then closed (else it stays open, and a read never ends). */
export function runWithModuleLog(args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<LoadedModules> {
  const dir = mkdtempSync(join(tmpdir(), 'sandrun-modules-'));
  const log = join(dir, 'modules.log');
  return new Promise((done) => {
    const child = execFile(process.execPath, ['--import', RECORDER, BIN, ...args], { env: { ...env, SANDRUN_MODULE_LOG: log }, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      const urls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((url) => url.startsWith('file:')) : [];
      rmSync(dir, { recursive: true, force: true });
      const packages = new Set<string>();
      const sources = new Set<string>();
      for (const file of new Set(urls.map((url) => fileURLToPath(url)).flatMap(originalFiles))) {
        const name = packageOf(file);
        if (name) packages.add(name);
        else if (file.startsWith(join(ROOT, 'src'))) sources.add(relative(ROOT, file));
      }
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      done({ code, stdout, stderr, packages, sources, bundle: urls.some((url) => url.endsWith('/dist/cli/main.js')) });
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}
