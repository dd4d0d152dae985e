import type { z } from 'zod';
import { AppError } from '@digitq/contracts';

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

/** Parses `value` or throws VALIDATION_FAILED listing every issue, e.g. "invalid query: limit: must be ...". */
export function parseOrThrow<Schema extends z.ZodType>(schema: Schema, value: unknown, what: string): z.output<Schema> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new AppError('VALIDATION_FAILED', `invalid ${what}: ${result.error.issues.map(describeIssue).join('; ')}`, {}, { cause: result.error });
}
