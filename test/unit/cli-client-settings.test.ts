// Where the CLI's HTTP commands look for the server: SANDRUN_URL, else SANDRUN_HOST/SANDRUN_PORT by the server's own rules, else the defaults.
import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../../src/cli/cli-error.ts';
import { serverUrl } from '../../src/cli/client-settings.ts';

const usageErrorOf = async (env: NodeJS.ProcessEnv): Promise<CliError> => {
  const error: unknown = await serverUrl(env).catch((caught: unknown) => caught);
  expect(error, `serverUrl(${JSON.stringify(env)}) should fail`).toBeInstanceOf(CliError);
  expect((error as CliError).exitCode).toBe(EXIT.usage);
  return error as CliError;
};

describe('the server URL of the HTTP commands', () => {
  it('is SANDRUN_URL without its trailing slashes', async () => {
    expect(await serverUrl({ SANDRUN_URL: 'https://sandrun.example.test/base//', SANDRUN_PORT: 'ignored' })).toBe('https://sandrun.example.test/base');
  });

  it('is the server default, http://127.0.0.1:8080, with nothing set', async () => {
    expect(await serverUrl({})).toBe('http://127.0.0.1:8080');
  });

  it('reaches a server bound to every interface on loopback, at SANDRUN_PORT', async () => {
    expect(await serverUrl({ SANDRUN_HOST: '0.0.0.0', SANDRUN_PORT: '9000' })).toBe('http://127.0.0.1:9000');
    expect(await serverUrl({ SANDRUN_HOST: '::', SANDRUN_PORT: '9000' })).toBe('http://[::1]:9000');
    expect(await serverUrl({ SANDRUN_PORT: '9001' })).toBe('http://127.0.0.1:9001');
  });

  it('refuses a SANDRUN_URL that is not http(s) and a SANDRUN_PORT that is not a port, naming the variable', async () => {
    expect((await usageErrorOf({ SANDRUN_URL: 'ftp://example.test' })).message).toContain('SANDRUN_URL must be an http:// or https:// URL');
    expect((await usageErrorOf({ SANDRUN_URL: 'not a url' })).message).toContain('SANDRUN_URL');
    expect((await usageErrorOf({ SANDRUN_PORT: 'eighty' })).message).toContain('SANDRUN_PORT');
  });
});
