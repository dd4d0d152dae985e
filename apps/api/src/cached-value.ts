/** `read()` at most once per `ttlMs`; concurrent callers share one call. A failed read is not cached. */
export function cachedValue<T>(read: () => Promise<T>, ttlMs: number, now: () => number = Date.now): () => Promise<T> {
  let cached: { value: Promise<T>; at: number } | null = null;
  return () => {
    const time = now();
    if (cached && time - cached.at < ttlMs) return cached.value;
    const entry = { value: read(), at: time };
    cached = entry;
    entry.value.catch(() => {
      if (cached === entry) cached = null;
    });
    return entry.value;
  };
}
