/**
 * The page at / and Swagger UI at /docs/ in a real browser: Debian's
 * Chromium, headless, driven by playwright-core, against the real API,
 * inference and training workers and Redis. Screenshots go to
 * test-artifacts/ (not committed).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, committedActiveVersion, copyCommittedModels, useSystem } from './system.ts';

const CHROMIUM = '/usr/bin/chromium';
/** No sandbox (root in a container), no GPU, and nothing the browser would fetch on its own (updates, sync, QUIC probes). */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const THREE_PHOTO = join(REPO_ROOT, 'examples/three-photo.jpg');

const temps: string[] = [];
function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `digitq-web-${name}-`));
  temps.push(dir);
  return dir;
}

afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A models folder of its own: the page's tiny training adds a version (under its own model name), the committed folder stays as it is. */
function modelsCopy(): string {
  return copyCommittedModels(tempDir('models'));
}

/** What a page did that the tests check after each step: console errors, uncaught errors, every URL it requested. */
interface Watched {
  errors: string[];
  requests: string[];
}

function watch(page: Page): Watched {
  const watched: Watched = { errors: [], requests: [] };
  page.on('console', (message) => {
    if (message.type() === 'error') watched.errors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => watched.errors.push(`pageerror: ${error.message}`));
  page.on('request', (request) => watched.requests.push(request.url()));
  return watched;
}

/** Requests that left the API's origin (blob: and data: URLs never leave the page). */
function foreignRequests(watched: Watched, origin: string): string[] {
  return watched.requests.filter((url) => !url.startsWith('blob:') && !url.startsWith('data:') && new URL(url).origin !== origin);
}

/** A 7 in two mouse strokes on the 280 px pad: the bar, then the stem. */
async function drawSeven(page: Page): Promise<void> {
  // The mouse draws at viewport coordinates: the pad must be on screen (a click further down the page scrolls it away).
  await page.locator('#pad').scrollIntoViewIfNeeded();
  const box = (await page.locator('#pad').boundingBox())!;
  const at = (x: number, y: number) => [box.x + (x / 280) * box.width, box.y + (y / 280) * box.height] as const;
  const stroke = async (points: [number, number][]) => {
    const [first, ...rest] = points;
    await page.mouse.move(...at(...first!));
    await page.mouse.down();
    for (const p of rest) await page.mouse.move(...at(...p), { steps: 12 });
    await page.mouse.up();
  };
  await stroke([
    [75, 65],
    [205, 65],
  ]);
  await stroke([
    [205, 65],
    [170, 140],
    [130, 225],
  ]);
}

describe('the web page and Swagger UI in Chromium', () => {
  const system = useSystem({ env: { MODELS_DIR: modelsCopy(), TRAINING_RUNS_DIR: tempDir('runs') } }, async (s) => {
    await s.startWorker({}, ['--device', 'cpu', '--queues', 'training']);
  });
  let context: BrowserContext;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`these tests drive Chromium at ${CHROMIUM}: install it (scripts/setup.sh does, with apt)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    context = await chromium.launchPersistentContext(tempDir('profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
  });

  it('reads a 7 drawn with the mouse, a 3 from an uploaded photo, shows why, and trains with live curves', async () => {
    const page = await context.newPage();
    const watched = watch(page);
    const response = await page.goto(`${system.baseUrl}/`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");

    // The queue panel fills from GET /v1/queues.
    await expect.poll(() => page.locator('#queue-rows th[scope=row]').allTextContents(), { timeout: 10_000 }).toEqual(['inference', 'training', 'webhooks']);

    // The serving version's report: its figures, and its robustness and reliability charts as images.
    await expect.poll(() => page.locator('#report-status').textContent(), { timeout: 10_000 }).toMatch(new RegExp(`^digitnet ${committedActiveVersion()}, evaluated `));
    expect(await page.locator('#report-accuracy').textContent()).toMatch(/^99\.[0-9]{2}% of 10,000 right$/);
    expect(await page.locator('#report-robustness').getAttribute('alt')).toMatch(/^Accuracy per degradation: .+ [0-9.]+%/);
    expect(await page.locator('#report-reliability').isVisible()).toBe(true);

    await drawSeven(page);
    await expect.poll(() => page.locator('#digit').textContent(), { timeout: 15_000 }).toBe('7');
    expect(await page.locator('#confidence').textContent()).toMatch(/% sure$/);
    expect(await page.locator('#chart').getAttribute('aria-label')).toMatch(/^Probabilities: 0: [0-9.]+%, 1: .*9: [0-9.]+%$/);
    expect(await page.locator('#chart .bar').count()).toBe(10);
    expect(await page.locator('#model').textContent()).toMatch(/^digitnet v[0-9]+/);
    expect(await page.locator('#engine').textContent()).toMatch(/^(tfjs|onnxruntime) \(/);
    expect(await page.locator('#latency').textContent()).toMatch(/^[0-9]+ ms$/);

    // The input the model read and the explanation over it both have pixels; the overlay is shown.
    const painted = (id: string) =>
      page.evaluate((selector) => {
        const canvas = document.querySelector<HTMLCanvasElement>(selector)!;
        const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
        let inked = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i + 3]! > 0 && (selector === '#overlay' || data[i]! < 128)) inked++;
        return inked;
      }, id);
    expect(await painted('#input')).toBeGreaterThan(20);
    expect(await painted('#overlay')).toBeGreaterThan(10);
    expect(await page.locator('#overlay').isVisible()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'web-drawn-seven.png'), fullPage: true });

    // The toggle hides and shows the overlay, from the keyboard too.
    await page.locator('#show-why').focus();
    await page.keyboard.press('Space');
    expect(await page.locator('#overlay').isVisible()).toBe(false);
    await page.keyboard.press('Space');
    expect(await page.locator('#overlay').isVisible()).toBe(true);

    // Undo the stem: what is left (the bar) is read again.
    const sevenChart = await page.locator('#chart').getAttribute('aria-label');
    await page.locator('#undo').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#chart').getAttribute('aria-label'), { timeout: 15_000 }).not.toBe(sevenChart);

    await page.locator('#file').setInputFiles(THREE_PHOTO);
    await expect.poll(() => page.locator('#digit').textContent(), { timeout: 15_000 }).toBe('3');
    expect(await page.locator('#photo').isVisible()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'web-uploaded-three.png'), fullPage: true });

    // Clear, by keyboard: the pad is blank and the answer is gone.
    await page.locator('#clear').focus();
    await page.keyboard.press('Enter');
    expect(await page.locator('#answer').isHidden()).toBe(true);
    expect(await page.locator('#chart .bar').count()).toBe(0);
    expect(await painted('#overlay')).toBe(0);

    // A tiny training: at least one progress update drawn as curves from the event stream, then done.
    await page.locator('#train').click();
    await expect.poll(() => page.locator('#curves polyline.loss').getAttribute('points'), { timeout: 90_000 }).toMatch(/[0-9.]+,[0-9.]+/);
    await expect.poll(() => page.locator('#training-status').textContent(), { timeout: 90_000 }).toMatch(/^Done: playground v[0-9]+/);
    expect(await page.locator('#curves title').textContent()).toMatch(/^Loss and accuracy over [0-9]+ updates: latest loss [0-9.]+/);
    await page.screenshot({ path: join(ARTIFACTS, 'web-training.png'), fullPage: true });

    // Everything at once, for the README (docs/web-page.png is a copy of this one).
    await drawSeven(page);
    await expect.poll(() => page.locator('#digit').textContent(), { timeout: 15_000 }).toBe('7');
    await page.screenshot({ path: join(ARTIFACTS, 'web-overview.png'), fullPage: true });

    // Phone width: nothing wider than the screen.
    await page.setViewportSize({ width: 375, height: 800 });
    const tooWide = await page.evaluate(() =>
      Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`),
    );
    expect(tooWide).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(ARTIFACTS, 'web-phone.png'), fullPage: true });

    expect(watched.errors).toEqual([]);
    expect(foreignRequests(watched, system.baseUrl)).toEqual([]);
    expect(watched.requests.some((url) => url.endsWith('/predict'))).toBe(true);
    await page.close();
  }, 180_000);

  it('Swagger UI: "Try it out" on POST /predict with a file answers 200 with a prediction, and nothing is loaded from elsewhere', async () => {
    const page = await context.newPage();
    const watched = watch(page);
    const docs = await page.goto(`${system.baseUrl}/docs/`);
    expect(docs?.headers()['content-security-policy']).toContain("default-src 'self'");
    const operation = page.locator('#operations-predict-predict');
    // Swagger UI renders the operations from its script, after the page loaded.
    await operation.waitFor({ timeout: 20_000 });
    await operation.locator('.opblock-summary').first().click();
    // tryItOutEnabled opens it already; otherwise the button says "Try it out".
    const tryItOut = operation.getByRole('button', { name: 'Try it out' });
    if ((await tryItOut.count()) > 0) await tryItOut.click();
    await operation.locator('input[type=file]').first().setInputFiles(THREE_PHOTO);
    await operation.locator('button.execute').click();
    const live = operation.locator('.live-responses-table');
    await expect.poll(() => live.locator('tbody .response-col_status').first().textContent(), { timeout: 15_000 }).toMatch(/^\s*[0-9]{3}/);
    const status = (await live.locator('tbody .response-col_status').first().textContent())!.trim();
    const text = (await live.locator('tbody .response-col_description pre').first().textContent())!;
    expect(status, text).toBe('200');
    const body = JSON.parse(text) as { prediction: number };
    expect(body.prediction).toBe(3);
    await page.screenshot({ path: join(ARTIFACTS, 'swagger-try-predict.png'), fullPage: true });

    expect(watched.errors).toEqual([]);
    expect(foreignRequests(watched, system.baseUrl)).toEqual([]);
    await page.close();
  }, 60_000);
});

