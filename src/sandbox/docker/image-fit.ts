// What the Docker backend learns about an image: whether it can take the launcher (it needs `sh` to run it and `tar`
// to hand over /outputs). An image found unfit runs every later run on the direct path (direct-runner.ts).
import { SandrunError } from '../../errors.ts';
import type { LauncherReady } from './launcher-session.ts';

/** What the engine's init (tini) says when the image has no `sh` for the launcher. */
const NO_SHELL = /exec sh failed: No such file or directory/;

/** The image cannot take the launcher: this run (the command never started) and the image's later ones go direct. */
export class LauncherUnavailable extends SandrunError {
  constructor(message: string) {
    super('internal', message);
  }
}

/** A launcher that ended before the run started, with what it said: an image without a shell, or something else. */
export function isNoShell(exitCode: number, said: string): boolean {
  return exitCode === 127 && NO_SHELL.test(said);
}

/** Throws LauncherUnavailable when the launcher's ready line says the image has no `tar`. */
export function assertLauncherFit(image: string, ready: LauncherReady | undefined): void {
  if (ready?.hasTar === false) throw new LauncherUnavailable(`image ${image} has no tar to hand over /outputs through the launcher`);
}

export class ImageFit {
  /** Images found unfit for the launcher, for the life of the process. */
  private readonly unfit = new Set<string>();

  needsDirectPath(image: string): boolean {
    return this.unfit.has(image);
  }

  markUnfit(image: string): void {
    this.unfit.add(image);
  }
}
