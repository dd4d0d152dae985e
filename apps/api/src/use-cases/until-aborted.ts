/** A promise that resolves when `signal` aborts; `dispose` drops the listener so a process-wide signal does not gather one per request. */
export function untilAborted(signal: AbortSignal): { promise: Promise<void>; dispose: () => void } {
  let onAbort: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}
