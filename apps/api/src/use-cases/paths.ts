/** Where a resource can be read: named in use-case messages ("see /v1/jobs/<id>") and in the HTTP layer's Location headers. */
export function jobPath(id: string): string {
  return `/v1/jobs/${encodeURIComponent(id)}`;
}

export function trainingPath(id: string): string {
  return `/v1/trainings/${encodeURIComponent(id)}`;
}
