/** Every kind of bad request: the right status and JSON error, and nothing enqueued. */
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_CONFIG, createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack;
beforeEach(async () => {
  stack = await createTestStack();
});
afterEach(async () => {
  await stack.close();
});

function expectError(res: request.Response, status: number, code: string, message?: RegExp): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(typeof res.body.error.message).toBe('string');
  if (message) expect(res.body.error.message).toMatch(message);
}

describe('POST /v1/jobs rejects bad uploads and enqueues nothing', () => {
  it('no body at all -> 400 NO_IMAGE', async () => {
    const res = await request(stack.app).post('/v1/jobs');
    expectError(res, 400, 'NO_IMAGE');
    await stack.expectNothingEnqueued();
  });

  it('multipart without a file -> 400 NO_IMAGE', async () => {
    const res = await request(stack.app).post('/v1/jobs').field('priority', '5');
    expectError(res, 400, 'NO_IMAGE');
    await stack.expectNothingEnqueued();
  });

  it('a file in the wrong field -> 400 naming the field', async () => {
    const res = await request(stack.app).post('/v1/jobs').attach('photo', await fixtures.digit(1), 'one.png');
    expectError(res, 400, 'VALIDATION_FAILED', /"photo".*"image"/);
    await stack.expectNothingEnqueued();
  });

  it('more files than MAX_IMAGES_PER_JOB -> 400 TOO_MANY_IMAGES', async () => {
    const png = await fixtures.digit(1);
    let req = request(stack.app).post('/v1/jobs');
    for (let i = 0; i <= TEST_CONFIG.MAX_IMAGES_PER_JOB; i++) req = req.attach('image', png, `d${i}.png`);
    expectError(await req, 400, 'TOO_MANY_IMAGES', new RegExp(`at most ${TEST_CONFIG.MAX_IMAGES_PER_JOB}`));
    await stack.expectNothingEnqueued();
  });

  it('a file over MAX_IMAGE_BYTES -> 413 IMAGE_TOO_LARGE', async () => {
    const big = Buffer.alloc(TEST_CONFIG.MAX_IMAGE_BYTES + 1, 0x41);
    const res = await request(stack.app).post('/v1/jobs').attach('image', big, 'big.png');
    expectError(res, 413, 'IMAGE_TOO_LARGE', /big\.png/);
    await stack.expectNothingEnqueued();
  });

  it('a text file named .png -> 415 IMAGE_UNSUPPORTED_FORMAT', async () => {
    const res = await request(stack.app).post('/v1/jobs').attach('image', fixtures.text(), 'note.png');
    expectError(res, 415, 'IMAGE_UNSUPPORTED_FORMAT', /^image 1 of 1 \(note\.png\): /);
    await stack.expectNothingEnqueued();
  });

  it('a truncated PNG -> 422 IMAGE_CORRUPT', async () => {
    const res = await request(stack.app).post('/v1/jobs').attach('image', await fixtures.truncated(), 'cut.png');
    expectError(res, 422, 'IMAGE_CORRUPT', /cut\.png/);
    await stack.expectNothingEnqueued();
  });

  it('a blank image -> 422 IMAGE_BLANK', async () => {
    const res = await request(stack.app).post('/v1/jobs').attach('image', await fixtures.blank(), 'blank.png');
    expectError(res, 422, 'IMAGE_BLANK');
    await stack.expectNothingEnqueued();
  });

  it('one bad image rejects the whole batch, naming it', async () => {
    const res = await request(stack.app)
      .post('/v1/jobs')
      .attach('image', await fixtures.digit(1), 'one.png')
      .attach('image', await fixtures.digit(2, 'jpeg'), 'two.jpg')
      .attach('image', fixtures.text(), 'photo.gif');
    expectError(res, 415, 'IMAGE_UNSUPPORTED_FORMAT', /^image 3 of 3 \(photo\.gif\): /);
    await stack.expectNothingEnqueued();
  });

  it.each([
    ['priority 0', { priority: '0' }, /priority/],
    ['priority 11', { priority: '11' }, /priority/],
    ['priority not a number', { priority: 'high' }, /priority/],
    ['a model that is not a model ref', { model: 'Digit Net!' }, /model/],
    ['a webhook that is not http(s)', { webhook: 'ftp://example.com/hook' }, /webhook/],
    ['a webhook that is not a URL', { webhook: 'not a url' }, /webhook/],
    ['an unknown webhook event', { webhook: 'https://example.com/h', webhook_events_filter: 'job.started,job.exploded' }, /webhook_events_filter/],
    ['webhook_events_filter without webhook', { webhook_events_filter: 'job.completed' }, /webhook_events_filter/],
    ['an unknown field', { priorty: '5' }, /priorty/],
  ])('multipart with %s -> 400 VALIDATION_FAILED', async (_, fields, message) => {
    let req = request(stack.app).post('/v1/jobs').attach('image', await fixtures.digit(4), 'four.png');
    for (const [name, value] of Object.entries(fields)) req = req.field(name, value);
    expectError(await req, 400, 'VALIDATION_FAILED', message);
    await stack.expectNothingEnqueued();
  });

  it('a content type that is neither multipart nor JSON -> 415', async () => {
    const res = await request(stack.app).post('/v1/jobs').set('Content-Type', 'text/plain').send('hello');
    expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', /text\/plain/);
    await stack.expectNothingEnqueued();
  });

  it('a multipart body without a boundary -> 400', async () => {
    const res = await request(stack.app).post('/v1/jobs').set('Content-Type', 'multipart/form-data').send('garbage');
    expectError(res, 400, 'VALIDATION_FAILED', /multipart/);
    await stack.expectNothingEnqueued();
  });
});

