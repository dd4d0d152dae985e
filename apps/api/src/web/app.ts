/**
 * The page at `/`: draw or upload a digit and see what the model made of
 * it (the digit, all ten probabilities, the 28x28 input it read, and which
 * pixels decided it; a wrong answer can be corrected, which keeps the input
 * with the right digit for later training), the serving model's evaluation
 * report, the queues' counts, and a tiny training's live curves.
 * Every call goes through the typed client (@digitq/client) to this page's
 * own origin; esbuild bundles it for the browser (scripts/build.mjs).
 */
import { DigitqClient, DigitqError, type ImageInput } from '@digitq/client';
import type { EvaluationReport, PredictResponse, QueueCountsList, TrainingView } from '@digitq/contracts';

/** Quiet time after a stroke ends before the drawing is sent: a digit of several strokes is sent once. */
const PREDICT_DEBOUNCE_MS = 300;
const QUEUE_REFRESH_MS = 2000;
/** Pen width on the 280 px pad: about MNIST's stroke on its 28 px scale. */
const STROKE_WIDTH = 20;
const INK = '#000000';
const PAPER = '#ffffff';
const SIDE = 28;
const API_KEY_STORAGE = 'digitq.apiKey';
/** What the training button starts: small enough to finish in seconds on a CPU, under its own model name. */
const TINY_TRAINING = { dataset: 'mnist', epochs: 1, limit: 2000, architecture: 'tiny', augment: 'none', model_name: 'playground' } as const;

const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
};

// --- The client, with the key from this tab's session storage ---

const keyInput = byId<HTMLInputElement>('api-key');
keyInput.value = sessionStorage.getItem(API_KEY_STORAGE) ?? '';
const baseUrl = new URL('.', location.href).href;
const client = (): DigitqClient => new DigitqClient({ baseUrl, apiKey: keyInput.value.trim() || undefined });
keyInput.addEventListener('input', () => {
  const key = keyInput.value.trim();
  if (key) sessionStorage.setItem(API_KEY_STORAGE, key);
  else sessionStorage.removeItem(API_KEY_STORAGE);
});
byId<HTMLFormElement>('key-form').addEventListener('submit', (event) => event.preventDefault());

