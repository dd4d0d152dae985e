/**
 * RFC 7240 `Prefer: wait=N`: the client would rather wait up to N seconds
 * for a final answer than poll. Values above MAX_PREFER_WAIT_S are clamped;
 * malformed preferences are ignored, as the RFC asks.
 */

export const MAX_PREFER_WAIT_S = 60;

/** The requested wait in whole seconds, clamped to MAX_PREFER_WAIT_S, or null when none was asked for. */
export function parsePreferWait(header: string | readonly string[] | undefined): number | null {
  if (header === undefined) return null;
  for (const line of [header].flat()) {
    for (const preference of line.split(',')) {
      // Parameters after ";" belong to the preference and do not change its value.
      const [token = ''] = preference.split(';');
      const match = /^\s*wait\s*=\s*"?([0-9]+)"?\s*$/i.exec(token);
      if (match) return Math.min(Number(match[1]), MAX_PREFER_WAIT_S);
    }
  }
  return null;
}

/** Tells the client its wait preference was honoured; the answer depends on Prefer, so caches must key on it. */
export function waitAppliedHeaders(waitS: number | null): Record<string, string> {
  return { Vary: 'Prefer', ...(waitS === null ? {} : { 'Preference-Applied': `wait=${waitS}` }) };
}
