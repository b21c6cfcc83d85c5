// What a project's requirements.txt may hold before an environment build (SPEC §9): requirements by name, nothing that picks a source.
import { describe, expect, it } from 'vitest';
import { SandrunError } from '../../src/errors.ts';
import { checkRequirements, MAX_REQUIREMENTS } from '../../src/projects/pip-requirements.ts';

const SHA256 = 'a'.repeat(64);
const SOURCES = "packages come only from the operator's index (SANDRUN_PIP_INDEX_URL / SANDRUN_PIP_FIND_LINKS)";

function refusal(text: string, file = 'requirements.txt'): SandrunError {
  try {
    checkRequirements(text, file);
  } catch (error) {
    expect(error).toBeInstanceOf(SandrunError);
    return error as SandrunError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe('checkRequirements accepts requirements by name', () => {
  it.each([
    ['tabulate==0.9.0', 'tabulate==0.9.0'],
    ['tabulate', 'tabulate'],
    ['Django>=4.2,<5', 'Django>=4.2,<5'],
    ['requests[socks]>=2,<3; python_version>"3.8"', 'requests[socks]>=2,<3; python_version > "3.8"'],
    ['requests [ socks , security ] >= 2 ; python_version > "3.8"', 'requests[socks,security]>=2; python_version > "3.8"'],
    ['numpy (>=1.24, <2)', 'numpy>=1.24,<2'],
    ['zope.interface~=6.0', 'zope.interface~=6.0'],
    ['my_pkg-name===1.0+local.1', 'my_pkg-name===1.0+local.1'],
    ['pandas==2.*', 'pandas==2.*'],
    ['pywin32; sys_platform == \'win32\'', 'pywin32; sys_platform == "win32"'],
    [
      'uvloop; (sys_platform != "win32" and implementation_name == "cpython") or extra == "fast"',
      'uvloop; (sys_platform != "win32" and implementation_name == "cpython") or extra == "fast"',
    ],
    ['foo; "linux" in sys_platform', 'foo; "linux" in sys_platform'],
    ['foo; os_name not in "nt"', 'foo; os_name not in "nt"'],
  ])('%s', (line, expected) => {
    expect(checkRequirements(`${line}\n`, 'requirements.txt')).toEqual([expected]);
  });

  it('skips blank lines and full-line and trailing comments, and keeps the order', () => {
    const text = '# the model\n\n   # indented comment\ntabulate==0.9.0  # pretty tables\r\nscipy>=1.11\n\n';
    expect(checkRequirements(text, 'requirements.txt')).toEqual(['tabulate==0.9.0', 'scipy>=1.11']);
  });

  it('keeps --hash options after a requirement, in either spelling, so pip checks them', () => {
    const text = `tabulate==0.9.0 --hash=sha256:${SHA256} --hash sha512:${'B'.repeat(128)}\n`;
    expect(checkRequirements(text, 'requirements.txt')).toEqual([
      `tabulate==0.9.0 --hash=sha256:${SHA256} --hash=sha512:${'b'.repeat(128)}`,
    ]);
  });

  it('joins lines ending with a backslash (as pip does) and names the first line in refusals', () => {
    const text = `tabulate==0.9.0 \\\n    --hash=sha256:${SHA256} \\\n    --hash=sha256:${'c'.repeat(64)}\nscipy\n`;
    expect(checkRequirements(text, 'requirements.txt')).toEqual([
      `tabulate==0.9.0 --hash=sha256:${SHA256} --hash=sha256:${'c'.repeat(64)}`,
      'scipy',
    ]);
    expect(refusal('scipy\nfoo \\\n  --index-url \\\n  https://evil.example\n').message).toMatch(
      /^requirements\.txt line 2: /,
    );
  });

  it('reads an empty file, or one of comments only, as no requirements', () => {
    expect(checkRequirements('', 'requirements.txt')).toEqual([]);
    expect(checkRequirements('# nothing yet\n\n', 'requirements.txt')).toEqual([]);
  });

  it('ignores a leading byte-order mark', () => {
    expect(checkRequirements('\uFEFFtabulate\n', 'requirements.txt')).toEqual(['tabulate']);
  });
});

describe('checkRequirements refuses what could pick a source or run code, naming the file, the line and the rule', () => {
  it('names the file as the manifest gave it, the line and the rule, as environment_failed', () => {
    const error = refusal('tabulate\n\n--index-url https://evil.example/simple\n', 'model/requirements.txt');
    expect(error.code).toBe('environment_failed');
    expect(error.status).toBe(422);
    expect(error.message).toBe(`model/requirements.txt line 3: '--index-url' is not allowed: ${SOURCES}`);
    expect(error.details, 'a refusal before any build is its own log').toEqual({ file: 'model/requirements.txt', line: 3, log: error.message });
  });

  it.each([
    ['-i https://evil.example/simple', '-i', SOURCES],
    ['-ihttps://evil.example/simple', '-i', SOURCES],
    ['--index-url=https://evil.example/simple', '--index-url', SOURCES],
    ['--extra-index-url https://evil.example/simple', '--extra-index-url', SOURCES],
    ['-f https://evil.example/wheels', '-f', SOURCES],
    ['--find-links=/tmp', '--find-links', SOURCES],
    ['--trusted-host evil.example', '--trusted-host', SOURCES],
    ['--no-index', '--no-index', SOURCES],
    ['-r other.txt', '-r', 'sandrun reads no other requirement files'],
    ['--requirement=other.txt', '--requirement', 'sandrun reads no other requirement files'],
    ['-c constraints.txt', '-c', 'sandrun reads no other requirement files'],
    ['-e .', '-e', 'editable installs build from source'],
    ['--editable git+https://evil.example/x.git', '--editable', 'editable installs build from source'],
    ['--pre', '--pre', 'a line holds a requirement'],
    ['--use-pep517', '--use-pep517', 'a line holds a requirement'],
    ['-', '-', 'a line holds a requirement'],
  ])('the option line %s', (line, option, rule) => {
    const message = refusal(`tabulate\n${line}\n`).message;
    expect(message).toContain(`requirements.txt line 2: '${option}' is not allowed: `);
    expect(message).toContain(rule);
  });

  it.each([
    ['--global-option=--x', "'--global-option' is not allowed"],
    ['--config-settings=editable_mode=compat', "'--config-settings' is not allowed"],
    ['--install-option=--prefix=/x', "'--install-option' is not allowed"],
    ['--index-url=https://evil.example', "'--index-url' is not allowed"],
    ['; python_version > "3.8 --index-url=https://evil.example"', "'--index-url' is not allowed"],
  ])('an option other than --hash after a requirement: %s', (option, rule) => {
    expect(refusal(`tabulate==0.9.0 ${option}\n`).message).toContain(`requirements.txt line 1: ${rule}`);
  });

  it.each([
    'tabulate @ https://evil.example/tabulate-0.9.0-py3-none-any.whl',
    'tabulate@https://evil.example/t.whl',
    'pkg @ git+https://evil.example/pkg.git',
    'pkg @ file:///tmp/pkg',
  ])('the direct reference %s', (line) => {
    expect(refusal(`${line}\n`).message).toMatch(
      /^requirements\.txt line 1: '.*': direct references \(name @ url\) are not allowed: packages come only from the operator's index/,
    );
  });

  it.each([
    'https://evil.example/tabulate-0.9.0.tar.gz',
    'http://evil.example/pkg',
    'git+https://evil.example/pkg.git#egg=pkg',
    'git+ssh://git@evil.example/pkg.git',
    'file:pkg',
    'file:///tmp/pkg',
    './pkg',
    '../pkg',
    '.',
    '/abs/pkg',
    'pkg/sub',
    'C:\\pkg',
  ])('the URL or path %s', (line) => {
    expect(refusal(`${line}\n`).message).toMatch(
      /^requirements\.txt line 1: '.*': URLs and paths are not allowed: packages come only from the operator's index/,
    );
  });

  it.each(['tabulate-0.9.0-py3-none-any.whl', 'pkg.tar.gz', 'pkg.zip', 'pkg==1.tar'])(
    'the archive file name %s, which pip would install from disk',
    (line) => {
      expect(refusal(`${line}\n`).message).toMatch(
        /^requirements\.txt line 1: '.*' looks like an archive file, which pip would install from disk/,
      );
    },
  );

  it.each([
    ['-leading', /'-l' is not allowed/],
    ['_private', /'_private' is not a valid package name \(PEP 508: /],
    ['trailing-', /'trailing-' is not a valid package name/],
    ['na$me', /'na\$me' is not a valid package name/],
    ['${HOME}', /'\$\{HOME\}' is not a valid package name/],
    ['naïve', /'na\\u00efve'|'naïve' is not a valid package name/],
    ['[extra]', /is not a valid package name/],
    ['pkg[bad extra!]', /extra 'bad' is not a valid name|extras must be a comma-separated list/],
    ['pkg[-x]', /extra '-x' is not a valid name/],
    ['pkg==', /'' is not a version specifier/],
    ['pkg 1.0', /'1.0' is not a version specifier/],
    ['pkg=1.0', /'=1.0' is not a version specifier/],
    ['pkg==1.0 extra', /'extra' is not a version specifier|unexpected/],
    ['pkg (>=1', /a '\(' of versions is not closed/],
  ])('the malformed requirement %s', (line, rule) => {
    const message = refusal(`${line}\n`).message;
    expect(message).toMatch(/^requirements\.txt line 1: /);
    expect(message).toMatch(rule);
  });

  it.each([
    ['pkg; python_version > "3.8" or', /ends where a value is expected/],
    ['pkg; os_environ == "x"', /'os_environ' is not a marker variable/],
    ['pkg; python_version "3"', /expected a comparison/],
    ['pkg; python_version not "3"', /'not' must be followed by 'in'/],
    ['pkg; (python_version > "3"', /a '\(' is not closed/],
    ['pkg; python_version > "3" )', /unexpected '\)'/],
    ['pkg; python_version > "${X}"', /string '\$\{X\}' may hold only letters, digits/],
    ['pkg; platform_release == "x:y"', /string 'x:y' may hold only/],
    [`pkg; ${'('.repeat(40)}python_version > "3"${')'.repeat(40)}`, /parentheses nest deeper than 16/],
  ])('the malformed marker in %s', (line, rule) => {
    const message = refusal(`${line}\n`).message;
    expect(message).toMatch(/^requirements\.txt line 1: marker '/);
    expect(message).toMatch(rule);
  });

  it.each([
    ['--hash=md5:0123456789abcdef0123456789abcdef', 'md5'],
    ['--hash=sha256:abc', 'too short'],
    [`--hash=sha256:${'g'.repeat(64)}`, 'not hex'],
    ['--hash', 'without a value'],
  ])('a hash that pip could not check: %s (%s)', (option) => {
    expect(refusal(`tabulate==0.9.0 ${option}\n`).message).toMatch(
      /^requirements\.txt line 1: --hash '.*' is not sha256:, sha384: or sha512: followed by the hex digest/,
    );
  });

  it.each([
    ['000B', '\u000b'],
    ['000C', '\u000c'],
    ['0085', '\u0085'],
    ['2028', '\u2028'],
    ['0000', '\u0000'],
  ])('a character pip could read as a line break or that has no place in text (U+%s), even inside a comment', (code, character) => {
    const message = refusal(`tabulate\n# note${character}--index-url https://evil.example\n`).message;
    expect(message).toBe(
      `requirements.txt line 2: contains the control character U+${code}; only printable text is allowed`,
    );
  });

  it('a line that continues into a comment keeps the comment a comment (as pip reads it)', () => {
    expect(checkRequirements('tabulate \\\n# --index-url https://evil.example\nscipy\n', 'requirements.txt')).toEqual([
      'tabulate',
      'scipy',
    ]);
  });
});

describe('checkRequirements caps', () => {
  it(`refuses more than ${MAX_REQUIREMENTS} requirements, naming the line and the cap`, () => {
    const lines = Array.from({ length: MAX_REQUIREMENTS + 1 }, (_, i) => `pkg${i}`);
    expect(checkRequirements(lines.slice(0, MAX_REQUIREMENTS).join('\n'), 'requirements.txt')).toHaveLength(
      MAX_REQUIREMENTS,
    );
    expect(refusal(lines.join('\n')).message).toBe(
      `requirements.txt line ${MAX_REQUIREMENTS + 1}: more than ${MAX_REQUIREMENTS} requirements: at most ${MAX_REQUIREMENTS} are allowed`,
    );
  });

  it('refuses a file over 64 KiB before reading it, naming its size and the cap', () => {
    const text = `# ${'x'.repeat(64 * 1024)}\ntabulate\n`;
    const error = refusal(text);
    expect(error.message).toBe(
      `requirements.txt is ${Buffer.byteLength(text)} bytes: at most 64 KiB is allowed`,
    );
    expect(error.details).toMatchObject({ file: 'requirements.txt', max_bytes: 65536 });
  });
});
