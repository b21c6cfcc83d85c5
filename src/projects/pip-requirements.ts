// Checks a tenant's requirements.txt before an environment build: PEP 508 names, versions, markers and --hash only; nothing that picks a source or runs code.
import { checkFileSize, environmentRefused, shown } from './environment-input.ts';
import type { SandrunError } from '../errors.ts';

export const MAX_REQUIREMENTS_BYTES = 64 * 1024;
export const MAX_REQUIREMENTS = 500;
/** Parentheses in a marker nest no deeper than this (the parser recurses). */
const MAX_MARKER_DEPTH = 16;

const SOURCES = "packages come only from the operator's index (SANDRUN_PIP_INDEX_URL / SANDRUN_PIP_FIND_LINKS)";
/** PEP 508's name rule (case-insensitive). */
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const NAME_RULE = "PEP 508: letters, digits, '.', '_' and '-', starting and ending with a letter or digit";
/** Characters pip could read as other lines (str.splitlines breaks at \v, \f, \x1c-\x1e, \x85, U+2028/9) or that have no place in the file. */
const CONTROL = /(?![\t\n\r])[\p{Cc}\u2028\u2029]/u;
/** pip installs a requirement that ends like an archive from that file, not from the index. */
const ARCHIVE = /\.(?:whl|zip|tar|tgz|tbz|txz|tlz|gz|bz2|xz|lz|lzma)$/i;
const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const HASH = /^(sha256|sha384|sha512):([0-9a-fA-F]+)$/;
const HASH_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
const VERSION_OPERATOR = /===|==|!=|<=|>=|~=|<|>/y;
const VERSION = /[A-Za-z0-9][A-Za-z0-9_.*+!-]*/y;
const MARKER_VARIABLES = new Set([
  'python_version',
  'python_full_version',
  'os_name',
  'sys_platform',
  'platform_release',
  'platform_system',
  'platform_version',
  'platform_machine',
  'platform_python_implementation',
  'implementation_name',
  'implementation_version',
  'extra',
]);
/** No spaces, quotes, '#', '$', '/' or ':': a marker string rebuilt into a requirements line must not be read as anything else. */
const MARKER_STRING = /^[A-Za-z0-9._*+!~-]*$/;

const OPTION_RULES: [readonly string[], string][] = [
  [
    ['-i', '--index-url', '--extra-index-url', '-f', '--find-links', '--trusted-host', '--no-index'],
    `is not allowed: ${SOURCES}`,
  ],
  [['-r', '--requirement', '-c', '--constraint'], 'is not allowed: sandrun reads no other requirement files'],
  [['-e', '--editable'], 'is not allowed: editable installs build from source; only wheels are installed'],
];

interface LogicalLine {
  line: number;
  text: string;
}

/**
 * The requirements of a requirements.txt as requirement lines to give pip (one per entry, `--hash` options kept), or
 * environment_failed naming the file, the line and the rule. The lines are rebuilt from what was parsed, so the build
 * must write these, never the tenant's file.
 */
