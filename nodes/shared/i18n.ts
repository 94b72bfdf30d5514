import type { NodeAPI } from 'node-red';
import { TenantBrokerError } from '../../src';

/** Engine error keys (`errors.*`) live once, in the tenant-broker catalog. */
const ENGINE_NAMESPACE = 'node-red-contrib-tenant-broker/tenant-broker:';

/** A translated, user-facing sentence for any error the engine or a node raises. */
export function describeError(RED: NodeAPI, err: unknown): string {
  if (err instanceof TenantBrokerError) {
    const key = ENGINE_NAMESPACE + err.key;
    const text = RED._(key, err.params as Record<string, string>);
    // i18next answers with the key itself when it has no translation
    return text && !text.endsWith(err.key) ? text : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** An Error whose message is the translated text, for `done(err)`. */
export function translatedError(RED: NodeAPI, err: unknown): Error {
  return new Error(describeError(RED, err));
}
