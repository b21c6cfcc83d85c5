// Keeps this server's egress proxy container running on a Docker engine, and gives each run with grants its own network to it.
import type Dockerode from 'dockerode';
import { engineError, isNotFound } from '../engine-errors.ts';
import { INSTANCE_LABEL } from '../labels.ts';
import { createReplacing } from './parked-container.ts';
import {
  EGRESS_COMPONENT_LABEL,
  EGRESS_PROXY_ALIAS,
  egressOutboundNetworkOptions,
  egressProxyContainerOptions,
  egressProxyName,
  egressRunNetworkName,
  egressRunNetworkOptions,
  type EgressProxySettings,
} from './egress-spec.ts';

/** Engine answers that mean "already there" or "already gone": what a repeated setup or teardown finds. */
const isConflict = (error: unknown) => (error as { statusCode?: number }).statusCode === 409;

export class EgressProxySupervisor {
  /** The start under way, shared by the runs that find the proxy missing at once. */
  private starting: Promise<void> | undefined;

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

  /** Gives the run its own internal network with the proxy on it (as `egress-proxy`); returns the network's name. */
  async attachRun(runId: string): Promise<string> {
    await this.ensureRunning();
    const name = egressRunNetworkName(runId);
    try {
      await this.docker.createNetwork(egressRunNetworkOptions(runId, this.settings.instanceId));
    } catch (error) {
      if (!isConflict(error)) throw engineError(error, `creating the egress network of run ${runId}`);
    }
    try {
      await this.docker.getNetwork(name).connect({ Container: egressProxyName(this.settings.instanceId), EndpointConfig: { Aliases: [EGRESS_PROXY_ALIAS] } });
    } catch (error) {
      // Connected already: a retried run's first attempt did it.
      if (!(isConflict(error) || /already exists/i.test(String((error as { json?: { message?: string } }).json?.message)))) {
        throw engineError(error, `connecting the egress proxy to the network of run ${runId}`);
      }
    }
    return name;
  }

  /**
   * Takes the proxy and whatever else is still on it off the run's network and removes it: a finished run's container
   * may still be on its way out (its removal does not hold up the result).
   */
  async detachRun(runId: string): Promise<void> {
    const network = this.docker.getNetwork(egressRunNetworkName(runId));
    const members = await network.inspect().then(
      (info: { Containers?: Record<string, unknown> }) => Object.keys(info.Containers ?? {}),
      (error: unknown) => (isNotFound(error) ? undefined : Promise.reject(engineError(error, `inspecting the egress network of run ${runId}`))),
    );
    if (members === undefined) return;
    for (const container of members) {
      await network.disconnect({ Container: container, Force: true }).catch((error: unknown) => {
        if (!isNotFound(error) && !isConflict(error)) throw engineError(error, `disconnecting ${container} from the egress network of run ${runId}`);
      });
    }
    await network.remove().catch((error: unknown) => {
      if (!isNotFound(error)) throw engineError(error, `removing the egress network of run ${runId}`);
    });
  }

  /** Removes run networks of this server whose run is not live (a crash left them); returns how many. */
  async sweep(isLive: (runId: string) => boolean): Promise<number> {
    const networks = await this.docker
      .listNetworks({ filters: { label: [`${EGRESS_COMPONENT_LABEL}=run`, `${INSTANCE_LABEL}=${this.settings.instanceId}`] } })
      .catch((error: unknown) => Promise.reject(engineError(error, 'listing egress networks')));
    let removed = 0;
    for (const network of networks) {
      const runId = network.Labels?.['sandrun.run_id'];
      if (!runId || isLive(runId)) continue;
      await this.detachRun(runId);
      removed += 1;
    }
    return removed;
  }

  /** Removes the proxy and the outbound network (a clean stop; runs with grants must be over). */
  async remove(): Promise<void> {
    await this.docker
      .getContainer(egressProxyName(this.settings.instanceId))
      .remove({ force: true })
      .catch((error: unknown) => {
        if (!isNotFound(error)) throw engineError(error, 'removing the egress proxy');
      });
    await this.docker
      .getNetwork(egressOutboundNetworkOptions(this.settings.instanceId).Name)
      .remove()
      .catch((error: unknown) => {
        if (!isNotFound(error)) throw engineError(error, 'removing the egress outbound network');
      });
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
      : await createReplacing(this.docker, wanted).catch((error: unknown) => Promise.reject(engineError(error, 'creating the egress proxy')));
    await container.start().catch((error: unknown) => {
      // Started meanwhile (by the engine's restart policy): fine.
      if ((error as { statusCode?: number }).statusCode !== 304) throw engineError(error, 'starting the egress proxy');
    });
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