export function checkRequirements(text: string, file: string): string[] {
  checkFileSize(file, text, MAX_REQUIREMENTS_BYTES);
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const control = CONTROL.exec(body);
  if (control) {
    const line = body.slice(0, control.index).split(/\r\n|\r|\n/).length;
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw refused(file, line, `contains the control character U+${code}; only printable text is allowed`);
  }
  const requirements: string[] = [];
  for (const { line, text: raw } of logicalLines(body)) {
    const content = raw.replace(/(^|\s+)#.*$/, '').trim();
    if (content === '') continue;
    requirements.push(parseEntry(content, file, line));
    if (requirements.length > MAX_REQUIREMENTS) {
      throw refused(file, line, `more than ${MAX_REQUIREMENTS} requirements: at most ${MAX_REQUIREMENTS} are allowed`);
    }
  }
  return requirements;
}

function refused(file: string, line: number, rule: string): SandrunError {
  return environmentRefused(`${file} line ${line}: ${rule}`, { file, line });
}

/** Joins continuation lines as pip does: a line ending in '\' continues unless it is a comment line. */
function logicalLines(text: string): LogicalLine[] {
  const lines: LogicalLine[] = [];
  let pending: LogicalLine | null = null;
  text.split(/\r\n|\r|\n/).forEach((physical, index) => {
    const isComment = /^\s*#/.test(physical);
    if (physical.endsWith('\\') && !isComment) {
      pending ??= { line: index + 1, text: '' };
      pending.text += physical.replace(/^\\+|\\+$/g, '');
      return;
    }
    const piece = isComment ? ` ${physical}` : physical;
    if (pending) {
      lines.push({ line: pending.line, text: pending.text + piece });
      pending = null;
    } else {
      lines.push({ line: index + 1, text: piece });
    }
  });
  if (pending) lines.push(pending);
  return lines;
}

/** The option a word starts with: '--name' up to any '=', or '-x' (a short option may carry its value attached). */
function optionName(word: string): string {
  return /^--[^\s=]*|^-[^\s]?/.exec(word)?.[0] ?? word;
}

function optionRule(name: string): string {
  for (const [names, rule] of OPTION_RULES) if (names.includes(name)) return rule;
  return 'is not allowed: a line holds a requirement (name, extras, versions, markers) and optionally --hash, nothing else';
}

/** One entry: the requirement (everything before the first word starting with '-', as pip splits it), then --hash options. */
function parseEntry(content: string, file: string, line: number): string {
  const words = content.split(/\s+/);
  const firstOption = words.findIndex((word) => word.startsWith('-'));
  if (firstOption === 0) {
    const name = optionName(content);
    throw refused(file, line, `'${shown(name)}' ${optionRule(name)}`);
  }
  const requirement = (firstOption === -1 ? words : words.slice(0, firstOption)).join(' ');
  const hashes = parseHashes(firstOption === -1 ? [] : words.slice(firstOption), file, line);
  const parsed = parseRequirement(requirement, file, line);
  return [parsed, ...hashes.map((hash) => `--hash=${hash}`)].join(' ');
}

function parseHashes(words: string[], file: string, line: number): string[] {
  const hashes: string[] = [];
  const values: string[] = [];
  let expectingValue = false;
  for (const word of words) {
    if (expectingValue) {
      values.push(word);
      expectingValue = false;
    } else if (word === '--hash') {
      expectingValue = true;
    } else if (word.startsWith('--hash=')) {
      values.push(word.slice('--hash='.length));
    } else {
      const name = optionName(word);
      throw refused(file, line, `'${shown(name)}' ${optionRule(name)}`);
    }
  }
  if (expectingValue) values.push('');
  for (const value of values) {
    const [, algorithm, digest] = HASH.exec(value) ?? [];
    if (algorithm === undefined || digest === undefined || digest.length !== HASH_HEX_LENGTH[algorithm]) {
      throw refused(file, line, `--hash '${shown(value)}' is not sha256:, sha384: or sha512: followed by the hex digest`);
    }
    hashes.push(`${algorithm}:${digest.toLowerCase()}`);
  }
  return hashes;
}

/** A PEP 508 requirement by name (no URL): name[extras] specifiers ; marker, rebuilt in a canonical spelling. */
function parseRequirement(requirement: string, file: string, line: number): string {
  const markerAt = requirement.indexOf(';');
  const head = markerAt === -1 ? requirement : requirement.slice(0, markerAt);
  const urlOrPath = refused(file, line, `'${shown(head)}': URLs and paths are not allowed: ${SOURCES}`);
  if (URL_SCHEME.test(head)) throw urlOrPath;
  if (requirement.includes('@')) {
    throw refused(file, line, `'${shown(requirement)}': direct references (name @ url) are not allowed: ${SOURCES}`);
  }
  if (/[/\\]/.test(head) || head.startsWith('.')) throw urlOrPath;
  if (ARCHIVE.test(head.trim())) {
    throw refused(file, line, `'${shown(head.trim())}' looks like an archive file, which pip would install from disk: ${SOURCES}`);
  }
  const scanner = new Scanner(head);
  const name = scanner.take(/[^\s[\](<>=!~,;]+/y);
  if (name === undefined || !NAME.test(name)) {
    throw refused(file, line, `'${shown(name ?? head)}' is not a valid package name (${NAME_RULE})`);
  }
  const extras = scanner.take(/\s*\[/y) === undefined ? [] : parseExtras(scanner, file, line);
  const specifiers = parseSpecifiers(scanner, file, line);
  if (!scanner.atEnd()) {
    throw refused(file, line, `'${shown(head.trim())}' is not a PEP 508 requirement: unexpected '${shown(scanner.rest())}'`);
  }
  let rebuilt = name + (extras.length > 0 ? `[${extras.join(',')}]` : '') + specifiers.join(',');
  if (markerAt !== -1) rebuilt += `; ${parseMarker(requirement.slice(markerAt + 1), file, line)}`;
  return rebuilt;
}

function parseExtras(scanner: Scanner, file: string, line: number): string[] {
  const extras: string[] = [];
  if (scanner.take(/\s*\]/y) !== undefined) return extras;
  for (;;) {
    scanner.take(/\s*/y);
    const extra = scanner.take(/[^\s,\]]+/y) ?? '';
    if (!NAME.test(extra)) throw refused(file, line, `extra '${shown(extra)}' is not a valid name (${NAME_RULE})`);
    extras.push(extra);
    if (scanner.take(/\s*\]/y) !== undefined) return extras;
    if (scanner.take(/\s*,/y) === undefined) throw refused(file, line, "extras must be a comma-separated list in '[...]'");
  }
}

