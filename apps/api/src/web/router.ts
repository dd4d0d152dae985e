/**
 * Serves the page at `/` and its files under `/web/` from the build's output
 * (apps/api/dist/web: index.html, styles.css, favicon.svg copied there and
 * app.js bundled by scripts/build.mjs). Everything the page loads comes from
 * here, and its Content-Security-Policy says so: a browser refuses anything
 * from another origin, so the page works offline and behind a firewall.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { Router } from 'express';
import { labelRoute } from '../metrics.ts';
import { routeNotFound } from '../middleware/error-handler.ts';

/** Where the page is; like Swagger UI, it is not an operation of the OpenAPI document. */
export const PAGE_PATH = '/';
/** Where its files are. */
export const WEB_PATH = '/web';

/** Same origin only; images may also be the page's own blob: URLs (a photo's preview) and canvases' data. */
export const PAGE_CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'Content-Security-Policy': PAGE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/**
 * Where the built page is: beside the bundle (dist/main.js -> dist/web), or,
 * when the API runs from source (tests, `npm run dev`), the last build's output.
 */
export function builtPageDir(): string | null {
  const candidates = [join(import.meta.dirname, 'web'), join(import.meta.dirname, '..', '..', 'dist', 'web')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'app.js'))) ?? null;
}

/** The page's router; without a build (no dist/web) `/` is left to the 404 handler. */
export function webRouter(dir = builtPageDir()): Router {
  const router = Router();
  if (dir === null) return router;
  const headers = (res: express.Response) => {
    for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value);
  };
  router.get(PAGE_PATH, labelRoute(PAGE_PATH), (_req, res) => {
    headers(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(join(dir, 'index.html'));
  });
  // A file that is not there is 404 here, before API-key auth (which would answer 401 with keys configured).
  router.use(WEB_PATH, labelRoute(WEB_PATH), express.static(dir, { index: false, setHeaders: headers }), routeNotFound());
  return router;
}
