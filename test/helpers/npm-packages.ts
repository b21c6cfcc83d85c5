// npm package tarballs the test writes, and the package.json + package-lock.json of a project that depends on them.
import { createHash } from 'node:crypto';
import { tarGzArchive } from './archives.ts';

export interface NpmPackageSpec {
  name: string;
  version: string;
  /** Files of the package besides package.json, relative to its root (e.g. 'index.js'). */
  files: Record<string, string>;
  /** package.json's scripts (e.g. { install: 'node install.js' }). */
  scripts?: Record<string, string>;
}

export interface NpmPackage {
  name: string;
  version: string;
  /** The package.json inside the tarball. */
  manifest: { name: string; version: string; main: string; license: string; scripts?: Record<string, string> };
  /** A gzipped tar with every entry under package/, as `npm pack` makes it. */
  tarball: Buffer;
  /** Subresource-integrity form, as lockfiles and packuments carry it: 'sha512-<base64>'. */
  integrity: string;
  /** sha1 of the tarball in hex (a packument's dist.shasum). */
  shasum: string;
}

const LIFECYCLE_INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];

export async function makeNpmPackage(spec: NpmPackageSpec): Promise<NpmPackage> {
  const manifest = {
    name: spec.name,
    version: spec.version,
    main: 'index.js',
    license: 'MIT',
    ...(spec.scripts ? { scripts: spec.scripts } : {}),
  };
  const files = { 'package.json': `${JSON.stringify(manifest, null, 2)}\n`, ...spec.files };
  const tarball = await tarGzArchive(Object.entries(files).map(([name, content]) => ({ name: `package/${name}`, content })));
  return {
    name: spec.name,
    version: spec.version,
    manifest,
    tarball,
    integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
    shasum: createHash('sha1').update(tarball).digest('hex'),
  };
}

/** Where a registry serves a package's tarball, relative to the registry's URL (npm's own layout). */
export function tarballPath(pkg: { name: string; version: string }): string {
  const base = pkg.name.split('/').pop() ?? pkg.name;
  return `${pkg.name}/-/${base}-${pkg.version}.tgz`;
}

/** `require('sandrun-plain')('x')` returns 'hello, x (sandrun-plain 1.0.0)'. */
export function plainPackage(): Promise<NpmPackage> {
  return makeNpmPackage({
    name: 'sandrun-plain',
    version: '1.0.0',
    files: { 'index.js': "module.exports = function greet(name) { return `hello, ${name} (sandrun-plain 1.0.0)`; };\n" },
  });
}

/**
 * What the install-script package's scripts print, if they ever run (in a build with --ignore-scripts they must not).
 * npm (7+) shows a lifecycle script's output only with --foreground-scripts or when it fails, so a build log may not
 * show it: check installScriptRan() in the built image, or that the registry saw no GET /sandrun-plain (the scripts
 * fetch that packument; `npm ci` from a lockfile fetches tarballs only).
 */
export const INSTALL_SCRIPT_MARKER = 'SANDRUN-INSTALL-SCRIPT-RAN';
/** The file its scripts write in the package's own directory (node_modules/sandrun-install-script/) if they run. */
export const INSTALL_SCRIPT_FILE = 'install-script-ran';

// Each lifecycle script notes that it ran: in the log, in the package's directory (which ends up in the image), in
// /tmp; and it tries the network (the registry itself), printing what it got, so a log shows whether that was possible.
const INSTALL_JS = `const fs = require('fs');
const stage = process.argv[2];
console.log('${INSTALL_SCRIPT_MARKER}: ' + stage);
for (const file of [__dirname + '/${INSTALL_SCRIPT_FILE}', '/tmp/sandrun-${INSTALL_SCRIPT_FILE}']) {
  try { fs.appendFileSync(file, stage + '\\n'); } catch (error) { console.log('could not write ' + file + ': ' + error.message); }
}
const registry = process.env.npm_config_registry || 'http://registry:4873/';
fetch(registry + 'sandrun-plain').then((r) => console.log('${INSTALL_SCRIPT_MARKER}: network reachable, HTTP ' + r.status),
  (error) => console.log('${INSTALL_SCRIPT_MARKER}: network not reachable: ' + error.message));
`;

/**
 * A package whose preinstall, install and postinstall scripts each leave a mark (see INSTALL_JS). Its main module
 * exports installScriptRan(): whether the install-script file exists beside it, so a run can report it.
 */
export function installScriptPackage(): Promise<NpmPackage> {
  return makeNpmPackage({
    name: 'sandrun-install-script',
    version: '1.0.0',
    files: {
      'install.js': INSTALL_JS,
      'index.js': `exports.installScriptRan = () => require('fs').existsSync(__dirname + '/${INSTALL_SCRIPT_FILE}');\n`,
    },
    scripts: Object.fromEntries(LIFECYCLE_INSTALL_SCRIPTS.map((stage) => [stage, `node install.js ${stage}`])),
  });
}

export interface NpmProject {
  /** package.json text: the packages as exact-version dependencies. */
  packageJson: string;
  /** package-lock.json text, lockfileVersion 3, resolved under `registryUrl`. */
  packageLock: string;
}

/** The files of a project that depends on `packages`, as `npm install` would lock them against `registryUrl` ('http://host:port/'). */
export function lockfileFor(packages: NpmPackage[], registryUrl: string, projectName = 'sandrun-test-project'): NpmProject {
  const dependencies = Object.fromEntries(packages.map((pkg) => [pkg.name, pkg.version]));
  const root = { name: projectName, version: '1.0.0', private: true, dependencies };
  const locked = Object.fromEntries(packages.map((pkg) => [`node_modules/${pkg.name}`, {
    version: pkg.version,
    resolved: new URL(tarballPath(pkg), registryUrl).href,
    integrity: pkg.integrity,
    license: pkg.manifest.license,
    ...(LIFECYCLE_INSTALL_SCRIPTS.some((stage) => pkg.manifest.scripts?.[stage]) ? { hasInstallScript: true } : {}),
  }]));
  const lock = {
    name: projectName,
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: projectName, version: '1.0.0', dependencies }, ...locked },
  };
  return { packageJson: `${JSON.stringify(root, null, 2)}\n`, packageLock: `${JSON.stringify(lock, null, 2)}\n` };
}