function describeError(error: unknown): string {
  if (error instanceof DigitqError && error.status === 401) return `${error.code}: this server needs an API key; enter yours above`;
  if (error instanceof DigitqError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

// --- Prediction ---

const statusText = byId('status');
const answer = byId('answer');
const chart = byId('chart');
const inputCanvas = byId<HTMLCanvasElement>('input');
const overlay = byId<HTMLCanvasElement>('overlay');
const showWhy = byId<HTMLInputElement>('show-why');
let asked = 0;

function setStatus(text: string, error = false): void {
  statusText.textContent = text;
  statusText.classList.toggle('error', error);
}

function drawChart(probabilities: readonly number[], digit: number): void {
  chart.replaceChildren(
    ...probabilities.flatMap((p, d) => {
      const label = document.createElement('span');
      label.textContent = String(d);
      const bar = document.createElement('span');
      bar.className = d === digit ? 'bar best' : 'bar';
      const fill = document.createElement('span');
      fill.style.width = `${(p * 100).toFixed(1)}%`;
      bar.append(fill);
      const value = document.createElement('span');
      value.className = 'value';
      value.textContent = `${(p * 100).toFixed(1)}%`;
      return [label, bar, value];
    }),
  );
  chart.setAttribute('aria-label', `Probabilities: ${probabilities.map((p, d) => `${d}: ${(p * 100).toFixed(1)}%`).join(', ')}`);
}

/** The model's input as it saw it (255 = ink), drawn dark on light like the pad. */
function drawInput(pixels: readonly number[]): void {
  const context = inputCanvas.getContext('2d')!;
  const image = context.createImageData(SIDE, SIDE);
  pixels.forEach((value, i) => {
    const shade = 255 - value;
    image.data.set([shade, shade, shade, 255], i * 4);
  });
  context.putImageData(image, 0, 0);
}

/** The occlusion map as red, as opaque as the pixel was decisive. */
function drawExplanation(importance: readonly number[]): void {
  const context = overlay.getContext('2d')!;
  const image = context.createImageData(SIDE, SIDE);
  importance.forEach((value, i) => image.data.set([220, 38, 38, Math.round(value * 200)], i * 4));
  context.putImageData(image, 0, 0);
}

// --- Corrections: "that's wrong, it's a …" posts the right digit for the job just read ---

const correction = byId<HTMLFieldSetElement>('correct');
const correctionStatus = byId('correct-status');
/** "a 7", "an 8". */
const aDigit = (digit: number): string => `${digit === 8 ? 'an' : 'a'} ${digit}`;
const digitButtons = Array.from({ length: 10 }, (_, digit) => {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = String(digit);
  button.setAttribute('aria-label', `It's ${aDigit(digit)}`);
  button.setAttribute('aria-pressed', 'false');
  button.addEventListener('click', () => void sendCorrection(digit));
  return button;
});
byId('correct-digits').append(...digitButtons);
/** The job whose answer the buttons correct; null while there is none. */
let correcting: string | null = null;

function offerCorrection(jobId: string | null, predicted: number | null): void {
  correcting = jobId;
  correction.hidden = jobId === null;
  correctionStatus.textContent = '';
  digitButtons.forEach((button, digit) => {
    // "Wrong, it's a 7" makes no sense when the model said 7.
    button.disabled = digit === predicted;
    button.setAttribute('aria-pressed', 'false');
  });
}

async function sendCorrection(digit: number): Promise<void> {
  const jobId = correcting;
  if (jobId === null) return;
  correctionStatus.textContent = 'Saving…';
  try {
    const entry = await client().correct(jobId, { label: digit });
    if (jobId !== correcting) return;
    digitButtons.forEach((button, d) => button.setAttribute('aria-pressed', String(d === entry.label)));
    correctionStatus.textContent = `Thanks: saved as ${aDigit(entry.label)}. Future versions learn from it.`;
  } catch (error) {
    if (jobId === correcting) correctionStatus.textContent = `Could not save it: ${describeError(error)}`;
  }
}

function showResult(result: PredictResponse, latencyMs: number): void {
  // prediction is null when the server's MIN_CONFIDENCE says the model is not sure enough (reason "uncertain").
  const best = result.prediction ?? result.probabilities.indexOf(Math.max(...result.probabilities));
  byId('digit').textContent = result.prediction === null ? '?' : String(result.prediction);
  byId('confidence').textContent = `${(result.confidence * 100).toFixed(1)}% sure`;
  answer.hidden = false;
  setStatus(result.prediction === null ? `The model is not sure; perhaps a ${best}. Try writing it again.` : `The model reads a ${result.prediction}.`);
  drawChart(result.probabilities, best);
  byId('model').textContent = `${result.model.name} ${result.model.version}${result.model.variant ? ` (${result.model.variant})` : ''}`;
  byId('engine').textContent = result.engine ?? '–';
  byId('latency').textContent = `${Math.round(latencyMs)} ms`;
  if (result.input) drawInput(result.input);
  if (result.explanation) drawExplanation(result.explanation);
  offerCorrection(result.job_id, result.prediction);
  // A new version went live since the report shown was read: show its report.
  if (reported && (reported.name !== result.model.name || reported.version !== result.model.version)) void showReport(result.model);
}

/** Asks the API about one image; an answer to an older question than the latest is dropped. */
async function predict(image: ImageInput): Promise<void> {
  const question = ++asked;
  setStatus('Reading…');
  const started = performance.now();
  try {
    const result = await client().predict(image, { include: ['input', 'explanation', 'engine'] });
    if (question === asked) showResult(result, performance.now() - started);
  } catch (error) {
    if (question === asked) {
      setStatus(`Could not read it: ${describeError(error)}`, true);
      offerCorrection(null, null);
    }
  }
}

showWhy.addEventListener('change', () => {
  overlay.hidden = !showWhy.checked;
});

// --- The drawing pad: pointer events cover mouse, touch and pen ---

type Point = { x: number; y: number };
const pad = byId<HTMLCanvasElement>('pad');
const ink = pad.getContext('2d')!;
const strokes: Point[][] = [];
let current: Point[] | null = null;
let debounce: ReturnType<typeof setTimeout> | undefined;

function padPoint(event: PointerEvent): Point {
  const box = pad.getBoundingClientRect();
  return { x: ((event.clientX - box.left) / box.width) * pad.width, y: ((event.clientY - box.top) / box.height) * pad.height };
}

function drawStroke(stroke: readonly Point[]): void {
  const [first, ...rest] = stroke;
  if (!first) return;
  ink.beginPath();
  ink.moveTo(first.x, first.y);
  // A dot (a click without moving) still leaves ink.
  if (rest.length === 0) ink.lineTo(first.x + 0.1, first.y);
  for (const p of rest) ink.lineTo(p.x, p.y);
  ink.stroke();
}

function redraw(): void {
  ink.fillStyle = PAPER;
  ink.fillRect(0, 0, pad.width, pad.height);
  ink.strokeStyle = INK;
  ink.lineWidth = STROKE_WIDTH;
  ink.lineCap = 'round';
  ink.lineJoin = 'round';
  for (const stroke of strokes) drawStroke(stroke);
}

function sendDrawingSoon(): void {
  clearTimeout(debounce);
  if (strokes.length === 0) return;
  debounce = setTimeout(() => {
    pad.toBlob((blob) => {
      if (blob) void predict(blob);
    }, 'image/png');
  }, PREDICT_DEBOUNCE_MS);
}

pad.addEventListener('pointerdown', (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  clearTimeout(debounce);
  current = [padPoint(event)];
  strokes.push(current);
  redraw();
});
pad.addEventListener('pointermove', (event) => {
  if (!current) return;
  const events = typeof event.getCoalescedEvents === 'function' ? event.getCoalescedEvents() : [];
  for (const e of events.length > 0 ? events : [event]) current.push(padPoint(e));
  redraw();
});
const endStroke = () => {
  if (!current) return;
  current = null;
  sendDrawingSoon();
};
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);

byId('undo').addEventListener('click', () => {
  strokes.pop();
  redraw();
  if (strokes.length === 0) clearResult();
  else sendDrawingSoon();
});
/** Back to the start: no answer, no chart, no input or explanation shown. */
function clearResult(): void {
  asked++;
  answer.hidden = true;
  setStatus('Draw a digit or upload a photo.');
  chart.replaceChildren();
  chart.setAttribute('aria-label', 'No prediction yet');
  for (const id of ['model', 'engine', 'latency']) byId(id).textContent = '–';
  for (const canvas of [inputCanvas, overlay]) canvas.getContext('2d')!.clearRect(0, 0, SIDE, SIDE);
  photo.hidden = true;
  offerCorrection(null, null);
}

byId('clear').addEventListener('click', () => {
  strokes.length = 0;
  clearTimeout(debounce);
  redraw();
  clearResult();
});
redraw();

// --- Photos: choose, drop or paste ---

const drop = byId('drop');
const photo = byId<HTMLImageElement>('photo');
let photoUrl: string | null = null;

function usePhoto(file: File | undefined): void {
  if (!file) return;
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  photo.src = photoUrl;
  photo.alt = `The photo sent: ${file.name || 'pasted image'}`;
  photo.hidden = false;
  void predict(file);
}

const fileInput = byId<HTMLInputElement>('file');
fileInput.addEventListener('change', () => {
  usePhoto(fileInput.files?.[0]);
  fileInput.value = '';
});
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  usePhoto(event.dataTransfer?.files[0]);
});
drop.addEventListener('keydown', (event) => {
  if (event.target === drop && (event.key === 'Enter' || event.key === ' ')) {
    event.preventDefault();
    fileInput.click();
  }
});
document.addEventListener('paste', (event) => {
  const file = Array.from(event.clipboardData?.files ?? []).find((f) => f.type.startsWith('image/'));
  if (file) {
    event.preventDefault();
    usePhoto(file);
  }
});

