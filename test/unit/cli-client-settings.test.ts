// Where the CLI's HTTP commands look for the server: SANDRUN_URL, else SANDRUN_HOST/SANDRUN_PORT by the server's own rules, else the defaults.
import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../../src/cli/cli-error.ts';
import { serverUrl } from '../../src/cli/client-settings.ts';
import { loadConfig } from '../../src/config.ts';

function usageErrorOf(env: NodeJS.ProcessEnv): CliError {
  let error: unknown;
  try {
    serverUrl(env);
  } catch (caught) {
    error = caught;
  }
  expect(error, `serverUrl(${JSON.stringify(env)}) should fail`).toBeInstanceOf(CliError);
  expect((error as CliError).exitCode).toBe(EXIT.usage);
  return error as CliError;
}

describe('the server URL of the HTTP commands', () => {
  it('is SANDRUN_URL without its trailing slashes', () => {
    expect(serverUrl({ SANDRUN_URL: 'https://sandrun.example.test/base//', SANDRUN_PORT: 'ignored' })).toBe('https://sandrun.example.test/base');
  });

  it("is where the server listens by default, with nothing set", () => {
    const config = loadConfig({});
    expect(serverUrl({})).toBe(`http://${config.host}:${config.port}`);
    expect(serverUrl({})).toBe('http://127.0.0.1:8080');
  });

  it('reaches a server bound to every interface on loopback, at SANDRUN_PORT', () => {
    expect(serverUrl({ SANDRUN_HOST: '0.0.0.0', SANDRUN_PORT: '9000' })).toBe('http://127.0.0.1:9000');
    expect(serverUrl({ SANDRUN_HOST: '::', SANDRUN_PORT: '9000' })).toBe('http://[::1]:9000');
    expect(serverUrl({ SANDRUN_HOST: 'sandrun.internal', SANDRUN_PORT: '9001' })).toBe('http://sandrun.internal:9001');
  });

  it('refuses what the server refuses, naming the variable and its rule', () => {
    expect(usageErrorOf({ SANDRUN_URL: 'ftp://example.test' }).message).toContain('SANDRUN_URL must be an http:// or https:// URL');
    expect(usageErrorOf({ SANDRUN_URL: 'not a url' }).message).toContain('SANDRUN_URL');
    for (const env of [{ SANDRUN_PORT: 'eighty' }, { SANDRUN_PORT: '65536' }, { SANDRUN_PORT: '80.5' }, { SANDRUN_PORT: '' }, { SANDRUN_HOST: '' }]) {
      const variable = Object.keys(env)[0]!;
      expect(usageErrorOf(env).message, JSON.stringify(env)).toContain(variable);
      expect(() => loadConfig(env), `the server refuses ${JSON.stringify(env)} too`).toThrow(variable);
    }
  });
});
