// What `sandrun secrets set|list|rm` do: a project's secrets over the REST API; a value is read from stdin, never from argv.
import { SECRET_VALUE_MAX_BYTES } from '../../secrets/secret-rules.ts';
import type { SecretNameView } from '../../projects/project-view.ts';
import { apiClient } from '../api-client.ts';
import { usageError } from '../cli-error.ts';
import { printJson, segment, type CliContext, type HttpFlags } from '../context.ts';
import { formatTable } from '../table.ts';
import type { Reader } from '../terminal.ts';

const HOW = 'pipe the value in, e.g. `printf %s "$TOKEN" | sandrun secrets set PROJECT KEY` or `sandrun secrets set PROJECT KEY < file`';

/**
 * All of stdin, with one trailing newline (\n or \r\n) removed: `echo` and most files end with one that is not part of
 * the value. Bounded: more than a secret may hold is refused before it is all read.
 */
export async function readSecretValue(stdin: Reader | undefined): Promise<string> {
  if (!stdin) throw usageError(`secrets set reads the value from standard input, and there is none; ${HOW}`);
  // Reading a terminal would wait, without a prompt, for a value typed in the clear: refused instead.
  if (stdin.isTTY) throw usageError(`secrets set reads the value from standard input, not from a terminal; ${HOW}`);
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    bytes += buffer.length;
    // +2: the newline that is stripped below.
    if (bytes > SECRET_VALUE_MAX_BYTES + 2) throw usageError(`the value on standard input is longer than ${SECRET_VALUE_MAX_BYTES} bytes (64 KiB), the most a secret may hold`);
    chunks.push(buffer);
  }
  const value = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (value === '') throw usageError(`the value on standard input is empty; ${HOW}`);
  return value;
}

export async function setSecret(context: CliContext, project: string, key: string, flags: HttpFlags): Promise<void> {
  const value = await readSecretValue(context.terminal.stdin);
  const secret = await apiClient(context, flags).request<SecretNameView>('PUT', `/v1/projects/${segment(project)}/secrets/${segment(key)}`, { value });
  if (flags.json) printJson(context, secret);
  else context.terminal.stdout.write(`set secret ${secret.key} of project ${project} (a run reads it at /run/secrets/${secret.key})\n`);
}

export async function listSecrets(context: CliContext, project: string, flags: HttpFlags): Promise<void> {
  const page = await apiClient(context, flags).request<{ secrets: SecretNameView[] }>('GET', `/v1/projects/${segment(project)}/secrets`);
  if (flags.json) return printJson(context, page);
  if (page.secrets.length === 0) {
    context.terminal.stdout.write(`project ${project} has no secrets; set one with: sandrun secrets set ${project} KEY < file\n`);
    return;
  }
  context.terminal.stdout.write(
    formatTable(page.secrets, [
      { header: 'KEY', value: (secret) => secret.key },
      { header: 'UPDATED', value: (secret) => secret.updated_at },
    ]),
  );
}

export async function removeSecret(context: CliContext, project: string, key: string, flags: HttpFlags): Promise<void> {
  await apiClient(context, flags).request<null>('DELETE', `/v1/projects/${segment(project)}/secrets/${segment(key)}`);
  if (flags.json) printJson(context, { removed: key, project });
  else context.terminal.stdout.write(`removed secret ${key} of project ${project}\n`);
}
