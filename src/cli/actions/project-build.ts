// What `sandrun projects build NAME [--follow]` does: builds the default branch's environment now, and with --follow streams its log to the end.
import type { EnvironmentView } from '../../projects/project-view.ts';
import { apiClient } from '../api-client.ts';
import { CliError, EXIT } from '../cli-error.ts';
import { printJson, segment, type CliContext, type HttpFlags } from '../context.ts';
import { spinner, type Spinner } from '../spinner.ts';
import { eventData, textOf } from '../sse-stream.ts';
import type { Colours, Writer } from '../terminal.ts';

export interface BuildFlags extends HttpFlags {
  follow?: boolean;
}

/** `{ environment }`, checked by hand: the CLI's remote commands do not load zod (docs/decisions.md). */
function environmentOf(body: unknown): EnvironmentView {
  const environment = (body as { environment?: unknown } | null)?.environment ?? body;
  if (typeof (environment as { status?: unknown } | null)?.status !== 'string') {
    throw new CliError(`the server answered without an environment: ${JSON.stringify(body)?.slice(0, 200)}`, EXIT.api);
  }
  return environment as EnvironmentView;
}

/** One line of an environment's state, for `projects show` and the end of `projects build`. */
export function formatEnvironment(environment: EnvironmentView, colours: Colours): string {
  switch (environment.status) {
    case 'ready':
      return `${colours.green('ready')}${environment.built_at ? ` (built ${environment.built_at})` : ''}`;
    case 'building':
      return colours.yellow('building');
    case 'failed':
      return `${colours.red('failed')}${environment.error ? `: ${environment.error}` : ''}`;
    case 'none':
      return environment.key === null ? colours.dim('none declared') : `${colours.dim('none')} (declared, not built yet)`;
  }
}

/** Writes whole lines only while a spinner is drawn below them: its next frame would erase a line not yet ended. */
function lineWriter(stdout: Writer, drawn: Spinner): { write: (text: string) => void; flush: () => void } {
  let partial = '';
  return {
    write(text) {
      const end = (partial + text).lastIndexOf('\n');
      if (end === -1) {
        partial += text;
        return;
      }
      const whole = (partial + text).slice(0, end + 1);
      partial = (partial + text).slice(end + 1);
      drawn.above(() => stdout.write(whole));
    },
    flush() {
      if (partial) stdout.write(`${partial}\n`);
      partial = '';
    },
  };
}

/** Follows the build's log to stdout; the environment as it ended (or as it is, when no build was under way any more). */
async function followBuild(context: CliContext, name: string, flags: BuildFlags): Promise<EnvironmentView> {
  const { stdout, stderr, progress } = context.terminal;
  const answer = await apiClient(context, flags).eventsOrJson(`/v1/projects/${segment(name)}/environment/log?follow=1`);
  if (answer.kind === 'json') {
    // The build ended before the log was asked for: its stored log is the whole story.
    const environment = environmentOf(answer.body);
    if (flags.json) printJson(context, answer.body);
    else stdout.write(environment.log);
    return environment;
  }
  const drawn = spinner(stderr, `building the environment of ${name}`, progress === true && !flags.json);
  const lines = lineWriter(stdout, drawn);
  try {
    for await (const event of answer.events) {
      const data = eventData(event);
      if (flags.json) stdout.write(JSON.stringify({ event: event.event, data }) + '\n');
      else if (event.event === 'log') lines.write(textOf(data) ?? '');
      if (event.event === 'end') return environmentOf(data);
    }
  } finally {
    drawn.stop();
    lines.flush();
  }
  throw new CliError(`the build log ended before the build did; check it with: sandrun projects show ${name}`, EXIT.api);
}

export async function buildProject(context: CliContext, name: string, flags: BuildFlags): Promise<void> {
  const { stdout, stderr, colours } = context.terminal;
  const started = environmentOf(await apiClient(context, flags).request<unknown>('POST', `/v1/projects/${segment(name)}/environment/build`));
  if (!flags.follow) {
    if (flags.json) printJson(context, { environment: started });
    else stdout.write(`environment of ${name}: ${formatEnvironment(started, colours)}${started.status === 'building' ? `; follow it with: sandrun projects build ${name} --follow` : ''}\n`);
    return;
  }
  const environment = started.status === 'building' ? await followBuild(context, name, flags) : started;
  if (flags.json && started.status !== 'building') printJson(context, { environment });
  if (!flags.json) stderr.write(`environment of ${name}: ${formatEnvironment(environment, colours)}\n`);
  if (environment.status === 'failed') context.exitCode = EXIT.runFailed;
  else if (environment.status !== 'ready') throw new CliError(`the build of ${name}'s environment ended ${environment.status}; check it with: sandrun projects show ${name}`, EXIT.api);
}
