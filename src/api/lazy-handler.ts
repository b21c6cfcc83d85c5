// A request handler whose module is imported on first use, or when warmed up: heavy dependencies stay out of start-up.
import type { RequestHandler } from 'express';

export interface LazyHandler {
  handler: RequestHandler;
  /** Imports the module now (after the server is listening), so that the first request does not wait for it. */
  warmUp: () => Promise<void>;
}

/** @param path the only path the module serves: other requests pass by without waiting for the import. */
export function lazyHandler(path: string, load: () => Promise<RequestHandler>): LazyHandler {
  let loading: Promise<RequestHandler> | undefined;
  const loaded = () => (loading ??= load());
  return {
    handler: (request, response, next) => {
      if (request.path !== path) return next();
      loaded().then((handler) => handler(request, response, next), next);
    },
    warmUp: async () => {
      await loaded();
    },
  };
}
