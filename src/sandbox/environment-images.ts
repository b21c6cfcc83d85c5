// Environment images on one engine (SPEC §9): what a base image is, whether an environment's image is there, its build and removal.
import type Dockerode from 'dockerode';
import { SandrunError } from '../errors.ts';
import { engineError, isNotFound } from './engine-errors.ts';
import { buildEnvironmentImage, ENVIRONMENT_LABEL, type BuildCaps, type BuiltImage, type EnvironmentBuild } from './environment-build.ts';

export interface BaseImage {
  id: string;
  /** The user its runs' processes would have (the environment image restores it after its root steps). */
  user: string;
}

/** The sandbox's part of environments; each backend has one (the swarm's puts the images on its nodes too). */
export interface EnvironmentImages {
  /** image_unavailable when the base is not on the engine. */
  base(image: string): Promise<BaseImage>;
  has(tag: string): Promise<boolean>;
  build(build: EnvironmentBuild, caps: BuildCaps, options?: { signal?: AbortSignal; onLog?: (text: string) => void }): Promise<BuiltImage>;
  /** Removes the image (and its copies); a missing one is no error. */
  remove(tag: string): Promise<void>;
  /** Tags of the environment images on the engine (the sweep's view of what exists). */
  list(): Promise<string[]>;
}

export class EngineEnvironmentImages implements EnvironmentImages {
  constructor(private readonly engine: Dockerode) {}

  async base(image: string): Promise<BaseImage> {
    try {
      const inspected = (await this.engine.getImage(image).inspect()) as { Id: string; Config?: { User?: string } | null };
      return { id: inspected.Id, user: inspected.Config?.User ?? '' };
    } catch (error) {
      if (isNotFound(error)) throw new SandrunError('image_unavailable', `image ${image} is not on the engine (build it with \`npm run images\`)`);
      throw engineError(error, `inspecting image ${image}`);
    }
  }

  async has(tag: string): Promise<boolean> {
    try {
      await this.engine.getImage(tag).inspect();
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw engineError(error, `inspecting image ${tag}`);
    }
  }

  build(build: EnvironmentBuild, caps: BuildCaps, options?: { signal?: AbortSignal; onLog?: (text: string) => void }): Promise<BuiltImage> {
    return buildEnvironmentImage(this.engine, build, caps, options);
  }

  async remove(tag: string): Promise<void> {
    try {
      await this.engine.getImage(tag).remove({ force: true });
    } catch (error) {
      if (!isNotFound(error)) throw engineError(error, `removing image ${tag}`);
    }
  }

  async list(): Promise<string[]> {
    try {
      const images = await this.engine.listImages({ filters: { label: [ENVIRONMENT_LABEL] } });
      return images.flatMap((image) => image.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>');
    } catch (error) {
      throw engineError(error, 'listing environment images');
    }
  }
}
