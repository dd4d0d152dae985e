/**
 * A process that `npm start` started must not outlive it. The launcher gives
 * each child an IPC channel; when the launcher dies, by any signal including
 * SIGKILL (which it cannot catch), the kernel closes that channel and Node
 * emits 'disconnect' here. No polling is needed: the channel's end is the
 * parent's death.
 */

/**
 * Calls `onParentGone` once when the parent that started this process over an
 * IPC channel is gone (at once if it went before this call). A no-op for a
 * process started without one (`npm run api`, a container, systemd), which
 * its own supervisor stops.
 */
export function exitWhenParentDies(onParentGone: () => void): void {
  if (typeof process.send !== 'function') return;
  if (!process.connected) {
    process.nextTick(onParentGone);
    return;
  }
  process.once('disconnect', onParentGone);
  // A 'disconnect' listener refs the channel; the process must still end when its own work is done.
  process.channel?.unref();
}
