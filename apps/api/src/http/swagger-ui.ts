/**
 * Swagger UI at /docs/ (swagger-ui-express serving the OpenAPI document
 * inline; GET /openapi.json is in the route table), where "Try it out" sends
 * real requests, file uploads and the API key ("Authorize") included.
 */
import { Router } from 'express';
import swaggerUi, { type SwaggerUiOptions } from 'swagger-ui-express';
import { labelRoute } from '../metrics.ts';
import type { OpenApiDocument } from './openapi.ts';

export const DOCS_PATH = '/docs';

const UI_OPTIONS: SwaggerUiOptions = {
  customSiteTitle: 'digitq API',
  // validatorUrl: Swagger UI otherwise sends the document's URL to validator.swagger.io for a badge: the page
  // must load nothing from elsewhere (offline, behind a firewall), and the document is validated by our tests.
  swaggerOptions: { displayRequestDuration: true, tryItOutEnabled: true, validatorUrl: null },
};

/**
 * The browser may load nothing from elsewhere: Swagger UI is served whole
 * from here (its styles set inline, its icons data: URLs), so the page works
 * offline and behind a firewall, and a reference to another host fails loudly.
 */
const DOCS_CSP = ["default-src 'self'", "img-src 'self' data:", "style-src 'self' 'unsafe-inline'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"].join('; ');

export function docsRouter(document: OpenApiDocument): Router {
  const router = Router();
  router.use(DOCS_PATH, (_req, res, next) => {
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    next();
  });
  // The page loads its assets relative to itself, so it must be served at /docs/ (a relative redirect keeps any proxy prefix).
  router.get(DOCS_PATH, (req, res, next) => {
    const [path = '', query] = req.originalUrl.split('?', 2);
    if (path.endsWith('/')) return next();
    res.redirect(301, `docs/${query === undefined ? '' : `?${query}`}`);
  });
  // serveFiles keeps the document per app (plain `serve` shares one module-wide copy).
  router.use(DOCS_PATH, labelRoute(DOCS_PATH), ...swaggerUi.serveFiles(document, UI_OPTIONS), swaggerUi.setup(document, UI_OPTIONS));
  return router;
}
