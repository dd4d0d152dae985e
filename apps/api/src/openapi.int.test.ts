/**
 * The OpenAPI document: valid OpenAPI 3.1, and exactly the routes the app
 * serves (walked from the Express router), plus /openapi.json and Swagger UI.
 *
 * Not in the document, by design: GET /docs (Swagger UI, HTML) and the
 * bull-board app mounted at /admin/queues (HTML and its own JSON API). The
 * walk does not enter mounted sub-apps, so only GET /docs is excluded here.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_PATH } from './http/swagger-ui.ts';
import { PAGE_PATH } from './web/router.ts';
import { TEST_CONFIG, createTestStack, type TestStack } from '../test/api-stack.ts';

const UNDOCUMENTED = new Set([`GET ${DOCS_PATH}`, `GET ${PAGE_PATH}`]);
/** The Open Inference Protocol's endpoints (src/v2) follow that protocol's own specification, not this document (docs/open-inference-protocol.md). */
const OTHER_PROTOCOL = /^[A-Z]+ \/v2(\/|$)/;
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  slash?: boolean;
}

/** `/v1/jobs/:id` -> `/v1/jobs/{id}`. */
function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** "METHOD /path" for every route of the app: route layers, and those of routers mounted at the root (they declare full paths). */
function servedRoutes(app: Express): Set<string> {
  const routes = new Set<string>();
  const walk = (stack: readonly Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const path of [layer.route.path].flat()) {
          for (const method of Object.keys(layer.route.methods)) routes.add(`${method.toUpperCase()} ${toOpenApiPath(path)}`);
        }
      } else if (layer.handle?.stack) {
        expect(layer.slash, 'a router mounted below the root: its routes would need the mount path').toBe(true);
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return routes;
}

function documentedRoutes(document: { paths?: Record<string, Record<string, unknown>> }): Set<string> {
  const routes = new Set<string>();
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of HTTP_METHODS) if (item[method]) routes.add(`${method.toUpperCase()} ${path}`);
  }
  return routes;
}

let stack: TestStack;

beforeAll(async () => {
  stack = await createTestStack();
});
afterAll(async () => {
  await stack.close();
});

async function documentOf(app: Express) {
  const res = await request(app).get('/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return res.body as { openapi: string; paths: Record<string, Record<string, any>>; components: Record<string, any> };
}

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document that validates against the 3.1 schema', async () => {
    const document = await documentOf(stack.app);
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('documents exactly the routes the app serves', async () => {
    const served = [...servedRoutes(stack.app)].filter((route) => !UNDOCUMENTED.has(route) && !OTHER_PROTOCOL.test(route)).sort();
    expect([...documentedRoutes(await documentOf(stack.app))].sort()).toEqual(served);
    expect(served).toContain('POST /v1/trainings');
    expect(served).toContain('POST /v1/models/{name}/{version}/activate');
  });

  it('documents uploads as multipart/form-data with binary file fields, so "Try it out" can send files', async () => {
    const { paths } = await documentOf(stack.app);
    const jobForm = paths['/v1/jobs']!.post.requestBody.content['multipart/form-data'].schema;
    expect(jobForm.properties.image).toMatchObject({ type: 'array', items: { type: 'string', format: 'binary' }, maxItems: TEST_CONFIG.MAX_IMAGES_PER_JOB });
    expect(jobForm.properties).toHaveProperty('webhook');
    expect(paths['/v1/jobs']!.post.requestBody.content).toHaveProperty('application/json');
    const predictForm = paths['/predict']!.post.requestBody.content['multipart/form-data'].schema;
    expect(predictForm.properties.file).toMatchObject({ type: 'string', format: 'binary' });
  });

  it('documents min_confidence on /predict (form field and query) and /v1/jobs (form and JSON), and the uncertain answer', async () => {
    const { paths, components } = await documentOf(stack.app);
    const predict = paths['/predict']!.post;
    expect(predict.requestBody.content['multipart/form-data'].schema.properties).toHaveProperty('min_confidence');
    expect(predict.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'min_confidence', in: 'query' })]));
    expect(paths['/v1/jobs']!.post.requestBody.content['multipart/form-data'].schema.properties).toHaveProperty('min_confidence');
    expect(components.schemas.CreateJobJsonBody.properties.min_confidence).toMatchObject({ type: 'number', minimum: 0, maximum: 1 });
    const answer = components.schemas.PredictResponse.properties;
    expect(JSON.stringify(answer.prediction)).toContain('null');
    expect(JSON.stringify(answer.reason)).toContain('"uncertain"');
  });

  it('declares the bearer API key and the admin schemes; client routes use the key', async () => {
    const document = await documentOf(stack.app);
    expect(document.components.securitySchemes).toMatchObject({
      apiKey: { type: 'http', scheme: 'bearer' },
      adminKey: { type: 'http', scheme: 'bearer' },
      adminBasic: { type: 'http', scheme: 'basic' },
    });
    // No keys configured in the test stack: the key is optional (the empty requirement).
    expect(document.paths['/v1/jobs']!.post.security).toEqual([{ apiKey: [] }, {}]);
    expect(document.paths['/healthz']!.get.security).toBeUndefined();
  });

  it('documents every error answer with an example per code, and examples for the bodies', async () => {
    const { paths } = await documentOf(stack.app);
    const submit = paths['/v1/jobs']!.post;
    expect(Object.keys(submit.responses)).toEqual(expect.arrayContaining(['200', '202', '400', '401', '409', '413', '415', '422', '429', '500']));
    expect(Object.keys(submit.responses['429'].content['application/json'].examples).sort()).toEqual(['QUEUE_FULL', 'RATE_LIMITED']);
    expect(submit.responses['429'].headers).toHaveProperty('Retry-After');
    expect(submit.responses['202'].content['application/json'].example).toMatchObject({ status: 'queued' });
    expect(submit.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['Idempotency-Key', 'Prefer']));
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, operation] of Object.entries(item)) {
        for (const [status, response] of Object.entries(operation.responses as Record<string, any>)) {
          const media = response.content?.['application/json'] ?? response.content?.['text/plain'] ?? response.content?.['text/event-stream'] ?? response.content?.['image/svg+xml'];
          expect(media?.example ?? media?.examples, `${method.toUpperCase()} ${path} ${status} has an example`).toBeDefined();
        }
      }
    }
  });
});

describe('Swagger UI', () => {
  it('/docs redirects to /docs/, which serves the UI page loading the swagger-ui bundle', async () => {
    const redirect = await request(stack.app).get('/docs');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('docs/');
    const page = await request(stack.app).get('/docs/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('swagger-ui-bundle.js');
    expect(page.text).toContain('swagger-ui-init.js');
  });

  it('serves the bundle and an init script holding this document', async () => {
    const bundle = await request(stack.app).get('/docs/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    const init = await request(stack.app).get('/docs/swagger-ui-init.js');
    expect(init.status).toBe(200);
    expect(init.text).toContain('"openapi": "3.1.0"');
    expect(init.text).toContain('/v1/jobs');
  });
});