// --- The serving model's evaluation report: figures, robustness per degradation, reliability ---

/** The model whose report the page shows by default (the API's default model). */
const REPORTED_MODEL = 'digitnet';
const reportStatus = byId('report-status');
const percent = (share: number, digits = 2) => `${(share * 100).toFixed(digits)}%`;
/** The version whose report is shown (or was asked for); null before the first. */
let reported: { name: string; version: string } | null = null;
const chartUrls: string[] = [];

/** An SVG from the API as an image (an <img src> of the API itself would go without the API key). */
function showChart(img: HTMLImageElement, svgText: string, alt: string): void {
  const url = URL.createObjectURL(new Blob([svgText], { type: 'image/svg+xml' }));
  chartUrls.push(url);
  img.src = url;
  img.alt = alt;
  img.closest('figure')!.hidden = false;
}

function showFigures(report: EvaluationReport): void {
  const mnist = report.datasets['mnist-test'];
  const feedback = report.datasets['feedback-heldback'];
  const { calibration, promotion } = report;
  byId('report-accuracy').textContent = mnist ? `${percent(mnist.accuracy)} of ${mnist.count.toLocaleString()} right` : '–';
  byId('report-ece').textContent = `${percent(calibration.ece_after)} with temperature ${calibration.temperature.toFixed(2)} (${percent(calibration.ece_before)} without)`;
  byId('report-feedback').textContent = feedback ? `${percent(feedback.accuracy, 1)} of ${feedback.count} right` : 'none held back yet';
  byId('report-promotion').textContent = promotion ? promotion.reasons.join('; ') : '–';
  byId('report-figures').hidden = false;
}

