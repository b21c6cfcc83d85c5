// `npm run images`: builds the runner images from Debian packages, without any container registry.
// Each image carries a label with the hash of its recipe; an image whose label matches is not rebuilt.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const imagesDir = dirname(fileURLToPath(import.meta.url));
const RECIPE_LABEL = 'sandrun.recipe';

interface ImageRecipe {
  name: string;
  /** Files whose content defines the image; any change triggers a rebuild. */
  files: string[];
  build: (recipe: ImageRecipe, recipeHash: string) => Promise<void>;
  dependsOnBase: boolean;
}

const BASE = 'sandrun/base:bookworm';

const recipes: ImageRecipe[] = [
  { name: BASE, files: ['base/build-rootfs.sh'], dependsOnBase: false, build: buildBase },
  { name: 'sandrun/python:3.11', files: ['python/Dockerfile'], dependsOnBase: true, build: dockerfileBuild('python') },
  { name: 'sandrun/node:18', files: ['node/Dockerfile'], dependsOnBase: true, build: dockerfileBuild('node') },
];

const started = Date.now();
const log = (message: string) => {
  process.stderr.write(`[images ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
};

function run(command: string, args: string[], options: { stdin?: NodeJS.ReadableStream; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.stderr?.on('data', (chunk: Buffer) => { err = (err + chunk.toString()).slice(-8000); });
    if (options.stdin && child.stdin) options.stdin.pipe(child.stdin);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${err.trim()}`));
    });
  });
}

async function recipeHash(recipe: ImageRecipe, baseHash: string | undefined): Promise<string> {
  const hash = createHash('sha256');
  for (const file of recipe.files) {
    hash.update(file).update('\0').update(await readFile(join(imagesDir, file))).update('\0');
  }
  if (recipe.dependsOnBase) hash.update(`base:${baseHash ?? ''}`);
  return hash.digest('hex').slice(0, 16);
}

async function currentRecipe(name: string): Promise<string | undefined> {
  try {
    const out = await run('docker', ['image', 'inspect', '--format', `{{ index .Config.Labels "${RECIPE_LABEL}" }}`, name]);
    return out.trim() || undefined;
  } catch {
    return undefined;
  }
}

async function buildBase(_recipe: ImageRecipe, hash: string): Promise<void> {
  const rootfs = await mkdtemp(join(tmpdir(), 'sandrun-rootfs-'));
  try {
    log(`debootstrap bookworm (minbase) into ${rootfs} — about a minute`);
    await run('bash', [join(imagesDir, 'base/build-rootfs.sh'), rootfs]);
    log(`importing ${BASE}`);
    const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await run('docker', ['import', '--change', `LABEL ${RECIPE_LABEL}=${hash}`, '-', BASE], { stdin: tar.stdout });
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
}

function dockerfileBuild(dir: string) {
  return async (recipe: ImageRecipe, hash: string): Promise<void> => {
    // BuildKit is absent on Debian's engine; the legacy builder resolves FROM against local images.
    const args = ['build', '-q', '--build-arg', `BASE=${BASE}`, '--label', `${RECIPE_LABEL}=${hash}`, '-t', recipe.name, join(imagesDir, dir)];
    await run('docker', args, { env: { DOCKER_BUILDKIT: '0' } });
  };
}

async function main(): Promise<void> {
  let baseHash: string | undefined;
  for (const recipe of recipes) {
    const hash = await recipeHash(recipe, baseHash);
    if (!recipe.dependsOnBase) baseHash = hash;
    if ((await currentRecipe(recipe.name)) === hash) {
      log(`${recipe.name} is current (recipe ${hash})`);
      continue;
    }
    log(`building ${recipe.name} (recipe ${hash})`);
    await recipe.build(recipe, hash);
    log(`built ${recipe.name}`);
  }
}

main().catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
