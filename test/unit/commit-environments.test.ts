// The per-commit cache of an environment's inputs and key: bounded in entries and in the declared files' bytes, the
// least recently used commit forgotten first; a refusal kept (a commit never changes), any other failure read again.
import { describe, expect, it } from 'vitest';
import { SandrunError } from '../../src/errors.ts';
import { CommitEnvironments } from '../../src/environments/commit-environments.ts';
import type { EnvironmentInputs } from '../../src/projects/environment-files.ts';

const npmProject = (lockfileChars: number): EnvironmentInputs => ({ apt: [], pip: null, npm: { file: 'package.json', packageJson: '{}', lockfile: 'x'.repeat(lockfileChars) } });

/** A cache whose reads are counted per key. */
function counted(limits: { maxEntries: number; maxBytes: number }, inputs: () => Promise<EnvironmentInputs>) {
  const cache = new CommitEnvironments(limits);
  const reads = new Map<string, number>();
  const get = async (key: string) => {
    const entry = cache.get(key, () => {
      reads.set(key, (reads.get(key) ?? 0) + 1);
      return inputs();
    });
    await entry.inputs.catch(() => undefined);
    return entry;
  };
  return { cache, reads, get };
}

describe('CommitEnvironments', () => {
  it('holds at most maxBytes of declared files: a third 1000-byte lockfile under 2500 bytes forgets the least recently used commit', async () => {
    const { cache, reads, get } = counted({ maxEntries: 100, maxBytes: 2500 }, () => Promise.resolve(npmProject(1000)));
    await get('a');
    await get('b');
    await get('a'); // a is now the more recently used
    await get('c');
    expect(cache.size, 'two commits of 1002 bytes each').toEqual({ entries: 2, bytes: 2004 });
    await get('a');
    await get('c');
    expect(Object.fromEntries(reads), 'a and c were held, not read again').toEqual({ a: 1, b: 1, c: 1 });
    await get('b');
    expect(reads.get('b'), 'b was forgotten and is read again').toBe(2);
  });

  it('holds at most maxEntries commits', async () => {
    const { cache, reads, get } = counted({ maxEntries: 2, maxBytes: 1024 ** 3 }, () => Promise.resolve(npmProject(10)));
    for (const key of ['a', 'b', 'c']) await get(key);
    expect(cache.size.entries).toBe(2);
    await get('a');
    expect(reads.get('a'), 'the oldest of three was forgotten').toBe(2);
  });

  it('keeps a refusal (the commit breaks the rule for good) and reads again after any other failure', async () => {
    const refused = counted({ maxEntries: 10, maxBytes: 1024 }, () => Promise.reject(new SandrunError('environment_failed', 'package-lock.json is missing')));
    await refused.get('a');
    await expect((await refused.get('a')).inputs).rejects.toThrow('package-lock.json is missing');
    expect(refused.reads.get('a'), 'a refusal is read once').toBe(1);

    const broken = counted({ maxEntries: 10, maxBytes: 1024 }, () => Promise.reject(new Error('git cat-file failed')));
    await broken.get('a');
    await broken.get('a');
    expect(broken.reads.get('a'), 'a failure that may pass is read again').toBe(2);
  });
});
