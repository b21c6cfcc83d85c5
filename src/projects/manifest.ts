// sandrun.yaml (SPEC §4): parsed with line numbers, validated strictly, and resolved with the models/NAME.py convention.
import { z } from 'zod';
import { SandrunError } from '../errors.ts';
import type { YamlParser } from './yaml-parser.ts';
import { aptPackageProblem, MAX_APT_PACKAGES } from './apt-packages.ts';
import { shown } from './environment-input.ts';
import { DESTINATION_FORM, parseDestination, type Destination } from '../egress/destination.ts';

export const MANIFEST_FILE = 'sandrun.yaml';
export const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

// Missing and wrong-typed values get different words, so "models.x.command: missing" is not read as a type error.
const expected = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? `missing; expected ${what}` : `expected ${what}`;
const positiveNumber = z.number({ error: expected('a positive number') }).positive({ error: 'expected a positive number' });
const positiveInteger = z
  .number({ error: expected('a positive integer') })
  .int({ error: 'expected a positive integer' })
  .positive({ error: 'expected a positive integer' });
const image = z.string({ error: expected('an image name (a string)') }).min(1, { error: 'must not be empty' });
const command = z
  .array(z.string({ error: expected('a string') }).min(1, { error: 'must not be an empty string' }), {
    error: expected('an array of strings, e.g. ["python", "main.py"]'),
  })
  .min(1, { error: 'must not be empty' });

const limitFields = {
  timeout_seconds: positiveNumber.optional(),
  memory_mb: positiveInteger.optional(),
  cpus: positiveNumber.optional(),
  pids: positiveInteger.optional(),
};

// YAML is read with mapAsMap so that model order survives (a plain object would move `2024:` before `b:`).
const mapToObject = (value: unknown): unknown => (value instanceof Map ? Object.fromEntries(value) : value);
const stringKeys = (value: unknown): unknown =>
  value instanceof Map
    ? new Map([...value].map(([key, item]): [unknown, unknown] => [typeof key === 'number' || typeof key === 'boolean' ? String(key) : key, item]))
    : value;

// A file of the repository named by the manifest: relative, inside the repository, no `.` or `..` segments.
const REPO_FILE = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
const repoFile = z
  .string({ error: expected('a path of a file in the repository, e.g. requirements.txt') })
  .max(200, { error: 'must be at most 200 characters' })
  .regex(REPO_FILE, { error: 'must be a relative path inside the repository (letters, digits, _ . - and /; no . or .. segments)' });
const environmentSchema = z.preprocess(
  mapToObject,
  z.strictObject(
    {
      apt: z
        .array(
          z.string({ error: expected('a Debian package name') }).superRefine((name, context) => {
            const problem = aptPackageProblem(name);
            if (problem !== null) context.addIssue({ code: 'custom', message: `'${shown(name)}' ${problem}` });
          }),
          { error: expected('a list of Debian package names, e.g. [python3-tabulate]') },
        )
        .max(MAX_APT_PACKAGES, { error: `at most ${MAX_APT_PACKAGES} packages` })
        .optional(),
      pip: repoFile.optional(),
      npm: repoFile.regex(/(?:^|\/)package\.json$/, { error: 'must name a package.json (with its package-lock.json beside it)' }).optional(),
    },
    { error: expected('a mapping with keys apt, pip, npm') },
  ),
);

/** A project names few destinations; each becomes a grant the egress proxy checks on every connection. */
export const MAX_NETWORK_DESTINATIONS = 32;
const networkSchema = z.preprocess(
  mapToObject,
  z.strictObject(
    {
      allow: z
        .array(
          z.string({ error: expected(`a destination, ${DESTINATION_FORM}`) }).transform((text, context): Destination => {
            const parsed = parseDestination(text);
            if (parsed.problem === undefined) return parsed.value;
            context.addIssue({ code: 'custom', message: `'${shown(text)}' ${parsed.problem}` });
            return z.NEVER;
          }),
          { error: expected(`a list of destinations, ${DESTINATION_FORM}`) },
        )
        .max(MAX_NETWORK_DESTINATIONS, { error: `at most ${MAX_NETWORK_DESTINATIONS} destinations` }),
    },
    { error: expected('a mapping with the key allow') },
  ),
);

const limitsSchema = z.preprocess(mapToObject, z.strictObject(limitFields, { error: expected('a mapping of limits') }));
const modelSchema = z.preprocess(mapToObject, z.strictObject({ command, image: image.optional(), ...limitFields }, { error: expected('a mapping with a command') }));
const modelsSchema = z.preprocess(
  stringKeys,
  z.map(z.string({ error: 'model names must be strings' }).regex(MODEL_NAME, { error: `model names must match ${MODEL_NAME.source}` }), modelSchema, {
    error: expected('a mapping of model name to model'),
  }),
);
const manifestSchema = z.preprocess(
  mapToObject,
  z.strictObject(
    { image: image.optional(), command: command.optional(), models: modelsSchema.optional(), limits: limitsSchema.optional(), environment: environmentSchema.optional(), network: networkSchema.optional() },
    { error: 'expected a mapping with keys image, command, models, limits, environment, network' },
  ),
);

