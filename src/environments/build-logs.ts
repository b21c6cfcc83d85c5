// The logs of builds under way: a bounded tail per environment and the followers who see each line as it comes.
import { BUILD_LOG_TAIL_BYTES } from '../sandbox/environment-build.ts';

export type BuildLogEvent = { kind: 'log'; text: string } | { kind: 'end' };
export type BuildLogListener = (event: BuildLogEvent) => void;

export class BuildLogs {
  private readonly builds = new Map<string, { tail: string; listeners: Set<BuildLogListener> }>();

  open(key: string): void {
    if (!this.builds.has(key)) this.builds.set(key, { tail: '', listeners: new Set() });
  }

  push(key: string, text: string): void {
    const build = this.builds.get(key);
    if (!build) return;
    build.tail = (build.tail + text).slice(-BUILD_LOG_TAIL_BYTES);
    for (const listener of build.listeners) listener({ kind: 'log', text });
  }

  tail(key: string): string {
    return this.builds.get(key)?.tail ?? '';
  }

  isOpen(key: string): boolean {
    return this.builds.has(key);
  }

  /** Follows a build under way; false when none is (the caller reads the stored log instead). */
  follow(key: string, listener: BuildLogListener): (() => void) | false {
    const build = this.builds.get(key);
    if (!build) return false;
    build.listeners.add(listener);
    return () => build.listeners.delete(listener);
  }

  close(key: string): void {
    const build = this.builds.get(key);
    if (!build) return;
    this.builds.delete(key);
    for (const listener of build.listeners) listener({ kind: 'end' });
  }
}
