/**
 * Keeps the API and worker processes running, as a process manager does: one
 * that exits on its own is restarted after the delay the restart policy
 * names, with one log line saying why; one that keeps failing before it gets
 * ready is given up on, and the launcher stops. Each run is probed until it
 * is ready, so the policy can tell a crash at start from a crash in service,
 * and the launcher knows when to print its banner.
 */
import { describeExit, isRunning, killChildren, startChild, stopChildren, type ChildExit, type ChildSpec, type RunningChild } from './children.ts';
import { NO_RESTARTS, decideAfterExit, type Logger, type RestartHistory, type RestartPolicy, type Run } from '@digitq/service';

/** How often a starting process is asked whether it is ready. */
const READY_PROBE_INTERVAL_MS = 250;
const MS_PER_S = 1_000;

export interface SupervisedProcess {
  spec: ChildSpec;
  /** Whether the run with this pid serves (HTTP, its queues). Rejecting counts as not yet. */
  isReady(pid: number): Promise<boolean>;
}

export interface SupervisorOptions {
  processes: SupervisedProcess[];
  policy: RestartPolicy;
  log: Logger;
  /** A process kept exiting before it got ready; it is not restarted again. Called at most once. */
  onGiveUp(reason: string): void;
}

export interface Supervisor {
  /** Resolves once every process has been ready, each at least once. */
  allReady: Promise<void>;
  /** Names of the processes not ready yet (for a timeout message). */
  notReady(): string[];
  /** Stops restarting; SIGTERM to each running process, SIGKILL to any still running after graceMs. */
  stop(graceMs: number): Promise<void>;
  /** Stops restarting; SIGKILL to each running process now. */
  kill(): void;
}

interface Slot {
  process: SupervisedProcess;
  current: RunningChild | null;
  history: RestartHistory;
  everReady: boolean;
  restartTimer: NodeJS.Timeout | null;
}

function seconds(ms: number): string {
  return `${ms / MS_PER_S} s`;
}

/** Starts every process now and keeps them running until stop() or kill(). */
export function startSupervisor(options: SupervisorOptions): Supervisor {
  const { policy, log } = options;
  const slots: Slot[] = options.processes.map((p) => ({ process: p, current: null, history: NO_RESTARTS, everReady: false, restartTimer: null }));
  let stopped = false;
  let gaveUp = false;
  let markAllReady!: () => void;
  const allReady = new Promise<void>((resolve) => (markAllReady = resolve));

  const watchReadiness = async (slot: Slot, child: RunningChild, run: { readyAt: number | null }) => {
    while (!stopped && isRunning(child)) {
      if ((await slot.process.isReady(child.pid).catch(() => false)) && isRunning(child)) {
        run.readyAt = Date.now();
        slot.everReady = true;
        log.info({ child: child.spec.name, child_pid: child.pid }, `${child.spec.name} is ready`);
        if (slots.every((s) => s.everReady)) markAllReady();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, READY_PROBE_INTERVAL_MS));
    }
  };

  const onExit = (slot: Slot, child: RunningChild, exit: ChildExit, run: Run) => {
    slot.current = null;
    const decision = decideAfterExit(slot.history, run, policy);
    slot.history = decision.history;
    const { name } = child.spec;
    const fields = { child: name, child_pid: child.pid, code: exit.code, signal: exit.signal };
    if (decision.action === 'give-up') {
      const reason = `${name} exited ${decision.history.failedStarts} times in a row before it was ready (last: ${describeExit(exit)}); not restarting it`;
      log.error({ ...fields, failed_starts: decision.history.failedStarts }, reason);
      if (!gaveUp) {
        gaveUp = true;
        options.onGiveUp(reason);
      }
      return;
    }
    const { restarts } = decision.history;
    log.warn(
      { ...fields, restart: restarts, delay_ms: decision.delayMs },
      `${name} exited unexpectedly (${describeExit(exit)}); restart ${restarts} in ${seconds(decision.delayMs)}`,
    );
    slot.restartTimer = setTimeout(() => launch(slot), decision.delayMs);
  };

  const launch = (slot: Slot) => {
    slot.restartTimer = null;
    if (stopped) return;
    const child = startChild(slot.process.spec);
    slot.current = child;
    const startedAt = Date.now();
    const run = { readyAt: null as number | null };
    log.info({ child: child.spec.name, child_pid: child.pid }, `started ${child.spec.name}`);
    void watchReadiness(slot, child, run);
    void child.exited.then((exit) => {
      if (!stopped) onExit(slot, child, exit, { startedAt, readyAt: run.readyAt, exitedAt: Date.now() });
    });
  };

  const halt = (): RunningChild[] => {
    stopped = true;
    for (const slot of slots) if (slot.restartTimer) clearTimeout(slot.restartTimer);
    return slots.flatMap((s) => (s.current ? [s.current] : []));
  };

  for (const slot of slots) launch(slot);
  if (slots.length === 0) markAllReady();
  return {
    allReady,
    notReady: () => slots.filter((s) => !s.everReady).map((s) => s.process.spec.name),
    stop: (graceMs) => stopChildren(halt(), graceMs),
    kill: () => killChildren(halt()),
  };
}