describe('POST /v1/jobs with a JSON body rejects bad input and enqueues nothing', () => {
  const json = () => request(stack.app).post('/v1/jobs').set('Content-Type', 'application/json');

  it('malformed JSON -> 400', async () => {
    expectError(await json().send('{"images": ["abc"'), 400, 'VALIDATION_FAILED', /JSON/);
    await stack.expectNothingEnqueued();
  });

  it('a body over the JSON limit -> 413 PAYLOAD_TOO_LARGE', async () => {
    const huge = 'A'.repeat(TEST_CONFIG.MAX_IMAGE_BYTES * 2 * TEST_CONFIG.MAX_IMAGES_PER_JOB);
    expectError(await json().send({ images: [huge] }), 413, 'PAYLOAD_TOO_LARGE');
    await stack.expectNothingEnqueued();
  });

  it.each([
    ['no images key', {}],
    ['an empty images array', { images: [] }],
  ])('%s -> 400 NO_IMAGE', async (_, body) => {
    expectError(await json().send(body), 400, 'NO_IMAGE');
    await stack.expectNothingEnqueued();
  });

  it('too many images -> 400 TOO_MANY_IMAGES', async () => {
    const image = (await fixtures.digit(1)).toString('base64');
    expectError(await json().send({ images: Array(TEST_CONFIG.MAX_IMAGES_PER_JOB + 1).fill(image) }), 400, 'TOO_MANY_IMAGES');
    await stack.expectNothingEnqueued();
  });

  it('bad base64 -> 400 naming the image', async () => {
    const good = (await fixtures.digit(1)).toString('base64');
    expectError(await json().send({ images: [good, '%%% not base64 %%%'] }), 400, 'VALIDATION_FAILED', /^image 2 of 2 \(images\[1\]\): not valid base64/);
    await stack.expectNothingEnqueued();
  });

  it('a base64 image that decodes to a non-image -> 415', async () => {
    expectError(await json().send({ images: [fixtures.text().toString('base64')] }), 415, 'IMAGE_UNSUPPORTED_FORMAT', /images\[0\]/);
    await stack.expectNothingEnqueued();
  });

  it('a decoded image over MAX_IMAGE_BYTES -> 413 IMAGE_TOO_LARGE', async () => {
    const big = Buffer.alloc(TEST_CONFIG.MAX_IMAGE_BYTES + 1, 0x41).toString('base64');
    expectError(await json().send({ images: [big] }), 413, 'IMAGE_TOO_LARGE');
    await stack.expectNothingEnqueued();
  });

  it.each([
    ['images not an array', { images: 'abc' }],
    ['an image that is not a string', { images: [42] }],
    ['a fractional priority', { priority: 2.5 }],
    ['priority as a string', { priority: '5' }],
    ['a bad model', { model: 'digitnet@latest' }],
    ['a javascript: webhook', { webhook: 'javascript:alert(1)' }],
    ['webhook_events_filter as a string', { webhook: 'https://example.com/h', webhook_events_filter: 'job.completed' }],
    ['an empty webhook_events_filter', { webhook: 'https://example.com/h', webhook_events_filter: [] }],
    ['an unknown key', { callback: 'https://example.com/h' }],
  ])('%s -> 400 VALIDATION_FAILED', async (_, fields) => {
    const image = (await fixtures.digit(1)).toString('base64');
    expectError(await json().send({ images: [image], ...fields }), 400, 'VALIDATION_FAILED');
    await stack.expectNothingEnqueued();
  });

  it('a JSON array body -> 400', async () => {
    expectError(await json().send('[]'), 400, 'VALIDATION_FAILED');
    await stack.expectNothingEnqueued();
  });
});

describe('POST /predict rejects bad uploads and enqueues nothing', () => {
  it('no file -> 400 NO_IMAGE', async () => {
    expectError(await request(stack.app).post('/predict').field('model', 'digitnet'), 400, 'NO_IMAGE');
    await stack.expectNothingEnqueued();
  });

  it('two files -> 400 TOO_MANY_IMAGES', async () => {
    const png = await fixtures.digit(1);
    const res = await request(stack.app).post('/predict').attach('file', png, 'a.png').attach('image', png, 'b.png');
    expectError(res, 400, 'TOO_MANY_IMAGES', /exactly one/);
    await stack.expectNothingEnqueued();
  });

  it('a file in the wrong field -> 400 naming it', async () => {
    const res = await request(stack.app).post('/predict').attach('upload', await fixtures.digit(1), 'a.png');
    expectError(res, 400, 'VALIDATION_FAILED', /"upload"/);
    await stack.expectNothingEnqueued();
  });

  it('JSON -> 415', async () => {
    expectError(await request(stack.app).post('/predict').send({ images: ['abc'] }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await stack.expectNothingEnqueued();
  });

  it('an oversized file -> 413', async () => {
    const res = await request(stack.app).post('/predict').attach('file', Buffer.alloc(TEST_CONFIG.MAX_IMAGE_BYTES + 1), 'big.jpg');
    expectError(res, 413, 'IMAGE_TOO_LARGE');
    await stack.expectNothingEnqueued();
  });

  it('a blank image -> 422 IMAGE_BLANK', async () => {
    expectError(await request(stack.app).post('/predict').attach('file', await fixtures.blank(), 'blank.png'), 422, 'IMAGE_BLANK');
    await stack.expectNothingEnqueued();
  });
});
