/**
 * bench/RESULTS.md, generated from a Results: the goals, the ceilings,
 * digitq against them, the configurations, the seed's design, the worker's
 * memory, CPU per process, profiles, and for each missed goal by how much
 * and what the CPU split and the profile point at.
 */
import { writeFileSync } from 'node:fs';
import { bestBatch, checkGoals, computeFigures, ratioOf, type Figure, type GoalResult } from './figures.ts';
import { FLAT_RSS_GROWTH } from './drain.ts';
import type { ProfileSummary } from './profile.ts';
import type { Results } from './results.ts';
import { type RepeatResult, type ScenarioName, type ScenarioResult } from './scenarios.ts';
import { round, summarize } from './stats.ts';

/** Other work taking more cores than this (median over the runs) makes the report say its figures are depressed. */
const NOISY_OTHER_CORES = 0.25;
/** Completions at least this share of submissions: the worker kept up, so the API set the rate. */
const SAME_RATE = 0.9;
/** A role using at least this share of the cores its processes can use is called saturated. */
const SATURATED = 0.85;
const PROFILE_PACKAGES_SHOWN = 6;
const PROFILE_FUNCTIONS_SHOWN = 8;
const CHANGED_PATHS_SHOWN = 12;

export function fmt(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString('en-US');
  // Rounded as the rest of the report rounds (toFixed alone would turn 0.345 into 0.34).
  if (abs >= 10) return round(value, 1).toFixed(1);
  return round(value, 2).toFixed(2);
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Counts print as integers, everything else by magnitude. */
const fmtIn = (unit: string, value: number | null | undefined) => (unit === 'errors' && value !== null && value !== undefined && !Number.isNaN(value) ? String(Math.round(value)) : fmt(value));
const range = (f: Figure) => (f.summary.values.length > 1 ? `${fmtIn(f.unit, f.summary.min)} – ${fmtIn(f.unit, f.summary.max)}` : '–');

function figureRows(figures: readonly Figure[], ids: (id: string) => boolean): string[][] {
  return figures
    .filter((f) => ids(f.id))
    .map((f) => {
      const ceiling = f.ceiling ? figures.find((c) => c.id === f.ceiling) : undefined;
      return [f.label, fmtIn(f.unit, f.summary.median), range(f), f.unit, ceiling ? `${ceiling.id} = ${fmtIn(ceiling.unit, ceiling.summary.median)}` : '–', fmt(ratioOf(figures, f))];
    });
}

function allScenarios(results: Results): ScenarioResult[] {
  return [...(results.ceilings.C ?? []), ...(results.ceilings.seed ?? []), ...Object.values(results.digitq).flatMap((c) => c.scenarios)];
}

/** Median cores per role over a scenario's repeats. */
function cpuMedians(result: ScenarioResult): Record<string, number> {
  const roles = Object.keys(result.repeats[0]?.cpu_cores ?? {});
  return Object.fromEntries(roles.map((role) => [role, summarize(result.repeats.map((r: RepeatResult) => r.cpu_cores[role] ?? 0)).median]));
}

function cpuSentence(result: ScenarioResult, cores: number, processes: Record<string, number>): string {
  const cpu = cpuMedians(result);
  const total = round(Object.values(cpu).reduce((a, b) => a + b, 0), 2);
  const parts = Object.entries(cpu).map(([role, c]) => `${role} ${fmt(c)}`);
  const saturated = Object.entries(cpu)
    .filter(([role, c]) => processes[role] !== undefined && c >= SATURATED * processes[role]!)
    .map(([role, c]) => `the ${role} process${processes[role]! > 1 ? 'es are' : ' is'} CPU-bound (${fmt(c)} of ${processes[role]} core${processes[role]! > 1 ? 's' : ''})`);
  if (total >= SATURATED * cores) saturated.push(`the machine is saturated (${fmt(total)} of ${cores} cores busy${cpu.other ? `, ${fmt(cpu.other)} of them with other work` : ''})`);
  return `CPU during the run (cores, median of repeats): ${parts.join(', ')}; total ${fmt(total)} of ${cores}.${saturated.length ? ` So ${saturated.join(', and ')}.` : ''}`;
}

function profileSentence(profile: ProfileSummary): string {
  const packages = profile.by_package.slice(0, PROFILE_PACKAGES_SHOWN).map((s) => `${s.name} ${s.percent}%`).join(', ');
  const functions = profile.top_functions.slice(0, 3).map((s) => `\`${s.name}\` ${s.percent}%`).join(', ');
  return `${profile.process} (${profile.busy_seconds} s not idle): ${packages}; hottest functions ${functions}`;
}

function profilesFor(results: Results, scenario: ScenarioName | 'drain'): ProfileSummary[] {
  return Object.values(results.digitq).flatMap((c) => (c.profiles ?? []).filter((p) => p.scenario === scenario));
}

function missedGoalSection(results: Results, goals: readonly GoalResult[]): string {
  const missed = goals.filter((g) => g.met === false);
  if (missed.length === 0) return goals.some((g) => g.met === null) ? 'No goal measured was missed (some were not measured: see the table).' : 'Every goal was met.';
  const base = results.digitq.base;
  const processes = { api: 1, worker: 1, redis: 1, generator: 1 };
  return missed
    .map((goal) => {
      const lines = [`- **${goal.text}**: missed; ${goal.missed_by}.`];
      const scenario = goal.scenario === 'drain' ? undefined : base?.scenarios.find((s) => s.scenario === goal.scenario);
      if (scenario) lines.push(`  ${cpuSentence(scenario, results.machine.cores, processes)}`);
      if (scenario && scenario.repeats.every((r) => r.completed_jobs_per_s !== undefined)) {
        const submitted = summarize(scenario.repeats.map((r) => r.req_per_s)).median;
        const completed = summarize(scenario.repeats.map((r) => r.completed_jobs_per_s ?? 0)).median;
        if (completed >= SAME_RATE * submitted) {
          lines.push(`  Jobs were completed as fast as they were accepted (${fmt(completed)} vs ${fmt(submitted)} per second): the API's intake, not the worker, set this rate.`);
        }
      }
      if (goal.scenario === 'drain' && base?.drain) {
        lines.push('  Nothing of the benchmark ran beside the worker (queue paused while filled, API idle), so the gap to the bare model is the worker\'s own per-job cost (BullMQ fetch and complete, decoding the payload, the batcher) at the batch size its jobs give it, plus whatever other work on the machine took (load average in the header).');
      }
      for (const profile of profilesFor(results, goal.scenario)) lines.push(`  Profile, ${profileSentence(profile)}.`);
      return lines.join('\n');
    })
    .join('\n');
}

function seedSection(results: Results, figures: readonly Figure[]): string {
  const get = (id: string) => figures.find((f) => f.id === id)?.summary.median ?? null;
  const seedRps = get('seed.sync-small.req_per_s');
  const dqRps = get('digitq.sync-small.req_per_s');
  const lines: string[] = [];
  if (seedRps !== null && dqRps !== null) {
    const change = dqRps / seedRps - 1;
    lines.push(
      `On the same machine under the same load (sync /predict, 28x28 PNG, 64 connections), the seed's design — one Express process that preprocesses and predicts inside the request (bench/ceilings/in-process.ts) — answers **${fmt(seedRps)} req/s** (p50 ${fmt(get('seed.sync-small.p50_ms'))} ms, p99 ${fmt(get('seed.sync-small.p99_ms'))} ms); digitq with its queue (1 API + 1 worker) answers **${fmt(dqRps)} req/s** (p50 ${fmt(get('digitq.sync-small.p50_ms'))} ms, p99 ${fmt(get('digitq.sync-small.p99_ms'))} ms).`,
      change < 0
        ? `**What the queue costs:** ${fmt(Math.abs(100 * change))}% of the throughput of one synchronous small image, and ${fmt((get('digitq.sync-small.p50_ms') ?? 0) - (get('seed.sync-small.p50_ms') ?? 0))} ms at the median under load: each request is uploaded, preprocessed, written to Redis, fetched by another process, batched, written back and read back through QueueEvents before it is answered, and two processes share the cores that the seed's one had.`
        : `**What the queue costs:** nothing in throughput here — digitq is ${fmt(100 * change)}% faster than the in-process design, because batching across requests in the worker beats one forward pass per request; the cost shows as latency (p50 ${fmt(get('digitq.sync-small.p50_ms'))} vs ${fmt(get('seed.sync-small.p50_ms'))} ms) from the hops through Redis.`,
    );
  } else {
    lines.push('The seed design or digitq base was not measured in this run.');
  }
  lines.push(
    "**What the queue buys:** accepted work survives an API crash or restart (the job is in Redis and is retried up to 3 times on another worker); workers are separate processes that scale, restart and hot-swap models apart from the API (see the 2-worker row); requests are batched across clients; async jobs of up to 64 images with webhooks, priorities and cancellation; and backpressure (429 when the queue is full) instead of an API process that takes work until it runs out of memory. The in-process design has none of these: a slow model call blocks that process's event loop for every client.",
  );
  return lines.join('\n\n');
}

function memorySection(results: Results): string {
  const drain = results.digitq.base?.drain;
  if (!drain) return 'Not measured in this run.';
  const rows = drain.memory.checkpoints.map((c) => [c.predictions.toLocaleString('en-US'), fmt(c.worker_rss_mib), c.tf_tensors === null ? 'not exported' : String(c.tf_tensors)]);
  const growth = drain.memory.rss_growth;
  const verdict =
    growth === null
      ? 'The worker\'s RSS could not be read.'
      : `Worker RSS ${growth <= FLAT_RSS_GROWTH ? 'stayed flat' : 'grew'}: ${fmt(100 * growth)}% from the first checkpoint to the last (flat means at most ${100 * FLAT_RSS_GROWTH}%). Predictions are counted by the worker itself (its digitq_inference_batch_images histogram) from the first checkpoint, taken after the first load run so the heap is warm; the other base runs count towards the total and the drain makes up the rest.`;
  const tensors = drain.memory.tensors_exported
    ? `tf.memory().numTensors went ${drain.memory.checkpoints.map((c) => c.tf_tensors).join(' -> ')}.`
    : '**tf.memory().numTensors is not measured: the worker exports no `digitq_tf_tensors` gauge.** The lead must add one to apps/worker/src/metrics.ts (a prom-client Gauge whose collect() sets tf.memory().numTensors); this benchmark reads it from the worker\'s /metrics as soon as it exists.';
  const failed = drain.repeats.reduce((sum, r) => sum + r.failed_jobs, 0);
  return `${table(['predictions done', 'worker RSS (MiB)', 'tf tensors'], rows)}\n\n${verdict} ${tensors}${failed ? ` **${failed} jobs failed during the drain.**` : ''}`;
}

function cpuSection(results: Results): string {
  const rows = allScenarios(results).map((s) => {
    const cpu = cpuMedians(s);
    const total = Object.values(cpu).reduce((a, b) => a + b, 0);
    return [s.target, s.label, fmt(cpu.api), fmt(cpu.worker), fmt(cpu.redis), fmt(cpu.generator), fmt(cpu.other), fmt(total)];
  });
  return table(['target', 'run', 'API', 'worker(s)', 'redis', 'load generator', 'other work on the machine', 'total'], rows);
}

function profileSection(results: Results): string {
  const sections: string[] = [];
  for (const config of Object.values(results.digitq)) {
    for (const scenario of config.scenarios) {
      const profiles = (config.profiles ?? []).filter((p) => p.scenario === scenario.scenario);
      if (profiles.length === 0) continue;
      sections.push(`### ${scenario.label} (${scenario.seconds} s)`);
      for (const profile of profiles) {
        sections.push(
          `**${profile.process}** (${profile.busy_seconds} s of samples not idle on its JavaScript thread): ${profile.by_package.slice(0, PROFILE_PACKAGES_SHOWN * 2).map((s) => `${s.name} ${s.percent}%`).join(', ')}`,
          table(['function (self time)', '% of busy'], profile.top_functions.slice(0, PROFILE_FUNCTIONS_SHOWN).map((s) => [`\`${s.name}\``, String(s.percent)])),
        );
      }
    }
  }
  return sections.length ? sections.join('\n\n') : 'No profile in this run.';
}

function configurationSection(results: Results, figures: readonly Figure[]): string {
  const get = (id: string) => figures.find((f) => f.id === id);
  const base = get('digitq.sync-small.req_per_s');
  const rows = Object.entries(results.digitq)
    .filter(([name]) => !name.startsWith('profile'))
    .map(([name, config]) => {
      const prefix = name === 'base' ? 'digitq' : `digitq-${name}`;
      const rps = get(`${prefix}.sync-small.req_per_s`);
      const p99 = get(`${prefix}.sync-small.p99_ms`);
      const errors = get(`${prefix}.sync-small.errors`);
      return [
        `${name} (${config.description}${config.api_mode && config.api_mode !== '1 process' ? `; API: ${config.api_mode}` : ''})`,
        rps ? fmt(rps.summary.median) : '–',
        rps ? range(rps) : '–',
        p99 ? fmt(p99.summary.median) : '–',
        errors ? fmtIn('errors', errors.summary.max) : '–',
        rps && base ? fmt(round(rps.summary.median / base.summary.median, 3)) : '–',
        rps ? fmt(ratioOf(figures, rps)) : '–',
      ];
    });
  return table(['configuration', 'req/s', 'min – max', 'p99 ms', 'errors (worst repeat)', 'vs base', 'vs C-sync'], rows);
}

/** How much of the machine other work took while this ran, in words. */
function quietness(results: Results): string {
  const other = allScenarios(results).flatMap((s) => s.repeats.map((r) => r.cpu_cores.other ?? 0));
  if (other.length === 0) return 'not measured';
  const median = summarize(other).median;
  const words = `${fmt(median)} of ${results.machine.cores} cores (median over the runs; max ${fmt(Math.max(...other))})`;
  return median > NOISY_OTHER_CORES
    ? `**${words}: other work competed for the cores, so every figure here is depressed and noisy; ratios measured minutes apart compare only roughly. Rerun on a quiet machine for figures to hold someone to.**`
    : `${words}: the machine was quiet.`;
}

function header(results: Results): string {
  const { commit, machine, load_average: load, versions, settings } = results;
  const changed = commit.changed_paths.length
    ? `; uncommitted changes measured with it in ${commit.changed_paths.length} file(s): ${commit.changed_paths.slice(0, CHANGED_PATHS_SHOWN).join(', ')}${commit.changed_paths.length > CHANGED_PATHS_SHOWN ? ', …' : ''}`
    : ' (clean working tree)';
  const engines = [results.ceilings.B ? `bare model (B) and seed design: ${results.ceilings.B.engine}` : null, `digitq workers: ${[...new Set(Object.values(results.digitq).flatMap((c) => c.worker_engines ?? []))].join(', ') || '–'}`]
    .filter(Boolean)
    .join('; ');
  const rows = [
    ['commit', `\`${commit.sha}\`${changed}`],
    ['machine', `${machine.cpu_model}, ${machine.cores} cores, ${machine.memory_gib} GiB, Linux ${machine.kernel}`],
    ['load average (1, 5, 15 min)', `before ${load.before.join(' ')}; after ${load.after.join(' ')}`],
    ['other work on the machine during the runs', quietness(results)],
    ['inference engine', engines],
    ['versions', Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['digitq processes', settings.digitq_command],
    ['digitq settings', Object.entries(settings.digitq_env).map(([k, v]) => `${k}=${v}`).join(' ')],
    ['runs', `${settings.seconds} s each at 64 connections (one-client runs a third of that), ${settings.repeats} repeat(s) after ${settings.warmup_seconds} s warm-up; figures are the median and min – max of the repeats; ${settings.images_per_job} images per multi-image job; every upload is the digit ${settings.digit}, checked to come back right before timing`],
    ['load generator', `${settings.generator}: its CPU is in the table of CPU per process; the ceilings pay it too, so ratios compare like with like`],
  ];
  return table(['', ''], rows);
}

/** `rawPath`: where the JSON was written, as the report should name it. */
export function renderReport(results: Results, rawPath: string): { markdown: string; console: string } {
  const figures = computeFigures(results);
  const goals = checkGoals(figures);
  const goalRows = goals.map((g) => [g.text, fmtIn(g.figure.endsWith('errors') ? 'errors' : '', g.measured), fmtIn(g.figure.endsWith('errors') ? 'errors' : '', g.target), fmt(g.ratio), g.met === null ? 'n/a' : g.met ? 'yes' : '**no**', g.missed_by ?? '']);
  const goalTable = table(['goal', 'measured (median)', 'bound', 'ratio to ceiling', 'met?', 'missed by'], goalRows);
  const ceilingTable = table(
    ['id', 'ceiling', 'median', 'min – max', 'unit'],
    figures.filter((f) => /^[ABC]\./.test(f.id)).map((f) => [f.id, f.label, fmtIn(f.unit, f.summary.median), range(f), f.unit]),
  );
  const digitqTable = table(['figure (digitq, base)', 'median', 'min – max', 'unit', 'ceiling', 'ratio'], figureRows(figures, (id) => id.startsWith('digitq.')));
  const best = bestBatch(results);
  const batchTable = results.ceilings.B
    ? table(['batch', 'images/s (median)', 'min – max'], results.ceilings.B.rows.map((row) => {
        const s = summarize(row.images_per_s);
        return [`${row.batch}${best?.batch === row.batch ? ' (best)' : ''}`, fmt(s.median), s.values.length > 1 ? `${fmt(s.min)} – ${fmt(s.max)}` : '–'];
      }))
    : 'Not measured in this run.';
  const markdown = [
    '# digitq system benchmark',
    results.note ? `> ${results.note}` : '',
    `Generated by \`npm run bench\` (bench/system.bench.ts) at ${results.created_at}, ${results.mode} mode, in ${results.elapsed_s} s (budget ${results.budget_s} s). Raw figures: ${rawPath}.`,
    header(results),
    results.failures?.length ? `**Parts that failed (not measured):**\n\n${results.failures.map((f) => `- ${f.split('\n')[0]}`).join('\n')}` : '',
    '## Goals',
    'From issue 11; judged here, never in timed tests. Ratios are digitq\'s median over its ceiling\'s median, measured in the same run.',
    goalTable,
    '## Ceilings on this machine',
    'A: BullMQ alone (producer here, empty processor in another process). B: the served model alone, as a worker calls it. C: Express 5 + multer 2 + BullMQ on the same routes, empty processor in another process (bench/ceilings/).',
    ceilingTable,
    '### B: the bare model by batch size',
    batchTable,
    '## digitq against its ceilings',
    'Configuration `base`: 1 API process, 1 worker process, default settings.',
    digitqTable,
    '## 1 vs 2 processes, batching on vs off (sync /predict, 28x28 PNG, 64 connections)',
    configurationSection(results, figures),
    "## The seed's design, for reference: what the queue costs and what it buys",
    seedSection(results, figures),
    `## Worker memory over ${results.settings.predictions.toLocaleString('en-US')} predictions`,
    memorySection(results),
    '## CPU per process during each run',
    `Cores used on average (1 = one core fully busy; the machine has ${results.machine.cores}).`,
    cpuSection(results),
    '## Profiles (node --cpu-prof, one shorter run each)',
    'Self time on each process\'s JavaScript thread during the measured run only (start-up and warm-up cut by the samples\' timestamps). Samples are wall time: a thread descheduled by other work still counts as busy in the function it was in, so shares are reliable where totals are not. Work on libuv\'s threads — sharp/libvips decoding and resizing — is not sampled here; it shows in the CPU table above. A compiled app is one bundle, so digitq\'s own packages appear as apps/<app>.',
    profileSection(results),
    '## Missed goals: by how much, and why',
    missedGoalSection(results, goals),
    '## Running it',
    '`npm run bench` runs the model and imaging benches (short) and then this one; `npx tsx bench/system.bench.ts --quick` is a 2-second smoke test written to $TMPDIR/digitq-bench-quick/. Options: `--seconds`, `--repeats`, `--predictions`, `--only A,B,C,seed,base,no-batching,2-workers,2-apis,profile`, `--note`.',
  ]
    .filter((s) => s !== '')
    .join('\n\n');
  const console = ['Goals', goalTable, '', 'digitq against its ceilings', digitqTable, '', 'Configurations', configurationSection(results, figures)].join('\n');
  return { markdown: markdown + '\n', console };
}

/** Writes the report and returns the part worth printing. */
export function writeReport(results: Results, path: string, rawPath: string): string {
  const { markdown, console } = renderReport(results, rawPath);
  writeFileSync(path, markdown);
  return console;
}

