// A run's way out on a Docker engine (SPEC §11): its own network to the egress proxy, its credential and grants, and at its end what it moved.
import type Dockerode from 'dockerode';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EgressGrant } from '../../egress/egress-files.ts';
import type { SandboxSpec } from '../backend.ts';
import { EgressLedger, type EgressUsage } from '../../egress/egress-ledger.ts';
import { SandrunError } from '../../errors.ts';
import { EgressProxySupervisor } from './egress-proxy-supervisor.ts';
import { EGRESS_PROXY_ALIAS, EGRESS_PROXY_PORT } from './egress-spec.ts';

export interface EgressGatewaySettings {
  instanceId: string;
  /** An image with Node 18 or later for the proxy (SANDRUN_EGRESS_PROXY_IMAGE). */
  image: string;
  /** The bundled proxy program (dist/egress-proxy.mjs). */
  program: string;
  /** The directory shared with the proxy, under the data directory (a host path, as the engine sees it too). */
  dir: string;
  /** How long a run's end waits for the proxy's last count of it. */
  closeWaitMs: number;
}

/** What a run with grants meets on a server without the proxy (no SANDRUN_EGRESS_ALLOW): refused, never run without. */
export const noEgressProxy = () => new SandrunError('egress_denied', 'network.allow: this server has no egress proxy, so its runs cannot be given network access');

/** Whether a run gets a network (its project was granted destinations); without, its container has none at all. */
export const wantsNetwork = (spec: Pick<SandboxSpec, 'egress'>): boolean => (spec.egress?.length ?? 0) > 0;

export class EgressGateway {
  private readonly supervisor: EgressProxySupervisor;
  private readonly ledger: EgressLedger;
  /** The proxy's generation each container's network was last connected to. */
  private readonly connected = new Map<string, number>();

  constructor(docker: Dockerode, settings: EgressGatewaySettings) {
    if (!existsSync(settings.program)) {
      throw new SandrunError('internal', `the egress proxy program ${settings.program} is missing (node scripts/build.js makes it)`);
    }
    this.ledger = new EgressLedger({ dir: settings.dir, proxyAddress: `${EGRESS_PROXY_ALIAS}:${EGRESS_PROXY_PORT}`, closeWaitMs: settings.closeWaitMs });
    const programPath = publishProgram(settings.program, join(settings.dir, 'program'));
    this.supervisor = new EgressProxySupervisor(docker, { instanceId: settings.instanceId, image: settings.image, programPath, dir: settings.dir });
  }

  /**
   * A network of its own for a container about to be made (`owner`: its id, the run's or `pool-<uuid>`), with the proxy
   * on it; returns the network's name. Made ahead for a parked container, so that a run with grants can start warm.
   */
  async attach(owner: string): Promise<string> {
    const network = await this.supervisor.attach(owner);
    this.connected.set(owner, this.supervisor.generation);
    return network;
  }

  /** At a parked container's hand-over: the proxy is running, and on its network (it may have been made anew meanwhile). */
  async ready(owner: string): Promise<void> {
    await this.supervisor.ensureRunning();
    if (this.connected.get(owner) !== this.supervisor.generation) await this.attach(owner);
  }

  /** The run's grants from now on, and the environment that points it at the proxy with its own credential. */
  open(runId: string, grants: readonly EgressGrant[]): Record<string, string> {
    return this.ledger.open(runId, grants);
  }

  /** Once the run's command is over: its grants end (the proxy cuts what it still holds) and what it moved is returned. */
  close(runId: string): Promise<EgressUsage[]> {
    return this.ledger.close(runId);
  }

  /** Removes a container's network, once the container is gone or going (whatever is still on it is disconnected first). */
  async release(owner: string): Promise<void> {
    this.connected.delete(owner);
    await this.supervisor.detach(owner);
  }

  /** Grant files of runs that are not live, and networks older than `bornBefore` that no container uses (a crash left them). */
  async sweep(isLive: (runId: string) => boolean, bornBefore: number): Promise<void> {
    this.ledger.sweep(isLive);
    await this.supervisor.sweep(bornBefore);
  }

  /** A clean stop: the proxy and its outbound network go (the next start makes them again). */
  remove(): Promise<void> {
    return this.supervisor.remove();
  }
}

/**
 * Copies the proxy program into the shared directory under a name of its content, and returns that path. The engine
 * mounts it from there: it is a host path even when the server itself runs in a container (the data directory is
 * mounted at the same path), and a new program is a new name, which the supervisor takes as an upgrade.
 */
function publishProgram(source: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const name = `egress-proxy-${createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16)}.mjs`;
  for (const entry of readdirSync(dir)) if (entry !== name) rmSync(join(dir, entry), { force: true });
  const path = join(dir, name);
  if (!existsSync(path)) {
    copyFileSync(source, `${path}.tmp`);
    chmodSync(`${path}.tmp`, 0o644);
    renameSync(`${path}.tmp`, path);
  }
  return path;
}
