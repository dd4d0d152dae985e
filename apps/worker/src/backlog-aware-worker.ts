/**
 * A BullMQ Worker that knows whether its last fetch found the queue empty.
 *
 * BullMQ decides "drained" in nextJobFromJobData (a protected hook: the
 * fetch's result arrives there) and emits 'drained' once per empty spell; its
 * 'active' event comes later, when processing starts, so it cannot say that
 * a fetch succeeded. Recording the result where BullMQ sees it keeps the
 * two in step: `backlogEmpty` is true from a fetch that found nothing until
 * the next fetch that finds a job.
 */
import { Worker, type Job, type JobJson } from 'bullmq';

export class BacklogAwareWorker<DataType = unknown, ResultType = unknown> extends Worker<DataType, ResultType> {
  private lastFetchEmpty = false;

  /** True when the last attempt to take a job found none waiting. */
  get backlogEmpty(): boolean {
    return this.lastFetchEmpty;
  }

  protected override nextJobFromJobData(jobData?: JobJson, jobId?: string, token?: string): Promise<Job<DataType, ResultType, string>> {
    this.lastFetchEmpty = jobData === undefined || jobData === null;
    return super.nextJobFromJobData(jobData, jobId, token);
  }
}
