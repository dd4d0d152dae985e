export * from './client.ts';
export * from './errors.ts';
export { createEventStreamParser, readEventStream, type ServerSentEvent } from './event-stream.ts';
export type { ErrorCode, JobList, JobStatus, JobView, ModelList, ModelVersionView, PredictResponse, TrainingProgress, TrainingView, WorkerList } from '@digitq/contracts';
