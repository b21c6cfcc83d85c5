// A request handler whose module is imported on first use, or when warmed up: heavy dependencies stay out of start-up.
import type { RequestHandler } from 'express';

export interface LazyHandler {
  handler: RequestHandler;
  /** Imports the module now (after the server is listening), so that the first request does not wait for it. */
  warmUp: () => Promise<void>;
}

export function lazyHandler(load: () => Promise<RequestHandler>): LazyHandler {
  let loading: Promise<RequestHandler> | undefined;
  const loaded = () => (loading ??= load());
  return {
    handler: (request, response, next) => {
      loaded().then((handler) => handler(request, response, next), next);
    },
    warmUp: async () => {
      await loaded();
    },
  };
}
