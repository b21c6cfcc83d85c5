// A directory of Python packages for SANDRUN_PIP_FIND_LINKS: a pure-Python wheel the test writes, and an sdist-only one.
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tarGzArchive, zipArchive, type ArchiveEntry } from './archives.ts';

export interface PythonPackage {
  /** Distribution name as in a wheel's file name (underscores, e.g. 'sandrun_hello'). */
  name: string;
  version: string;
  /** Files relative to site-packages (e.g. 'sandrun_hello/__init__.py'). */
  files: Record<string, string>;
}

/** `import sandrun_hello; sandrun_hello.greet('x')` returns 'hello, x (sandrun_hello 1.0)'. */
export const HELLO_PACKAGE: PythonPackage = {
  name: 'sandrun_hello',
  version: '1.0',
  files: { 'sandrun_hello/__init__.py': "def greet(name):\n    return f'hello, {name} (sandrun_hello 1.0)'\n" },
};

/** What the sdist's setup.py prints if anything ever runs it (with --only-binary :all: nothing may). */
export const SDIST_SETUP_MARKER = 'SANDRUN-SDIST-SETUP-RAN';

/** Offered only as a source distribution: a requirement on it must fail under `--only-binary :all:`. */
export const SDIST_ONLY_PACKAGE: PythonPackage = {
  name: 'sandrun_sdistonly',
  version: '1.0',
  files: { 'sandrun_sdistonly/__init__.py': "VALUE = 'sdist'\n" },
};

function metadata(pkg: PythonPackage): string {
  return `Metadata-Version: 2.1\nName: ${pkg.name}\nVersion: ${pkg.version}\nSummary: A sandrun test fixture\n`;
}

// RECORD's hash form: sha256, urlsafe base64 without padding (PEP 376/427).
function recordHash(content: string): string {
  return `sha256=${createHash('sha256').update(content).digest('base64url')}`;
}

/** `<name>-<version>-py3-none-any.whl`: the package's files plus a dist-info with METADATA, WHEEL and a hashed RECORD. */
export function makeWheel(pkg: PythonPackage): { filename: string; content: Buffer } {
  const distInfo = `${pkg.name}-${pkg.version}.dist-info`;
  const files: Record<string, string> = {
    ...pkg.files,
    [`${distInfo}/METADATA`]: metadata(pkg),
    [`${distInfo}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: sandrun-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    [`${distInfo}/top_level.txt`]: `${pkg.name}\n`,
  };
  const record = Object.entries(files).map(([path, content]) => `${path},${recordHash(content)},${Buffer.byteLength(content)}`);
  const entries: ArchiveEntry[] = Object.entries(files).map(([name, content]) => ({ name, content }));
  entries.push({ name: `${distInfo}/RECORD`, content: [...record, `${distInfo}/RECORD,,`, ''].join('\n') });
  return { filename: `${pkg.name}-${pkg.version}-py3-none-any.whl`, content: zipArchive(entries) };
}

/** `<name>-<version>.tar.gz` whose setup.py fails loudly, so a log shows it if a build ever ran it. */
export async function makeSdist(pkg: PythonPackage): Promise<{ filename: string; content: Buffer }> {
  const root = `${pkg.name}-${pkg.version}`;
  const files: Record<string, string> = {
    ...pkg.files,
    'PKG-INFO': metadata(pkg),
    'setup.py': `raise SystemExit('${SDIST_SETUP_MARKER}: setup.py of ${pkg.name} ran')\n`,
  };
  const entries = Object.entries(files).map(([name, content]) => ({ name: `${root}/${name}`, content }));
  return { filename: `${root}.tar.gz`, content: await tarGzArchive(entries) };
}

export interface WheelDir {
  dir: string;
  /** File names written, e.g. ['sandrun_hello-1.0-py3-none-any.whl']. */
  wheels: string[];
  sdists: string[];
}

/**
 * Writes wheels and sdists into `dir` (default: a new temp directory), readable by any uid (a container's 10001 too).
 * Defaults: the HELLO_PACKAGE wheel and the SDIST_ONLY_PACKAGE sdist. The caller removes `dir`.
 */
export async function makeWheelDir(
  dir: string = mkdtempSync(join(tmpdir(), 'sandrun-wheels-')),
  packages: { wheels?: PythonPackage[]; sdists?: PythonPackage[] } = {},
): Promise<WheelDir> {
  chmodSync(dir, 0o755);
  const wheels = (packages.wheels ?? [HELLO_PACKAGE]).map(makeWheel);
  const sdists = await Promise.all((packages.sdists ?? [SDIST_ONLY_PACKAGE]).map(makeSdist));
  for (const file of [...wheels, ...sdists]) writeFileSync(join(dir, file.filename), file.content, { mode: 0o644 });
  return { dir, wheels: wheels.map((file) => file.filename), sdists: sdists.map((file) => file.filename) };
}
