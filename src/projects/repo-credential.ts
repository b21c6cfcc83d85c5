// A project's repository credential (an https token or an SSH deploy key): its input schema, and the rule of which URL takes which.
import { z } from 'zod';
import { SandrunError } from '../errors.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { ProjectRecord } from '../store/project-store.ts';
import type { ParsedRepoUrl } from './repo-url.ts';

/** GitHub's name for "the password is a token"; GitLab and Gitea accept any user name with a token. */
export const DEFAULT_TOKEN_USERNAME = 'x-access-token';
/** A refinement, not a regex: a \p{...} pattern would not be a valid pattern in the OpenAPI document. */
const hasNoControlCharacters = (value: string): boolean => !/\p{Cc}/u.test(value);

export const credentialSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('https_token'),
      token: z
        .string({ error: 'credential.token is required and must be a string' })
        .min(1, { error: 'credential.token must not be empty' })
        .max(4096, { error: 'credential.token must be at most 4096 characters' })
        .refine(hasNoControlCharacters, { error: 'credential.token must not contain control characters' }),
      username: z
        .string({ error: 'credential.username must be a string' })
        .min(1, { error: 'credential.username must not be empty' })
        .max(256, { error: 'credential.username must be at most 256 characters' })
        .refine((value) => hasNoControlCharacters(value) && !value.includes(':'), { error: "credential.username must not contain ':' or control characters" })
        .optional(),
    }),
    z.strictObject({
      type: z.literal('ssh_key'),
      private_key: z
        .string({ error: 'credential.private_key is required and must be a string' })
        .max(16_384, { error: 'credential.private_key must be at most 16384 characters' })
        .regex(/^\s*-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]+-----END [A-Z0-9 ]*PRIVATE KEY-----\s*$/, {
          error: 'credential.private_key must be a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY----- ... -----END ... PRIVATE KEY-----), without a passphrase',
        }),
    }),
  ],
  { error: "credential must be an object whose type is 'https_token' or 'ssh_key'" },
);

export type CredentialInput = z.infer<typeof credentialSchema>;

/** What git is given; what the database holds, sealed. */
export type RepoCredential = { type: 'https_token'; username: string; token: string } | { type: 'ssh_key'; privateKey: string };

export type CredentialType = RepoCredential['type'];

/**
 * The credential a project uses: the one given, or the user name and password its https URL carried (moved out of
 * the URL so that it is stored sealed, never as plain text). A credential must fit the URL's transport.
 */
export function projectCredential(repo: ParsedRepoUrl, given: CredentialInput | null | undefined): RepoCredential | null {
  const { location, userinfo } = repo;
  if (userinfo && given) throw new SandrunError('invalid_request', 'repo_url carries a user name and password and credential is given too; give the token in credential only');
  if (userinfo) {
    if (!userinfo.password) {
      throw new SandrunError('invalid_request', 'repo_url has a user name but no password; give a token as credential {"type": "https_token", "token": "..."} instead');
    }
    return { type: 'https_token', username: userinfo.username || DEFAULT_TOKEN_USERNAME, token: userinfo.password };
  }
  if (!given) return null;
  if (given.type === 'https_token') {
    if (location.transport !== 'https') throw new SandrunError('invalid_request', 'credential: an https_token needs an https:// repo_url (use an ssh_key for ssh)');
    return { type: 'https_token', username: given.username ?? DEFAULT_TOKEN_USERNAME, token: given.token };
  }
  if (location.transport !== 'ssh') throw new SandrunError('invalid_request', 'credential: an ssh_key needs an ssh:// or git@host:path repo_url (use an https_token for https)');
  return { type: 'ssh_key', privateKey: `${given.private_key.trim()}\n` };
}

const storedSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('https_token'), username: z.string(), token: z.string() }),
  z.strictObject({ type: z.literal('ssh_key'), privateKey: z.string() }),
]);

/** Bound into the ciphertext: a sealed credential copied to another project's row does not open there. */
export const credentialSealingContext = (projectId: string): string => `project-credential:${projectId}`;

export type SealedCredential = NonNullable<ProjectRecord['credential']>;

export function sealCredential(box: SecretBox, projectId: string, credential: RepoCredential | null): SealedCredential | null {
  return credential && { type: credential.type, sealed: box.seal(JSON.stringify(credential), credentialSealingContext(projectId)) };
}

export function openCredential(box: SecretBox, projectId: string, stored: SealedCredential | null): RepoCredential | null {
  return stored && storedSchema.parse(JSON.parse(box.open(stored.sealed, credentialSealingContext(projectId))));
}
