/**
 * What a supervisor (the launcher, the API's primary process) does when a
 * process it started exits on its own: restart it after a delay that doubles
 * with each restart in a row (so a crashing process does not spin a core),
 * start over once it has run healthy for a while, and give up when it cannot
 * even start. Pure: the supervisor feeds in what happened and carries out the
 * decision.
 */

export interface RestartPolicy {
  /** Delay before the first restart in a row; each further one doubles it. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** A process that stayed up this long after becoming ready starts over at firstDelayMs. */
  healthyAfterMs: number;
  /**
   * This many runs in a row that exit before becoming ready: stop. With the
   * doubling delay they span at least 1 + 2 + 4 + 8 s, so a dependency that
   * is briefly away (Redis restarting) is waited out, while a process that
   * cannot start (bad setting, port taken) stops the launcher within a minute
   * with its own error above the launcher's.
   */
  maxFailedStarts: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  firstDelayMs: 1_000,
  maxDelayMs: 30_000,
  healthyAfterMs: 60_000,
  maxFailedStarts: 5,
};

/** One run of a process, in ms since the epoch. */
export interface Run {
  startedAt: number;
  /** When it was first seen ready, or null if it never was. */
  readyAt: number | null;
  exitedAt: number;
}

/** What the policy remembers of a process between runs. */
export interface RestartHistory {
  /** Restarts in a row without a healthy run between them. */
  restarts: number;
  /** Runs in a row that exited before becoming ready. */
  failedStarts: number;
}

export const NO_RESTARTS: RestartHistory = { restarts: 0, failedStarts: 0 };

export type RestartDecision =
  | { action: 'restart'; delayMs: number; history: RestartHistory }
  | { action: 'give-up'; history: RestartHistory };

/** The delay before restart number `restart` (1-based) in a row. */
export function restartDelayMs(restart: number, policy: RestartPolicy): number {
  return Math.min(policy.firstDelayMs * 2 ** (restart - 1), policy.maxDelayMs);
}

export function decideAfterExit(history: RestartHistory, run: Run, policy: RestartPolicy): RestartDecision {
  const failedStarts = run.readyAt === null ? history.failedStarts + 1 : 0;
  if (failedStarts >= policy.maxFailedStarts) return { action: 'give-up', history: { ...history, failedStarts } };
  const healthy = run.readyAt !== null && run.exitedAt - run.readyAt >= policy.healthyAfterMs;
  const restarts = (healthy ? 0 : history.restarts) + 1;
  return { action: 'restart', delayMs: restartDelayMs(restarts, policy), history: { restarts, failedStarts } };
}