export type Manifest = z.infer<typeof manifestSchema>;
export type ModelSpec = z.infer<typeof modelSchema>;
export type ManifestLimits = z.infer<typeof limitsSchema>;
/** What a project needs beyond its image (SPEC §9). */
export type EnvironmentDeclaration = z.infer<typeof environmentSchema>;
/** The destinations a project asks to reach (SPEC §11); the operator's rules decide which it gets. */
export type NetworkDeclaration = z.infer<typeof networkSchema>;
/** A manifest whose models are known (from sandrun.yaml or the models/NAME.py convention), in order. */
export type ResolvedManifest = Manifest & { models: Map<string, ModelSpec> };

const ALLOWED_KEYS: Record<string, string> = {
  '': 'image, command, models, limits, environment, network',
  environment: 'apt, pip, npm',
  network: 'allow',
  limits: Object.keys(limitFields).join(', '),
  model: ['command', 'image', ...Object.keys(limitFields)].join(', '),
};

interface ManifestProblem {
  path: PropertyKey[];
  message: string;
}

/**
 * Parses (in a bounded worker, see yaml-parser.ts) and validates sandrun.yaml; throws manifest_invalid naming the
 * file, line, field and problem.
 */
export async function parseManifest(text: string, options: { images: readonly string[]; yaml: YamlParser }): Promise<Manifest> {
  const yaml = await options.yaml.parse(text);
  if (yaml.kind === 'syntax') {
    throw new SandrunError('manifest_invalid', `${MANIFEST_FILE} line ${yaml.line}: ${yaml.message.split('\n')[0]}`, {
      file: MANIFEST_FILE,
      problems: [{ line: yaml.line, path: '', message: yaml.message }],
    });
  }
  if (yaml.kind === 'refused') {
    throw new SandrunError('manifest_invalid', `${MANIFEST_FILE} is refused: ${yaml.reason}`, {
      file: MANIFEST_FILE,
      problems: [{ line: 1, path: '', message: yaml.reason }],
    });
  }
  // An empty file is an empty manifest: defaults everywhere, models from the convention.
  const parsed = manifestSchema.safeParse(yaml.value ?? new Map());
  const problems: ManifestProblem[] = parsed.success ? imageProblems(parsed.data, options.images) : parsed.error.issues.flatMap(toProblems);
  if (!parsed.success || problems.length > 0) throw manifestInvalid(yaml.lines, problems);
  return parsed.data;
}

function toProblems(issue: z.core.$ZodIssue): ManifestProblem[] {
  if (issue.code !== 'unrecognized_keys') return [{ path: [...issue.path], message: issue.message }];
  const allowed = ALLOWED_KEYS[issue.path.length === 2 && issue.path[0] === 'models' ? 'model' : issue.path.join('.')];
  return issue.keys.map((key) => ({ path: [...issue.path, key], message: `unknown key${allowed ? ` (allowed: ${allowed})` : ''}` }));
}

function imageProblems(manifest: Manifest, images: readonly string[]): ManifestProblem[] {
  const allowed = `allowed images: ${images.join(', ')}`;
  const candidates: Array<[PropertyKey[], string | undefined]> = [
    [['image'], manifest.image],
    ...[...(manifest.models ?? new Map<string, ModelSpec>())].map(([name, model]): [PropertyKey[], string | undefined] => [['models', name, 'image'], model.image]),
  ];
  return candidates
    .filter((candidate): candidate is [PropertyKey[], string] => candidate[1] !== undefined && !images.includes(candidate[1]))
    .map(([path, value]) => ({ path, message: `image '${value}' is not allowed; ${allowed}` }));
}

function manifestInvalid(lines: ReadonlyMap<string, number>, problems: ManifestProblem[]): SandrunError {
  const located = problems.map((problem) => ({
    line: lineOf(lines, problem.path),
    path: formatPath(problem.path),
    message: problem.message,
  }));
  const text = located.map((problem) => `line ${problem.line}: ${problem.path ? `${problem.path}: ` : ''}${problem.message}`).join('; ');
  return new SandrunError('manifest_invalid', `${MANIFEST_FILE} ${text}`, { file: MANIFEST_FILE, problems: located });
}

function formatPath(path: PropertyKey[]): string {
  return path.map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : `${index === 0 ? '' : '.'}${String(segment)}`)).join('');
}

/** The line of the deepest YAML node on `path` (the key's line for a mapping entry); 1 when nothing matches. */
function lineOf(lines: ReadonlyMap<string, number>, path: PropertyKey[]): number {
  const segments = path.map(String);
  for (let length = segments.length; length >= 0; length -= 1) {
    const line = lines.get(JSON.stringify(segments.slice(0, length)));
    if (line !== undefined) return line;
  }
  return 1;
}

/**
 * Completes a manifest with its models. Without sandrun.yaml, or when it has no `models` key, every
 * models/NAME.py is model NAME run as `python models/NAME.py` (files starting with `_`, like __init__.py,
 * are helpers, not models). `modelFiles` are repo-relative paths.
 */
export function resolveManifest(manifest: Manifest | null, modelFiles: readonly string[]): ResolvedManifest {
  if (manifest?.models) return { ...manifest, models: manifest.models };
  const models = new Map<string, ModelSpec>();
  const names = modelFiles
    .map((path) => /^models\/([^/]+)\.py$/.exec(path)?.[1])
    .filter((name): name is string => name !== undefined && MODEL_NAME.test(name) && !name.startsWith('_'))
    .sort();
  for (const name of names) models.set(name, { command: ['python', `models/${name}.py`] });
  return { ...manifest, models };
}