describe('the web page with API keys', () => {
  const KEY = 'web-page-key-0123456789abcdef';
  const system = useSystem({ env: { API_KEYS: `alice:${KEY}` } });
  let context: BrowserContext;

  beforeAll(async () => {
    context = await chromium.launchPersistentContext(tempDir('profile-keys'), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, 60_000);
  afterAll(async () => {
    await context?.close();
  });

  it('asks for the key, keeps it in this tab across a reload, and sends it with every call', async () => {
    const page = await context.newPage();
    await page.goto(`${system.baseUrl}/`);
    await expect.poll(() => page.locator('#queue-status').textContent(), { timeout: 10_000 }).toMatch(/^Could not read the queues: UNAUTHORIZED: .*enter yours above/);

    // Once the key is typed in, every call carries it and nothing fails, before and after a reload.
    await page.locator('#api-key').fill(KEY);
    const watched = watch(page);
    const authorized: (string | undefined)[] = [];
    page.on('request', (request) => {
      const { pathname } = new URL(request.url());
      if (pathname.startsWith('/v1/') || pathname === '/predict') authorized.push(request.headers().authorization);
    });
    await page.reload();
    expect(await page.locator('#api-key').inputValue()).toBe(KEY);
    await expect.poll(() => page.locator('#queue-rows th[scope=row]').count(), { timeout: 10_000 }).toBe(3);
    await page.locator('#file').setInputFiles(THREE_PHOTO);
    await expect.poll(() => page.locator('#digit').textContent(), { timeout: 15_000 }).toBe('3');
    expect(authorized.length).toBeGreaterThanOrEqual(2);
    expect(new Set(authorized)).toEqual(new Set([`Bearer ${KEY}`]));
    expect(watched.errors).toEqual([]);
    expect(foreignRequests(watched, system.baseUrl)).toEqual([]);
    await page.close();
  }, 60_000);

  it('"That\'s wrong, it\'s a …" corrects the answer from the keyboard, as the key\'s correction of that job', async () => {
    const page = await context.newPage();
    await page.goto(`${system.baseUrl}/`);
    // The key, then a reload: the first load's calls ran without it (401), which is not this test's business;
    // they are waited out, so their console errors do not arrive once the page is watched.
    await page.waitForLoadState('networkidle');
    await page.locator('#api-key').fill(KEY);
    const watched = watch(page);
    await page.reload();
    expect(await page.locator('#correct').isHidden()).toBe(true);
    const predicted = page.waitForResponse((response) => new URL(response.url()).pathname === '/predict');
    await page.locator('#file').setInputFiles(THREE_PHOTO);
    const jobId = ((await (await predicted).json()) as { job_id: string }).job_id;
    await expect.poll(() => page.locator('#digit').textContent(), { timeout: 15_000 }).toBe('3');
    expect(await page.locator('#correct').isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: "It's a 3" }).isDisabled()).toBe(true);

    await page.getByRole('button', { name: "It's an 8" }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#correct-status').textContent(), { timeout: 10_000 }).toBe('Thanks: saved as an 8. Future versions learn from it.');
    expect(await page.getByRole('button', { name: "It's an 8" }).getAttribute('aria-pressed')).toBe('true');
    const mine = (await (await fetch(`${system.baseUrl}/v1/feedback/mine`, { headers: { Authorization: `Bearer ${KEY}` } })).json()) as { data: unknown[] };
    expect(mine.data).toEqual([expect.objectContaining({ owner: 'alice', job_id: jobId, index: 0, label: 8, predicted: 3 })]);

    // Changing one's mind replaces the label (still one correction); Clear takes the control away.
    await page.getByRole('button', { name: "It's a 5" }).click();
    await expect.poll(() => page.locator('#correct-status').textContent(), { timeout: 10_000 }).toBe('Thanks: saved as a 5. Future versions learn from it.');
    const again = (await (await fetch(`${system.baseUrl}/v1/feedback/mine`, { headers: { Authorization: `Bearer ${KEY}` } })).json()) as { data: { label: number }[] };
    expect(again.data.map((entry) => entry.label)).toEqual([5]);
    await page.screenshot({ path: join(ARTIFACTS, 'web-correction.png'), fullPage: true });
    await page.locator('#clear').click();
    expect(await page.locator('#correct').isHidden()).toBe(true);

    expect(watched.errors).toEqual([]);
    expect(foreignRequests(watched, system.baseUrl)).toEqual([]);
    await page.close();
  }, 60_000);
});
