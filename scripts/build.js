// `npm run build`: bundles the server and the CLI from src/ into dist/ (dependencies stay in node_modules).
// Node then starts sandrun without compiling TypeScript at every start, which tsx costs (~1 s here).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}/dist`;

/**
 * dockerode is bundled, without its BuildKit modules (session, buildkit): they load gRPC and protobufjs (~0.1 s of
 * every start here) for `buildImage` with BuildKit, which sandrun never calls. Every other dependency stays external.
 */
const dockerodeWithoutBuildKitSession = {
  name: 'dockerode-without-buildkit-session',
  setup(build) {
    build.onResolve({ filter: /^dockerode$/ }, () => ({ path: fileURLToPath(import.meta.resolve('dockerode')) }));
    build.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (args) =>
      args.importer.includes('/node_modules/dockerode/') ? { path: args.path, namespace: 'sandrun-stub' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'sandrun-stub' }, () => ({
      contents: 'module.exports = function buildKitIsLeftOut() { throw new Error("BuildKit image builds are not part of the sandrun bundle"); };',
      loader: 'js',
    }));
  },
};

/**
 * commander is bundled too: every CLI command line loads it, and as one ES module it starts ~15 ms (CPU) sooner than as
 * its seven CommonJS files through Node's CommonJS loader and export lexer (measured here; docs/performance.md, CLI).
 */
const bundledCommander = {
  name: 'bundled-commander',
  setup(build) {
    build.onResolve({ filter: /^commander$/ }, () => ({ path: fileURLToPath(import.meta.resolve('commander')) }));
  },
};

/**
 * Kysely is bundled too: as published it is ~280 ES modules, which Node resolves, reads and compiles one by one at
 * every start of the server and of the CLI's database commands (~0.18 s of CPU here, measured with a bare import).
 */
const bundledKysely = {
  name: 'bundled-kysely',
  setup(build) {
    build.onResolve({ filter: /^kysely(\/helpers\/(postgres|sqlite))?$/ }, (args) => ({ path: fileURLToPath(import.meta.resolve(args.path)) }));
  },
};

rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/main.ts', 'src/cli/main.ts'],
  outbase: 'src',
  outdir,
  entryNames: '[dir]/[name]',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  packages: 'external',
  plugins: [dockerodeWithoutBuildKitSession, bundledCommander, bundledKysely],
  // The bundled CommonJS of dockerode and commander requires its own dependencies (and Node's modules) at run time.
  banner: { js: "import { createRequire as sandrunCreateRequire } from 'node:module'; const require = sandrunCreateRequire(import.meta.url);" },
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});

/**
 * The egress proxy is its own program: it runs in a container of sandrun/node:18 (Debian's Node 18), with this one
 * file mounted read-only, so everything it uses (zod too) is bundled into it and nothing newer than Node 18 is assumed.
 */
await build({
  absWorkingDir: root,
  entryPoints: ['src/egress/proxy/main.ts'],
  outfile: `${outdir}/egress-proxy.mjs`,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node18',
  logLevel: 'warning',
});