async function showReport(model: { name: string; version: string }): Promise<void> {
  reported = model;
  const label = `${model.name} ${model.version}`;
  reportStatus.textContent = `Reading the report of ${label}…`;
  try {
    const digitq = client();
    const [report, robustness, reliability] = await Promise.all([
      digitq.modelReport(model.name, model.version),
      digitq.modelReportChart(model.name, model.version, 'robustness'),
      digitq.modelReportChart(model.name, model.version, 'reliability'),
    ]);
    if (reported !== model) return;
    chartUrls.splice(0).forEach((url) => URL.revokeObjectURL(url));
    showFigures(report);
    const perSet = Object.entries(report.datasets)
      .filter(([name]) => name.startsWith('robustness/'))
      .map(([name, metrics]) => `${metrics.label ?? name.slice('robustness/'.length)} ${percent(metrics.accuracy, 1)}`);
    showChart(byId<HTMLImageElement>('report-robustness'), robustness, `Accuracy per degradation: ${perSet.join(', ') || 'no robustness figures in this report'}`);
    showChart(byId<HTMLImageElement>('report-reliability'), reliability, `Reliability diagram of ${label}: calibration error ${percent(report.calibration.ece_after)}`);
    reportStatus.textContent = `${label}, evaluated ${new Date(report.created_at).toLocaleString()}.`;
  } catch (error) {
    if (reported === model) reportStatus.textContent = `No report to show for ${label}: ${describeError(error)}`;
  }
}

/** The report of the version the default model serves now. */
async function showActiveReport(): Promise<void> {
  try {
    const served = (await client().models()).data.find((model) => model.name === REPORTED_MODEL && model.active_version);
    if (served?.active_version) await showReport({ name: served.name, version: served.active_version });
    else reportStatus.textContent = `No version of ${REPORTED_MODEL} is serving yet.`;
  } catch (error) {
    reportStatus.textContent = `Could not read the models: ${describeError(error)}`;
  }
}
void showActiveReport();
// A key typed in after the page loaded: read the report with it.
keyInput.addEventListener('change', () => void showActiveReport());

// --- Queues ---

const queueRows = byId('queue-rows');
const queueStatus = byId('queue-status');

function showQueues(list: QueueCountsList): void {
  queueRows.replaceChildren(
    ...list.data.map((queue) => {
      const row = document.createElement('tr');
      for (const [i, value] of [queue.name, queue.waiting, queue.active, queue.completed, queue.failed].entries()) {
        const cell = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) cell.setAttribute('scope', 'row');
        cell.textContent = String(value);
        row.append(cell);
      }
      return row;
    }),
  );
}

async function refreshQueues(): Promise<void> {
  try {
    showQueues(await client().queues());
    queueStatus.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    queueStatus.textContent = `Could not read the queues: ${describeError(error)}`;
  } finally {
    setTimeout(() => void refreshQueues(), QUEUE_REFRESH_MS);
  }
}
void refreshQueues();

// --- Training: start a tiny one and draw its curves from the event stream ---

const trainButton = byId<HTMLButtonElement>('train');
const trainingStatus = byId('training-status');
const curves = byId<HTMLElement>('curves') as unknown as SVGSVGElement;
const SVG = 'http://www.w3.org/2000/svg';
const PLOT = { width: 300, height: 150, left: 28, right: 8, top: 8, bottom: 18 };

