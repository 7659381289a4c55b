/**
 * Errors a person should read: their message is one plain sentence, shown as it is (a private reply in Discord,
 * one line from a CLI). `kind` is stable and survives a trip through a worker thread or Redis, where classes do not.
 */
export type UserErrorKind = 'usage' | 'config' | 'image' | 'output' | 'params' | 'model' | 'style-data';

export class UserError extends Error {
  constructor(
    message: string,
    readonly kind: UserErrorKind,
  ) {
    super(message);
  }
}

/** The work was cancelled (by its owner, or by a shutdown); nothing went wrong. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor(message = 'The dream was cancelled.') {
    super(message);
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** An error flattened for postMessage or JSON: the class is lost, the kind is kept. */
export interface ErrorData {
  name: string;
  message: string;
  kind?: UserErrorKind | 'cancelled';
}

export function toErrorData(err: unknown): ErrorData {
  if (err instanceof UserError) return { name: err.name, message: err.message, kind: err.kind };
  if (err instanceof CancelledError) return { name: err.name, message: err.message, kind: 'cancelled' };
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

/** The error `toErrorData` flattened, as a UserError, CancelledError or plain Error of the same name. */
export function fromErrorData(e: ErrorData): Error {
  if (e.kind === 'cancelled') return new CancelledError(e.message);
  const err = e.kind ? new UserError(e.message, e.kind) : new Error(e.message);
  err.name = e.name;
  return err;
}
