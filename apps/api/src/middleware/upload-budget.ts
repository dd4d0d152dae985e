/**
 * A per-process budget of request-body bytes in flight (UPLOAD_BUDGET_BYTES),
 * so that many large uploads at once cannot take the API's memory: each
 * request with a body reserves what it may hold (its Content-Length, or the
 * route's largest body when it is chunked; a JSON body several times that,
 * see JSON_MEMORY_PER_BYTE) before its body is read, and gives it back
 * exactly once when it is answered or its connection closes. An upload that
 * does not fit is refused with 503 SERVICE_UNAVAILABLE and Retry-After, its
 * body never read.
 */
import type { Request, RequestHandler } from 'express';
import { AppError } from '@digitq/contracts';
import { declaredBodyBytes, hasBody } from './body.ts';

/** A refused upload may try again soon: budget frees up as soon as another upload is answered. */
export const UPLOAD_BUDGET_RETRY_AFTER_S = 1;
/**
 * Memory a JSON body takes per byte of it. Multipart files are kept as they
 * arrive (1 per byte), but a JSON body is held as bytes, then as text, then as
 * the parsed value, with its base64 images decoded besides: one of 63 MB
 * raised the API's RSS by about 300 MB (measured), so it reserves 4 bytes per
 * byte, at most the whole budget (a lone request of the largest size fits).
 */
export const JSON_MEMORY_PER_BYTE = 4;

export class UploadBudget {
  #inFlightBytes = 0;

  /** `onRelease` hears of every body answered (memory-reclaim.ts collects after large ones). */
  constructor(
    readonly capacityBytes: number,
    private readonly onRelease?: (bytes: number, idle: boolean) => void,
  ) {}

  /** Bytes reserved by requests not yet answered. */
  get inFlightBytes(): number {
    return this.#inFlightBytes;
  }

  /** Reserves `bytes`, or returns null when they do not fit; the returned release gives them back (once, however often it is called). */
  tryReserve(bytes: number): (() => void) | null {
    if (this.#inFlightBytes + bytes > this.capacityBytes) return null;
    this.#inFlightBytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlightBytes -= bytes;
      this.onRelease?.(bytes, this.#inFlightBytes === 0);
    };
  }
}

/** What a request's body may take in memory: what it declares (else the most the route reads), times JSON's cost. */
function bytesToReserve(req: Request, maxBodyBytes: number, capacityBytes: number): number {
  const bodyBytes = Math.min(declaredBodyBytes(req) ?? maxBodyBytes, maxBodyBytes);
  const perByte = req.is('application/json') ? JSON_MEMORY_PER_BYTE : 1;
  return Math.min(bodyBytes * perByte, capacityBytes);
}

/**
 * Reserves budget for the request's body before the body parser runs; a
 * request without a body passes untouched. `maxBodyBytes` is the route's
 * largest body (bodies above it are refused by `boundedBody` before this).
 */
export function reserveUploadBudget(budget: UploadBudget, maxBodyBytes: number): RequestHandler {
  return (req, res, next) => {
    if (!hasBody(req)) return next();
    const bytes = bytesToReserve(req, maxBodyBytes, budget.capacityBytes);
    const release = budget.tryReserve(bytes);
    if (release === null) {
      next(
        new AppError('SERVICE_UNAVAILABLE', `too many uploads in progress (${budget.inFlightBytes} of ${budget.capacityBytes} bytes in flight); retry in ${UPLOAD_BUDGET_RETRY_AFTER_S} s`, {
          // The body is never read: closing the connection after the answer spares the client sending it.
          retryAfterS: UPLOAD_BUDGET_RETRY_AFTER_S,
          inputUnread: true,
        }),
      );
      return;
    }
    // 'finish': answered (the parsed body is garbage from here on); 'close': answered or cut off mid-body.
    res.once('finish', release);
    res.once('close', release);
    next();
  };
}
