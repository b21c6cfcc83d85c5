// Keeps this server's egress proxy container running on a Docker engine, and gives each run with grants its own network to it.
import type Dockerode from 'dockerode';
import { existsSync, rmSync } from 'node:fs';
import { proxyReadyPath } from '../../egress/egress-files.ts';
import { SandrunError } from '../../errors.ts';
import { delay } from '../../delay.ts';
import { engineError, isNotFound } from '../engine-errors.ts';
import { createReplacing } from './create-replacing.ts';
import { isConflict, removeEgressProxy, removeRunNetwork, sweepRunNetworks } from './egress-networks.ts';
import {
  EGRESS_PROXY_ALIAS,
  egressOutboundNetworkOptions,
  egressProxyContainerOptions,
  egressProxyName,
  egressRunNetworkName,
  egressRunNetworkOptions,
  type EgressProxySettings,
} from './egress-spec.ts';

/** How long a started proxy may take to listen (Node's start on a slow, busy machine takes a second or two). */
const READY_TIMEOUT_MS = 20_000;

export class EgressProxySupervisor {
  /** The start under way, shared by the runs that find the proxy missing at once. */
  private starting: Promise<void> | undefined;
  /** How many times this process made the proxy's container: a new one is on none of the networks made before. */
  private made = 0;

  constructor(
    private readonly docker: Dockerode,
    private readonly settings: EgressProxySettings,
  ) {}

  /**
   * Makes sure the outbound network and the proxy exist and the proxy runs this server's program and image: it is made
   * when missing, replaced when it is another's (an upgrade), started when stopped. The engine restarts it whenever it
   * exits (its restart policy); this check, before each run with grants, covers its removal and a stop.
   */
  async ensureRunning(): Promise<void> {
    const state = await this.inspectProxy();
    if (state?.running && state.current) return;
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    await this.starting;
  }

  /** Changes whenever the proxy's container is made anew (networks made before no longer have it). */
  get generation(): number {
    return this.made;
  }

  /**
   * Gives a container (`owner`: the run id for one made for its run, `pool-<uuid>` for a parked one) its own internal
   * network with the proxy on it (as `egress-proxy`); returns the network's name. Repeating it is harmless: it
   * connects the proxy again when the proxy was made anew meanwhile.
   */
  async attach(owner: string): Promise<string> {
    await this.ensureRunning();
    const name = egressRunNetworkName(owner);
    try {
      await this.docker.createNetwork(egressRunNetworkOptions(owner, this.settings.instanceId));
    } catch (error) {
      if (!isConflict(error)) throw engineError(error, `creating the egress network of container sandrun-${owner}`);
    }
    try {
      await this.docker.getNetwork(name).connect({ Container: egressProxyName(this.settings.instanceId), EndpointConfig: { Aliases: [EGRESS_PROXY_ALIAS] } });
    } catch (error) {
      // Connected already: a retried run's first attempt, or a parked container handed over, did it.
      if (!(isConflict(error) || /already exists/i.test(String((error as { json?: { message?: string } }).json?.message)))) {
        throw engineError(error, `connecting the egress proxy to the network of container sandrun-${owner}`);
      }
    }
    return name;
  }

  /** Takes the proxy and whatever else is still on it off the container's network and removes the network. */
  detach(owner: string): Promise<void> {
    return removeRunNetwork(this.docker, owner);
  }

  /** Removes this server's run networks made before `bornBefore` that nothing but the proxy is on; returns how many. */
  async sweep(bornBefore: number): Promise<number> {
    return (await sweepRunNetworks(this.docker, this.settings.instanceId, bornBefore)).removed;
  }

  /** Removes the proxy and the outbound network (a clean stop; runs with grants must be over). */
  remove(): Promise<void> {
    return removeEgressProxy(this.docker, this.settings.instanceId);
  }


  private async start(): Promise<void> {
    try {
      await this.docker.createNetwork(egressOutboundNetworkOptions(this.settings.instanceId));
    } catch (error) {
      if (!isConflict(error)) throw engineError(error, 'creating the egress outbound network');
    }
    const wanted = egressProxyContainerOptions(this.settings);
    const state = await this.inspectProxy();
    if (state?.running && state.current) return;
    if (state && !state.current) {
      await this.docker.getContainer(wanted.name!).remove({ force: true }).catch((error: unknown) => Promise.reject(engineError(error, 'replacing the egress proxy')));
    }
    const container = state?.current
      ? this.docker.getContainer(wanted.name!)
      : await createReplacing(this.docker, wanted).then(
          (created) => ((this.made += 1), created),
          (error: unknown) => Promise.reject(engineError(error, 'creating the egress proxy')),
        );
    rmSync(proxyReadyPath(this.settings.dir), { force: true });
    await container.start().catch((error: unknown) => {
      // Started meanwhile (by the engine's restart policy): fine.
      if ((error as { statusCode?: number }).statusCode !== 304) throw engineError(error, 'starting the egress proxy');
    });
    await this.untilListening();
  }

  /** Waits for the proxy's word that it listens (a run started before would find its connections refused). */
  private async untilListening(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!existsSync(proxyReadyPath(this.settings.dir))) {
      if (Date.now() > deadline) {
        throw new SandrunError(
          'internal',
          `the egress proxy did not start listening within ${READY_TIMEOUT_MS / 1000} s; its log: docker logs ${egressProxyName(this.settings.instanceId)}`,
        );
      }
      await delay(50);
    }
  }

  /** The proxy's container: whether it runs, and whether it is this server's (same image, same program mounted). */
  private async inspectProxy(): Promise<{ running: boolean; current: boolean } | undefined> {
    const wanted = egressProxyContainerOptions(this.settings);
    try {
      const info = await this.docker.getContainer(egressProxyName(this.settings.instanceId)).inspect();
      const current = info.Config.Image === wanted.Image && (info.HostConfig.Binds ?? []).join('\n') === (wanted.HostConfig?.Binds ?? []).join('\n');
      return { running: info.State.Running, current };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw engineError(error, 'inspecting the egress proxy');
    }
  }
}
