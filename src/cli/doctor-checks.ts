// What `sandrun doctor` checks (configuration, data dir, engine, runtimes, images), each with what to do when it fails.
// It reads the engine with dockerode directly: read-only diagnostics the sandbox contract has no reason to expose.
import Dockerode from 'dockerode';
import { withEngineDeadline } from '../sandbox/engine-deadline.ts';
import { accessSync, constants, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../config.ts';
import { errorMessage } from '../errors.ts';

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

function checkDataDir(config: Config): Check {
  try {
    mkdirSync(config.dataDir, { recursive: true });
    accessSync(config.dataDir, constants.W_OK);
    const probe = join(config.dataDir, `.doctor-${process.pid}`);
    writeFileSync(probe, 'ok');
    rmSync(probe);
    const database = join(config.dataDir, 'sandrun.db');
    return { name: 'data dir', status: 'ok', detail: `${config.dataDir} is writable; database ${existsSync(database) ? 'present' : 'created at first start'}` };
  } catch (error) {
    return { name: 'data dir', status: 'fail', detail: `${config.dataDir}: ${errorMessage(error)}`, fix: `create it and let this user write it (mkdir -p ${config.dataDir}), or set SANDRUN_DATA_DIR` };
  }
}

async function checkEngine(config: Config, docker: Dockerode): Promise<Check[]> {
  let info: { ServerVersion?: string; Runtimes?: Record<string, unknown>; CgroupVersion?: string };
  try {
    await docker.ping();
    info = (await docker.info()) as typeof info;
  } catch (error) {
    return [{ name: 'engine', status: 'fail', detail: `the Docker engine does not answer (${errorMessage(error)})`, fix: 'start it (bash scripts/engine.sh installs and starts one), or set DOCKER_HOST' }];
  }
  const checks: Check[] = [{ name: 'engine', status: 'ok', detail: `Docker ${info.ServerVersion ?? '?'}, cgroup v${info.CgroupVersion ?? '?'}` }];
  const runtimes = Object.keys(info.Runtimes ?? {});
  checks.push(runtimes.includes('runc') ? { name: 'runtime runc', status: 'ok', detail: 'available' } : { name: 'runtime runc', status: 'fail', detail: 'not registered with the engine', fix: 'reinstall the engine (docker.io ships runc)' });
  const runscFix = 'apt-get install -y runsc; add {"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}} to /etc/docker/daemon.json; kill -HUP $(pidof dockerd)';
  if (runtimes.includes('runsc')) checks.push({ name: 'runtime runsc', status: 'ok', detail: 'available (gVisor)' });
  else if (config.runtime === 'runsc') checks.push({ name: 'runtime runsc', status: 'fail', detail: 'SANDRUN_RUNTIME=runsc but the engine has no runsc runtime', fix: runscFix });
  else checks.push({ name: 'runtime runsc', status: 'warn', detail: 'not installed (optional: gVisor, SANDRUN_RUNTIME=runsc)', fix: runscFix });
  for (const image of config.images) {
    try {
      await docker.getImage(image).inspect();
      checks.push({ name: `image ${image}`, status: 'ok', detail: 'present' });
    } catch {
      checks.push({ name: `image ${image}`, status: 'fail', detail: 'missing from the engine', fix: 'npm run images (builds the runner images from Debian packages, no registry needed)' });
    }
  }
  return checks;
}

export async function runChecks(env: NodeJS.ProcessEnv, docker: Dockerode = new Dockerode()): Promise<Check[]> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    return [{ name: 'config', status: 'fail', detail: errorMessage(error), fix: 'fix the SANDRUN_* variables named above (see README: Operating it)' }];
  }
  const major = Number(process.versions.node.split('.')[0]);
  return [
    { name: 'config', status: 'ok', detail: `listen ${config.host}:${config.port}, runtime ${config.runtime}, ${config.maxConcurrentRuns} runs at once` },
    major >= 20 ? { name: 'node', status: 'ok', detail: process.version } : { name: 'node', status: 'fail', detail: `${process.version}; sandrun needs Node 20 or later`, fix: 'install Node 20' },
    checkDataDir(config),
    // An engine that accepts the connection but never answers must fail the check, not hang the doctor.
    ...(await checkEngine(config, withEngineDeadline(docker, config.engineCallTimeoutMs))),
  ];
}
