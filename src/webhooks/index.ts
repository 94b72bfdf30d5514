export { WebhookDispatcher } from './dispatcher';
export { validateWebhookUrl, WebhookConfigError } from './validate';
export { verifySignature, sign, signingKey, DEFAULT_TOLERANCE_SECONDS } from './signing';
export * from './types';
