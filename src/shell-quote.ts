// One POSIX-shell quoting rule, for every place sandrun writes a command line for `sh` (the launcher, chained models).

/** One `sh` word that means exactly `word`: plain words stay bare, anything else is single-quoted with `'` as `'\''`. */
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new Error('a command or environment value cannot contain a NUL byte');
  if (/^[A-Za-z0-9_/.,:@%+-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
