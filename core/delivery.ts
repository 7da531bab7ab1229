/**
 * What a failed send's error says about the message: decided where the send is settled (the pool knows whether it
 * was ever written; a relay's send path knows whether it got to the write), stamped on the error here.
 */
import { MessageExpiredError, SessionTimeoutError, type Delivery, type RelayActorsError } from './errors.ts';

/**
 * `error` stating `delivery`: the error itself when it already does, else a copy (same class, code and fields;
 * the ttl and session-timeout errors re-worded for it). Errors shared by many sends are never changed in place.
 *
 * @example
 * const error = withDelivery(new StoppedError('The pool'), 'not-sent');
 * error.delivery; // 'not-sent'
 */
export function withDelivery<E extends RelayActorsError>(error: E, delivery: Delivery): E {
  if (error.delivery === delivery) return error;
  if (error instanceof MessageExpiredError)
    return new MessageExpiredError(error.ttlMs, delivery) as RelayActorsError as E;
  if (error instanceof SessionTimeoutError)
    return new SessionTimeoutError(error.timeoutMs, delivery) as RelayActorsError as E;
  const copy = Object.create(Object.getPrototypeOf(error) as object, Object.getOwnPropertyDescriptors(error)) as E;
  Object.defineProperty(copy, 'delivery', { value: delivery, enumerable: true, configurable: true });
  return copy;
}
