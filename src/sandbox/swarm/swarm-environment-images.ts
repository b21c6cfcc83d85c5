// The swarm's environment images (SPEC §9): built on one engine (a manager, or SANDRUN_SWARM_BUILD_HOST), then shipped to every node that runs tasks.
import type Dockerode from 'dockerode';
import { EngineEnvironmentImages, type BaseImage, type EnvironmentImages } from '../environment-images.ts';
import type { BuildCaps, BuiltImage, EnvironmentBuild } from '../environment-build.ts';
import type { EnvironmentDistribution } from './environment-distribution.ts';
import type { SwarmNodes } from './swarm-nodes.ts';

/**
 * What exists is what the build engine holds: `has` asks it alone, as a node that joins later (or lost its copy) must
 * cost a load at its next run (the backend's run ensures the image on every node), never a rebuild. A build ships the
 * image to the ready nodes at once, so that a ready environment is one the swarm can run.
 */
export class SwarmEnvironmentImages implements EnvironmentImages {
  private readonly onSource: EngineEnvironmentImages;

  constructor(
    source: Dockerode,
    private readonly nodes: SwarmNodes,
    private readonly distribution: EnvironmentDistribution,
  ) {
    this.onSource = new EngineEnvironmentImages(source);
  }

  base(image: string): Promise<BaseImage> {
    return this.onSource.base(image);
  }

  has(tag: string): Promise<boolean> {
    return this.onSource.has(tag);
  }

  async build(build: EnvironmentBuild, caps: BuildCaps, options: { signal?: AbortSignal; onLog?: (text: string) => void } = {}): Promise<BuiltImage> {
    const built = await this.onSource.build(build, caps, options);
    const nodes = [...(await this.nodes.ready()).values()];
    const started = performance.now();
    const loaded = await this.distribution.ensure(build.tag, nodes);
    options.onLog?.(`loaded the image onto ${loaded} of ${nodes.length} swarm node(s) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    return built;
  }

  /** From the build engine and every ready node; a node down meanwhile keeps its copy (see docs/decisions.md). */
  async remove(tag: string): Promise<void> {
    await this.onSource.remove(tag);
    this.distribution.forget(tag);
    const nodes = [...(await this.nodes.ready()).values()];
    await Promise.all(nodes.map((node) => new EngineEnvironmentImages(node.engine).remove(tag)));
  }

  list(): Promise<string[]> {
    return this.onSource.list();
  }
}
