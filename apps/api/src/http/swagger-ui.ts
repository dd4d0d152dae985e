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
  swaggerOptions: { displayRequestDuration: true, tryItOutEnabled: true },
};

export function docsRouter(document: OpenApiDocument): Router {
  const router = Router();
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
