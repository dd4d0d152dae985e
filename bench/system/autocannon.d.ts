/**
 * The part of autocannon's programmatic API the benchmark uses (autocannon
 * ships no types; @types/autocannon describes an older release whose
 * `response` event lacks the client argument that 9.x passes first).
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface Options {
    /** One URL, or several: connection i goes to url[i % url.length]. */
    url: string | string[];
    connections?: number;
    /** Seconds. */
    duration?: number;
    /** Seconds a request may take before it counts as a timeout error. */
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
  }

  interface Result {
    errors: number;
    timeouts: number;
    non2xx: number;
    resets: number;
    /** Seconds. */
    duration: number;
  }

  interface Instance extends EventEmitter, PromiseLike<Result> {
    on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void): this;
    on(event: 'reqError', listener: (error: Error) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  function autocannon(options: Options): Instance;
  export default autocannon;
}
