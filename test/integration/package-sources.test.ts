// The environment-build fixtures are real: the wheel imports in the Python image, the registry serves what the lockfile names.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockfileFor, makeWheelDir, startNpmRegistry, type NpmRegistry, type WheelDir } from '../helpers/package-sources.ts';

const run = promisify(execFile);

// Opens the wheel as pip would (zipfile), checks every RECORD hash, unpacks it and imports the module from there.
const CHECK_WHEEL_PY = `
import base64, hashlib, json, os, sys, tarfile, zipfile
wheel = zipfile.ZipFile('/wheels/' + os.environ['WHEEL'])
bad = wheel.testzip()
records = [line.split(',') for line in wheel.read('sandrun_hello-1.0.dist-info/RECORD').decode().splitlines()]
mismatched = [path for path, digest, size in records if digest and digest != 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(wheel.read(path)).digest()).rstrip(b'=').decode()]
wheel.extractall('/tmp/site')
sys.path.insert(0, '/tmp/site')
import sandrun_hello
sdist = tarfile.open('/wheels/' + os.environ['SDIST']).getnames()
print(json.dumps({'bad': bad, 'records': len(records), 'mismatched': mismatched, 'greeting': sandrun_hello.greet('x'), 'sdist': sdist, 'files': sorted(os.listdir('/wheels'))}))
`;

// From a container on the registry's network: each resolved URL of the lockfile, its bytes' sha512 against the lock's
// integrity, and each package's packument.
const FETCH_LOCKED_JS = `
const crypto = require('crypto');
(async () => {
  const lock = JSON.parse(process.env.LOCK);
  const out = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '') continue;
    const name = key.slice('node_modules/'.length);
    const packument = await (await fetch(process.env.REGISTRY + name)).json();
    const tarball = await fetch(entry.resolved);
    const bytes = Buffer.from(await tarball.arrayBuffer());
    out.push({ name, status: tarball.status, integrity: 'sha512-' + crypto.createHash('sha512').update(bytes).digest('base64'),
      locked: entry.integrity, packumentTarball: packument.versions[entry.version].dist.tarball,
      packumentIntegrity: packument.versions[entry.version].dist.integrity, resolved: entry.resolved });
  }
  console.log(JSON.stringify(out));
})().catch((error) => { console.error(error); process.exit(1); });
`;

async function dockerNames(kind: 'ps' | 'network', name: string): Promise<string> {
  const args = kind === 'ps' ? ['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Names}}'] : ['network', 'ls', '--filter', `name=${name}`, '--format', '{{.Name}}'];
  return (await run('docker', args)).stdout.trim();
}

describe('a wheel directory the test writes', () => {
  let wheels: WheelDir;
  beforeAll(async () => {
    wheels = await makeWheelDir();
  });
  afterAll(() => rmSync(wheels.dir, { recursive: true, force: true }));

  it('holds a valid pure-Python wheel that imports in sandrun/python:3.11, and an sdist with no wheel beside it', async () => {
    const { stdout } = await run('docker', [
      'run', '--rm', '--network', 'none', '-v', `${wheels.dir}:/wheels:ro`,
      '-e', `WHEEL=${wheels.wheels[0]}`, '-e', `SDIST=${wheels.sdists[0]}`,
      'sandrun/python:3.11', 'python3', '-c', CHECK_WHEEL_PY,
    ]);
    const seen = JSON.parse(stdout);
    expect(seen.bad, 'first corrupt zip entry').toBeNull();
    expect(seen.mismatched, 'RECORD entries whose sha256 does not match').toEqual([]);
    expect(seen.records).toBe(5);
    expect(seen.greeting).toBe('hello, x (sandrun_hello 1.0)');
    expect(seen.sdist).toContain('sandrun_sdistonly-1.0/setup.py');
    expect(seen.files).toEqual(['sandrun_hello-1.0-py3-none-any.whl', 'sandrun_sdistonly-1.0.tar.gz']);
  });
});

describe('an npm registry on a Docker network the test makes', () => {
  let registry: NpmRegistry;
  beforeAll(async () => {
    registry = await startNpmRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('serves, to a container on its network, the tarballs a lockfile resolves there, with the integrity it records', async () => {
    const project = lockfileFor(registry.packages, registry.url);
    expect(JSON.parse(project.packageJson).dependencies).toEqual({ 'sandrun-plain': '1.0.0', 'sandrun-install-script': '1.0.0' });
    const { stdout } = await run('docker', [
      'run', '--rm', '--network', registry.network, '-e', `LOCK=${project.packageLock}`, '-e', `REGISTRY=${registry.url}`,
      'sandrun/node:18', 'node', '-e', FETCH_LOCKED_JS,
    ]);
    const fetched = JSON.parse(stdout);
    expect(fetched.map((entry: any) => entry.name)).toEqual(['sandrun-plain', 'sandrun-install-script']);
    for (const entry of fetched) {
      expect(entry.status, `${entry.resolved}`).toBe(200);
      expect(entry.integrity, `sha512 of ${entry.resolved}`).toBe(entry.locked);
      expect(entry.packumentIntegrity, `packument of ${entry.name}`).toBe(entry.locked);
      expect(entry.packumentTarball).toBe(entry.resolved);
    }
    expect(fetched[1].resolved).toBe('http://registry:4873/sandrun-install-script/-/sandrun-install-script-1.0.0.tgz');
    const lock = JSON.parse(project.packageLock);
    expect(lock.packages['node_modules/sandrun-install-script'].hasInstallScript).toBe(true);
    expect(lock.packages['node_modules/sandrun-plain'].hasInstallScript).toBeUndefined();
    expect((await registry.requests()).map((request) => `${request.path} ${request.status}`)).toEqual([
      '/sandrun-plain 200', '/sandrun-plain/-/sandrun-plain-1.0.0.tgz 200',
      '/sandrun-install-script 200', '/sandrun-install-script/-/sandrun-install-script-1.0.0.tgz 200',
    ]);
  });

  it('leaves no container or network behind once stopped', async () => {
    const other = await startNpmRegistry([]);
    expect(await dockerNames('ps', other.container)).toBe(other.container);
    await other.stop();
    expect(await dockerNames('ps', other.container), 'containers left').toBe('');
    expect(await dockerNames('network', other.network), 'networks left').toBe('');
  });
});
