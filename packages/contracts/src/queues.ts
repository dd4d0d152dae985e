/**
 * Queue and job names shared by the API (producer) and the workers
 * (consumers). Every BullMQ key lives under QUEUE_PREFIX; for Redis Cluster
 * the prefix is hash-tagged ({digitq}) so a queue's keys share one slot.
 */
export const QUEUE_NAMES = {
  inference: 'inference',
  training: 'training',
  webhooks: 'webhooks',
} as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export const JOB_NAMES = {
  classifyDigits: 'classify-digits',
  trainModel: 'train-model',
  deliverWebhook: 'deliver-webhook',
} as const;
