export function jobPath(id: string): string {
  return `/v1/jobs/${encodeURIComponent(id)}`;
}
