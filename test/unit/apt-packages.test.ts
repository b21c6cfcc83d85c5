// Which Debian package names an environment may give apt (SPEC §9): names, optionally =version, nothing apt reads as more.
import { describe, expect, it } from 'vitest';
import { SandrunError } from '../../src/errors.ts';
import { APT_PACKAGE_NAME, checkAptPackages, MAX_APT_PACKAGES } from '../../src/projects/apt-packages.ts';

function refusal(names: string[]): SandrunError {
  try {
    checkAptPackages(names);
  } catch (error) {
    expect(error).toBeInstanceOf(SandrunError);
    return error as SandrunError;
  }
  throw new Error(`expected ${JSON.stringify(names)} to be refused`);
}

describe('checkAptPackages', () => {
  it.each([
    'python3-tabulate',
    'g++',
    'libstdc++6',
    'r-base',
    'python3.11',
    '0ad',
    'dvd+rw-tools',
    'python3-tabulate=0.8.10-1',
    'curl=7.88.1-10+deb12u5',
    'tzdata=2024a-0+deb12u1',
    'foo=1:2.3~rc1-4',
  ])('accepts %s', (name) => {
    expect(APT_PACKAGE_NAME.test(name)).toBe(true);
    expect(() => checkAptPackages([name])).not.toThrow();
  });

  it('accepts an empty list', () => {
    expect(() => checkAptPackages([])).not.toThrow();
  });

  it.each([
    ['-oAPT::Get::AllowUnauthenticated=true', "must not start with '-' (apt would read an option)"],
    ['--allow-unauthenticated', "must not start with '-' (apt would read an option)"],
    ['python3-tabulate/bookworm-backports', "must not contain '/': packages come from the host's Debian sources"],
    ['./local.deb', "must not contain '/'"],
    ['/tmp/evil.deb', "must not contain '/'"],
    ['curl wget', 'must not contain whitespace'],
    ['curl\n', 'must not contain whitespace'],
    ['Python3', 'is not a Debian package name: lowercase letters, digits'],
    ['a', 'is not a Debian package name'],
    ['+foo', 'is not a Debian package name'],
    ['.foo', 'is not a Debian package name'],
    ['foo:amd64', 'is not a Debian package name'],
    ['foo*', 'is not a Debian package name'],
    ['foo=', 'is not a Debian package name'],
    ['foo=-1', 'is not a Debian package name'],
    ['foo=1 2', 'must not contain whitespace'],
    ['foo=1/2', "must not contain '/'"],
    ['foo=$(id)', 'is not a Debian package name'],
    ['python3-', "must not end with '-' (apt would remove the package)"],
    ['python3-=1.0', "must not end with '-' (apt would remove the package)"],
  ])('refuses %j, naming its index and the rule', (name, rule) => {
    const error = refusal(['python3-tabulate', name]);
    expect(error.code).toBe('environment_failed');
    expect(error.message).toContain(`environment.apt[1]: '${JSON.stringify(name).slice(1, -1)}' ${rule}`);
    expect(error.details).toEqual({ field: 'environment.apt.1', name, log: error.message });
  });

  it(`refuses more than ${MAX_APT_PACKAGES} names`, () => {
    const names = Array.from({ length: MAX_APT_PACKAGES + 1 }, (_, i) => `pkg${i}`);
    expect(() => checkAptPackages(names.slice(0, MAX_APT_PACKAGES))).not.toThrow();
    expect(refusal(names).message).toBe(
      `environment.apt lists ${MAX_APT_PACKAGES + 1} packages: at most ${MAX_APT_PACKAGES} are allowed`,
    );
  });
});
