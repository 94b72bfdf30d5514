import type { AedesOptions, AuthenticateError } from 'aedes';
import type { EventEmitter } from 'node:events';
import type { EngineEvents } from '../events';
import { REFUSAL_RETURN_CODES, type RefusalReason } from '../model';

export type Hooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward' | 'published'>>;

/** The error aedes answers a CONNECT with: its return code is the refusal's. */
export function refusal(reason: RefusalReason): AuthenticateError {
  const error = new Error(`connection refused: ${reason}`) as AuthenticateError;
  (error as { returnCode: number }).returnCode = REFUSAL_RETURN_CODES[reason];
  return error;
}

/**
 * aedes calls the hooks from socket and timer callbacks: an exception thrown
 * there is uncaught, and Node-RED exits on one. A hook that throws (a bug) is
 * reported as `engine-error` and answered with the safest outcome for that one
 * client: its connection refused or closed, the delivery dropped.
 */
export function guardHooks(hooks: Hooks, events: EventEmitter<EngineEvents>): Hooks {
  const failed = (err: unknown) => {
    const error = err instanceof Error ? err : new Error(String(err));
    events.emit('engine-error', error);
    return error;
  };
  return {
    preConnect(client, packet, callback) {
      try {
        hooks.preConnect(client, packet, callback);
      } catch (err) {
        callback(failed(err), false);
      }
    },
    authenticate(client, username, password, done) {
      try {
        hooks.authenticate(client, username, password, done);
      } catch (err) {
        failed(err);
        done(refusal('server-unavailable'), null);
      }
    },
    authorizePublish(client, packet, callback) {
      try {
        hooks.authorizePublish(client, packet, callback);
      } catch (err) {
        callback(failed(err));
      }
    },
    authorizeSubscribe(client, sub, callback) {
      try {
        hooks.authorizeSubscribe(client, sub, callback);
      } catch (err) {
        callback(failed(err), null);
      }
    },
    authorizeForward(client, packet) {
      try {
        return hooks.authorizeForward(client, packet);
      } catch (err) {
        failed(err);
        return null;
      }
    },
    published(packet, client, callback) {
      try {
        hooks.published(packet, client, callback);
      } catch (err) {
        failed(err);
        callback(null);
      }
    },
  };
}
