// The web console: plain HTML, CSS and JS from src/api/console/, served at / with no credentials (the page asks for a token).
import express, { Router } from 'express';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.ts';

// Static files, served from the source tree also when the server runs from the dist/ bundle.
const CONSOLE_DIR = join(PACKAGE_ROOT, 'src', 'api', 'console');

/**
 * A strict policy: the console loads only its own files and talks only to this origin. Images may also be blob: (a
 * run's raster artifacts, fetched with the token) and data: (its SVGs: see artifacts-view.js).
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

function secureHeaders(response: express.Response): void {
  response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cache-Control', 'no-cache');
}

export function consoleRoutes(): Router {
  const router = Router();
  router.get('/', (_request, response) => {
    secureHeaders(response);
    response.sendFile(join(CONSOLE_DIR, 'index.html'));
  });
  router.use('/console', express.static(CONSOLE_DIR, { index: false, setHeaders: (response) => secureHeaders(response) }));
  return router;
}
