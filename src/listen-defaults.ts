// Where the server listens when SANDRUN_HOST and SANDRUN_PORT are unset: config.ts's defaults, and where the CLI looks without loading config.ts.
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;