interface CurvePoint {
  /** Training progress in epochs (e.g. 0.5 = half of the first). */
  at: number;
  loss: number | null;
  accuracy: number | null;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function drawCurves(points: readonly CurvePoint[], epochs: number): void {
  const width = PLOT.width - PLOT.left - PLOT.right;
  const height = PLOT.height - PLOT.top - PLOT.bottom;
  const maxLoss = Math.max(1e-6, ...points.map((p) => p.loss ?? 0));
  const x = (at: number) => PLOT.left + (at / epochs) * width;
  const y = (share: number) => PLOT.top + (1 - share) * height;
  const line = (values: { at: number; v: number }[], className: string) =>
    svg('polyline', { class: className, fill: 'none', 'stroke-width': 2, points: values.map((p) => `${x(p.at).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ') });
  const loss = points.filter((p) => p.loss !== null).map((p) => ({ at: p.at, v: p.loss! / maxLoss }));
  const accuracy = points.filter((p) => p.accuracy !== null).map((p) => ({ at: p.at, v: p.accuracy! }));
  const last = points.at(-1);
  const summary = last
    ? `Loss and accuracy over ${points.length} updates: latest loss ${last.loss?.toFixed(3) ?? 'unknown'}, accuracy ${last.accuracy === null ? 'unknown' : `${(last.accuracy * 100).toFixed(1)}%`}`
    : 'Loss and accuracy: no data yet';
  curves.replaceChildren(
    svg('title', { id: 'curves-text' }, summary),
    svg('line', { class: 'axis', x1: PLOT.left, y1: PLOT.top, x2: PLOT.left, y2: PLOT.top + height }),
    svg('line', { class: 'axis', x1: PLOT.left, y1: PLOT.top + height, x2: PLOT.left + width, y2: PLOT.top + height }),
    svg('text', { x: 2, y: PLOT.top + 8 }, '100%'),
    svg('text', { x: 2, y: PLOT.top + height }, '0'),
    svg('text', { x: PLOT.left + width - 30, y: PLOT.height - 4 }, `epoch ${epochs}`),
    line(loss, 'loss'),
    line(accuracy, 'accuracy'),
  );
}

function curvePoint(view: TrainingView): CurvePoint | null {
  const p = view.progress;
  if (!p) return null;
  const at = Math.max(0, p.epoch - 1) + (p.batches > 0 ? p.batch / p.batches : 0);
  return { at: Math.min(at, p.epochs), loss: p.loss, accuracy: p.accuracy };
}

const percentOrDash = (share: number | null) => (share === null ? '–' : percent(share, 1));

/** One line on where a training is: its epoch and batch, its evaluation once trained, or how it ended. */
function trainingStatusText(view: TrainingView): string {
  const p = view.progress;
  if (view.status === 'processing' && p?.phase === 'evaluating') {
    return `Evaluating the new version${p.evaluated ? `: ${p.evaluated.images.toLocaleString()} of ${p.evaluated.total.toLocaleString()} images` : '…'}`;
  }
  if (view.status === 'processing' && p) return `Epoch ${p.epoch}/${p.epochs}, batch ${p.batch}/${p.batches}: loss ${p.loss?.toFixed(3) ?? '–'}, accuracy ${percentOrDash(p.accuracy)}`;
  if (view.status === 'succeeded' && view.model) return `Done: ${view.model.name} ${view.model.version}, test accuracy ${percentOrDash(view.model.test_accuracy)}`;
  return `Training ${view.status}${view.error ? `: ${view.error.message}` : ''}`;
}

async function runTraining(): Promise<void> {
  trainButton.disabled = true;
  const points: CurvePoint[] = [];
  try {
    const digitq = client();
    const started = await digitq.train(TINY_TRAINING);
    trainingStatus.textContent = `Training ${started.id.slice(0, 8)} queued…`;
    for await (const view of digitq.trainingEvents(started.id)) {
      const point = curvePoint(view);
      // Only forward: a view repeated (or the final one, which ends where the last update was) adds nothing.
      if (point && point.at > (points.at(-1)?.at ?? -1)) points.push(point);
      drawCurves(points, view.progress?.epochs ?? TINY_TRAINING.epochs);
      trainingStatus.textContent = trainingStatusText(view);
    }
  } catch (error) {
    trainingStatus.textContent = `Training failed to start or follow: ${describeError(error)}`;
  } finally {
    trainButton.disabled = false;
  }
}
trainButton.addEventListener('click', () => void runTraining());
