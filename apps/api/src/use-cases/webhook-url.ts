import { AppError } from '@digitq/contracts';
import { WebhookHostUnresolvedError, WebhookUrlRefusedError, type WebhookUrlGuard } from '@digitq/webhooks';

/** Throws WEBHOOK_URL_REFUSED for a webhook URL no worker would deliver to (private, special-purpose or unresolvable). */
export async function checkWebhookUrl(guard: WebhookUrlGuard, url: string): Promise<void> {
  try {
    await guard.resolve(url);
  } catch (error) {
    if (error instanceof WebhookUrlRefusedError || error instanceof WebhookHostUnresolvedError) {
      throw new AppError('WEBHOOK_URL_REFUSED', error.message, {}, { cause: error });
    }
    throw error;
  }
}
