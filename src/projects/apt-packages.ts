// Decides which Debian package names an environment may ask apt for: names (optionally =version) only, never options, releases or paths.
import { environmentRefused, shown } from './environment-input.ts';

export const MAX_APT_PACKAGES = 200;
/** Debian policy §5.6.1 (lowercase letters, digits, + - .; two characters or more; alphanumeric first), then an optional =VERSION. */
export const APT_PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9][A-Za-z0-9.+~:-]*)?$/;
const NAME_RULE =
  "a Debian package name: lowercase letters, digits, '+', '-' and '.', at least 2 characters, starting with a letter " +
  'or digit, optionally =VERSION';

/** Why apt must not be given this name, or null when it is a package name (optionally =version) and nothing else. */
export function aptPackageProblem(name: string): string | null {
  if (name.startsWith('-')) return "must not start with '-' (apt would read an option)";
  if (name.includes('/')) return "must not contain '/': packages come from the host's Debian sources, not a named release";
  if (/\s/.test(name)) return 'must not contain whitespace';
  if (!APT_PACKAGE_NAME.test(name)) return `is not ${NAME_RULE}`;
  // apt-get reads a trailing '-' as "remove this package".
  if (name.replace(/=.*$/, '').endsWith('-')) return "must not end with '-' (apt would remove the package)";
  return null;
}

/** Refuses (environment_failed, naming environment.apt[i] and the rule) a list apt must not be given. */
export function checkAptPackages(names: string[]): void {
  if (names.length > MAX_APT_PACKAGES) {
    throw environmentRefused(
      `environment.apt lists ${names.length} packages: at most ${MAX_APT_PACKAGES} are allowed`,
      { field: 'environment.apt', count: names.length, max: MAX_APT_PACKAGES },
    );
  }
  names.forEach((name, index) => {
    const problem = aptPackageProblem(name);
    if (problem !== null) {
      throw environmentRefused(`environment.apt[${index}]: '${shown(name)}' ${problem}`, {
        field: `environment.apt.${index}`,
        name,
      });
    }
  });
}
