/** The shape of bench/results/<date>.json: everything measured, raw, plus the settings it was measured with. */
import type { BareBullmqResult } from '../ceilings/bare-bullmq.ts';
import type { SystemConfig } from './digitq.ts';
import type { DrainResult } from './drain.ts';
import type { Commit, Machine } from './environment.ts';
import type { ProfileSummary } from './profile.ts';
import type { ScenarioResult } from './scenarios.ts';

export interface BareModelResult {
  /** e.g. "onnxruntime (cpu, 1 thread)". */
  engine: string;
  model_dir: string;
  rows: { batch: number; images_per_s: number[] }[];
}

export interface ConfigResult {
  description: string;
  /** How the API processes ran: one, API_PROCESSES=N (node:cluster), or N on N ports. */
  api_mode?: string;
  env: Record<string, string>;
  scenarios: ScenarioResult[];
  drain?: DrainResult;
  profiles?: ProfileSummary[];
  /** What the workers serve with, from their heartbeats. */
  worker_engines: string[];
}

export interface Results {
  created_at: string;
  mode: 'default' | 'quick';
  note: string | null;
  settings: {
    seconds: number;
    repeats: number;
    warmup_seconds: number;
    predictions: number;
    images_per_job: number;
    digit: number;
    digitq_command: string;
    /** Settings every digitq process got (secrets left out), before each configuration's own. */
    digitq_env: Record<string, string>;
    configs: readonly SystemConfig[];
    generator: string;
  };
  machine: Machine;
  load_average: { before: number[]; after: number[] };
  versions: Record<string, string>;
  commit: Commit;
  budget_s: number;
  elapsed_s: number;
  /** Parts that failed, with why; the rest was measured. */
  failures: string[];
  ceilings: {
    A?: BareBullmqResult[];
    B?: BareModelResult;
    C?: ScenarioResult[];
    seed?: ScenarioResult[];
  };
  digitq: Record<string, ConfigResult>;
}
