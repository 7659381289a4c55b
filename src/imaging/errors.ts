import { UserError, type ErrorDetail } from '../errors.ts';
import { englishError } from '../i18n/index.ts';

/**
 * An input image we refuse or cannot read. The message is one plain sentence meant to be shown
 * to the end user as-is (no stack traces, no decoder jargon).
 */
export class ImageInputError extends UserError {
  override name = 'ImageInputError';
  /** A detail (what a Discord member can cause) is worded in their language; its English wording is the message. */
  constructor(what: string | ErrorDetail) {
    super(typeof what === 'string' ? what : englishError(what), 'image', typeof what === 'string' ? undefined : what);
  }
}

/** An output path whose extension does not name a format we can write. */
export class OutputFormatError extends UserError {
  override name = 'OutputFormatError';
  constructor(message: string) {
    super(message, 'output');
  }
}
