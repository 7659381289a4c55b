/**
 * Errors a person should read: their message is one plain sentence, shown as it is (a private reply in Discord,
 * one line from a CLI). `kind` is stable and survives a trip through a worker thread or Redis, where classes do not.
 */
export type UserErrorKind = 'usage' | 'config' | 'image' | 'output' | 'params' | 'model' | 'style-data';

/**
 * The errors a Discord member can cause, by code, with the values their sentence needs: each language words them
 * (src/i18n), so the same refusal reads in English or Japanese. The English wording is also the error's message.
 */
export interface ErrorParams {
  'image.not-on-discord': Record<string, never>;
  'image.file-too-large': { bytes: number; max: number };
  'image.download-too-large': { max: number };
  'image.not-an-image-type': { type: string };
  'image.download-failed': { status?: number };
  'image.download-slow': { seconds: number };
  'image.empty': Record<string, never>;
  'image.unreadable': Record<string, never>;
  'image.damaged': Record<string, never>;
  'image.too-many-pixels': { width: number; height: number; limit: number };
  'image.heic': Record<string, never>;
  /** An animation whose frames to dream, at their stored size, exceed the budget (checked from its header). */
  'image.animation-too-large': { frames: number; width: number; height: number; limit: number };
  'style.unknown': { style: string; installed: string[] };
  'style.not-a-style': { model: string };
  'style.unknown-class': { style: string; target: string; classes: string[] };
  'label.out-of-range': { target: string; model: string; count: number };
  'label.empty': { model: string };
  'label.ambiguous': { target: string; model: string; options: string[] };
  'label.unknown': { target: string; model: string; close: string[] };
  /** Not `layer` or `layer:channel` of one of the model's dream layers. */
  'channel.bad': { value: string; model: string; layers: string[] };
  'channel.out-of-range': { layer: string; channel: number; count: number };
  /** Channels that never fire on the picture: nothing to grow, only roll seams. */
  'channel.silent': { channels: string[] };
  'model.unknown': { model: string; installed: string[] };
  /** A style given with a model it was not trained on (e.g. `model: darknet_tiny`). */
  'style.wrong-trunk': { style: string; trunk: string; model: string };
  /** A model's name given as a style. */
  'style.is-a-model': { style: string };
}
export type ErrorCode = keyof ErrorParams;
/** An error's code and values: plain data, so it crosses worker threads and Redis. */
export type ErrorDetail = { [C in ErrorCode]: { code: C; params: ErrorParams[C] } }[ErrorCode];

export class UserError extends Error {
  constructor(
    message: string,
    readonly kind: UserErrorKind,
    /** Set on errors a member can cause: lets the reply be worded in the member's language. */
    readonly detail?: ErrorDetail,
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
  detail?: ErrorDetail;
}

export function toErrorData(err: unknown): ErrorData {
  if (err instanceof UserError) return { name: err.name, message: err.message, kind: err.kind, ...(err.detail ? { detail: err.detail } : {}) };
  if (err instanceof CancelledError) return { name: err.name, message: err.message, kind: 'cancelled' };
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

/** The error `toErrorData` flattened, as a UserError, CancelledError or plain Error of the same name. */
export function fromErrorData(e: ErrorData): Error {
  if (e.kind === 'cancelled') return new CancelledError(e.message);
  const err = e.kind ? new UserError(e.message, e.kind, e.detail) : new Error(e.message);
  err.name = e.name;
  return err;
}
