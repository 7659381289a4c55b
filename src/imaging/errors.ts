import { UserError } from '../errors.ts';

/**
 * An input image we refuse or cannot read. The message is one plain sentence meant to be shown
 * to the end user as-is (no stack traces, no decoder jargon).
 */
export class ImageInputError extends UserError {
  override name = 'ImageInputError';
  constructor(message: string) {
    super(message, 'image');
  }
}

/** An output path whose extension does not name a format we can write. */
export class OutputFormatError extends UserError {
  override name = 'OutputFormatError';
  constructor(message: string) {
    super(message, 'output');
  }
}
