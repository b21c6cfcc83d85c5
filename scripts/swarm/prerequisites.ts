// Installs what a throw-away swarm cluster needs when it is absent (iproute2, nsenter, dockerd), or says why it cannot run.
import { execFileSync } from 'node:child_process';

const NEEDED: Record<string, string> = { ip: 'iproute2', nsenter: 'util-linux', dockerd: 'docker.io' };

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Returns undefined when a cluster can be made here, else the reason it cannot. */
export function ensureClusterPrerequisites(): string | undefined {
  if (process.platform !== 'linux') return 'a swarm cluster needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'a swarm cluster needs root (network namespaces, dockerd)';
  const missing = Object.keys(NEEDED).filter((command) => !has(command));
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((command) => NEEDED[command]!))];
    try {
      execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore', timeout: 180_000 });
      execFileSync('apt-get', ['install', '-y', '-q', ...packages], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch (error) {
      return `could not install ${packages.join(', ')}: ${(error as Error).message}`;
    }
  }
  const still = Object.keys(NEEDED).filter((command) => !has(command));
  return still.length > 0 ? `missing after install: ${still.join(', ')}` : undefined;
}