function parseSpecifiers(scanner: Scanner, file: string, line: number): string[] {
  scanner.take(/\s*/y);
  if (scanner.atEnd()) return [];
  const parenthesized = scanner.take(/\(/y) !== undefined;
  const specifiers: string[] = [];
  do {
    scanner.take(/\s*/y);
    const operator = scanner.take(VERSION_OPERATOR);
    scanner.take(/\s*/y);
    const version = operator === undefined ? undefined : scanner.take(VERSION);
    if (operator === undefined || version === undefined) {
      throw refused(
        file,
        line,
        `'${shown(scanner.rest())}' is not a version specifier (an operator ==, !=, <=, >=, <, >, ~= or === and a version)`,
      );
    }
    specifiers.push(operator + version);
  } while (scanner.take(/\s*,/y) !== undefined);
  if (parenthesized && scanner.take(/\s*\)/y) === undefined) throw refused(file, line, "a '(' of versions is not closed");
  scanner.take(/\s*/y);
  return specifiers;
}

type MarkerToken = { kind: 'string'; value: string } | { kind: 'word'; value: string };

/** An environment marker, checked against PEP 508's grammar and rebuilt with single spaces and double quotes. */
function parseMarker(marker: string, file: string, line: number): string {
  const fail = (rule: string): SandrunError => refused(file, line, `marker '${shown(marker.trim())}': ${rule}`);
  const tokens: MarkerToken[] = [];
  const scanner = new Scanner(marker);
  for (scanner.take(/\s*/y); !scanner.atEnd(); scanner.take(/\s*/y)) {
    const quoted = scanner.take(/"[^"]*"|'[^']*'/y);
    if (quoted !== undefined) {
      const value = quoted.slice(1, -1);
      if (!MARKER_STRING.test(value)) {
        throw fail(`string '${shown(value)}' may hold only letters, digits and . _ * + ! ~ -`);
      }
      tokens.push({ kind: 'string', value });
      continue;
    }
    const word = scanner.take(/===|==|!=|<=|>=|~=|<|>|\(|\)|[A-Za-z_][A-Za-z0-9_]*/y);
    if (word === undefined) throw fail(`unexpected '${shown(scanner.rest())}'`);
    tokens.push({ kind: 'word', value: word });
  }
  let position = 0;
  const peek = (): MarkerToken | undefined => tokens[position];
  const isWord = (value: string): boolean => peek()?.kind === 'word' && peek()?.value === value;
  const value = (): string => {
    const token = tokens[position];
    if (token?.kind === 'string') {
      position += 1;
      return `"${token.value}"`;
    }
    if (token?.kind === 'word' && MARKER_VARIABLES.has(token.value)) {
      position += 1;
      return token.value;
    }
    throw fail(
      token === undefined
        ? 'ends where a value is expected'
        : `'${shown(token.value)}' is not a marker variable (${[...MARKER_VARIABLES].join(', ')}) or a quoted string`,
    );
  };
  const operator = (): string => {
    if (isWord('not')) {
      position += 1;
      if (!isWord('in')) throw fail("'not' must be followed by 'in'");
      position += 1;
      return 'not in';
    }
    const token = peek();
    if (token?.kind === 'word' && /^(?:===|==|!=|<=|>=|~=|<|>|in)$/.test(token.value)) {
      position += 1;
      return token.value;
    }
    throw fail(`expected a comparison (==, !=, <, <=, >, >=, ~=, ===, in, not in)`);
  };
  const expression = (depth: number): string => {
    if (isWord('(')) {
      if (depth >= MAX_MARKER_DEPTH) throw fail(`parentheses nest deeper than ${MAX_MARKER_DEPTH}`);
      position += 1;
      const inner = or(depth + 1);
      if (!isWord(')')) throw fail("a '(' is not closed");
      position += 1;
      return `(${inner})`;
    }
    return `${value()} ${operator()} ${value()}`;
  };
  const and = (depth: number): string => {
    const parts = [expression(depth)];
    while (isWord('and')) {
      position += 1;
      parts.push(expression(depth));
    }
    return parts.join(' and ');
  };
  const or = (depth: number): string => {
    const parts = [and(depth)];
    while (isWord('or')) {
      position += 1;
      parts.push(and(depth));
    }
    return parts.join(' or ');
  };
  const rebuilt = or(0);
  const extra = peek();
  if (extra !== undefined) throw fail(`unexpected '${shown(extra.value)}'`);
  return rebuilt;
}

/** Reads a string front to back with sticky regular expressions. */
class Scanner {
  private position = 0;
  constructor(private readonly text: string) {}

  /** The text the sticky pattern matches at the current position (and moves past it), or undefined. */
  take(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.position;
    const match = pattern.exec(this.text);
    if (!match) return undefined;
    this.position += match[0].length;
    return match[0];
  }

  atEnd(): boolean {
    return this.position >= this.text.length;
  }

  rest(): string {
    return this.text.slice(this.position);
  }
}
