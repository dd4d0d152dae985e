import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART_POLICY, NO_RESTARTS, decideAfterExit, restartDelayMs, type RestartDecision, type RestartHistory, type Run } from './restart-policy.ts';

const policy = DEFAULT_RESTART_POLICY;

/** A run that became ready `readyAfterMs` after start (null: never) and exited `upMs` after start. */
function run(readyAfterMs: number | null, upMs: number): Run {
  return { startedAt: 0, readyAt: readyAfterMs, exitedAt: upMs };
}

/** Feeds runs through the policy as the supervisor does, returning every decision. */
function decisions(runs: Run[]): RestartDecision[] {
  let history: RestartHistory = NO_RESTARTS;
  return runs.map((r) => {
    const decision = decideAfterExit(history, r, policy);
    history = decision.history;
    return decision;
  });
}

const delays = (ds: RestartDecision[]) => ds.map((d) => (d.action === 'restart' ? d.delayMs : d.action));

describe('restart policy', () => {
  it('waits 1 s, doubling each restart in a row, up to 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => restartDelayMs(n, policy))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('keeps doubling for a process that crashes soon after becoming ready, and never gives up on it', () => {
    const crashesAfterReady = Array.from({ length: 8 }, () => run(2_000, 5_000));
    expect(delays(decisions(crashesAfterReady))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('starts over at 1 s once a run stayed up a minute after becoming ready', () => {
    expect(delays(decisions([run(2_000, 5_000), run(2_000, 5_000), run(2_000, 5_000), run(2_000, 62_000), run(2_000, 5_000)]))).toEqual([
      1_000, 2_000, 4_000, 1_000, 2_000,
    ]);
    // A minute of uptime spent not ready does not count as healthy.
    expect(delays(decisions([run(null, 5_000), run(null, 120_000)]))).toEqual([1_000, 2_000]);
  });

  it('gives up on the fifth run in a row that exits before becoming ready', () => {
    const neverReady = Array.from({ length: 5 }, () => run(null, 1_500));
    expect(delays(decisions(neverReady))).toEqual([1_000, 2_000, 4_000, 8_000, 'give-up']);
    expect(decisions(neverReady).at(-1)!.history.failedStarts).toBe(5);
  });

  it('counts failed starts only in a row: a run that got ready resets them', () => {
    const runs = [run(null, 1_500), run(null, 1_500), run(null, 1_500), run(null, 1_500), run(2_000, 3_000), run(null, 1_500), run(null, 1_500)];
    expect(delays(decisions(runs)).includes('give-up')).toBe(false);
    expect(decisions(runs).at(-1)!.history.failedStarts).toBe(2);
  });
});
