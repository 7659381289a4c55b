import type { Attachment, Message } from 'discord.js';
import type { ErrorDetail } from '../errors.ts';
import { ImageInputError } from '../imaging/index.ts';

/** Where a dream's input comes from: a URL on Discord's CDN, as announced by Discord. */
export interface ImageRef {
  url: string;
  filename: string;
  contentType?: string;
  /** Bytes, when Discord told us. */
  size?: number;
}

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|avif|tiff?)$/i;

function looksLikeImage(a: { contentType: string | null; name: string }): boolean {
  return a.contentType ? a.contentType.startsWith('image/') && a.contentType !== 'image/svg+xml' : IMAGE_EXT.test(a.name);
}

export function attachmentRef(a: Attachment): ImageRef {
  return { url: a.url, filename: a.name, contentType: a.contentType ?? undefined, size: a.size };
}

/** The first image of a message: an image attachment, else an embed's image or thumbnail. */
export function firstImageOf(message: Message): ImageRef | null {
  const attachment = message.attachments.find((a) => looksLikeImage(a));
  if (attachment) return attachmentRef(attachment);
  for (const embed of message.embeds) {
    const media = embed.image ?? embed.thumbnail;
    if (media?.url) return { url: media.url, filename: new URL(media.url).pathname.split('/').pop() || 'image' };
  }
  return null;
}

export interface DownloadRules {
  attachmentUrlPrefixes: string[];
  maxInputBytes: number;
  downloadTimeoutMs: number;
}

/** Refusals that need no download: the host, the announced size and type. Returns what is wrong, or null if fine. */
export function precheck(ref: ImageRef, rules: DownloadRules): ErrorDetail | null {
  if (!rules.attachmentUrlPrefixes.some((p) => ref.url.startsWith(p))) return { code: 'image.not-on-discord', params: {} };
  if (ref.size !== undefined && ref.size > rules.maxInputBytes) return { code: 'image.file-too-large', params: { bytes: ref.size, max: rules.maxInputBytes } };
  if (ref.contentType && !ref.contentType.startsWith('image/')) return { code: 'image.not-an-image-type', params: { type: ref.contentType.split(';')[0] } };
  return null;
}

/**
 * Downloads an image within the rules: allowed hosts only, a byte cap enforced while streaming (whatever
 * Content-Length says), and a timeout for the whole transfer. Every failure is an ImageInputError sentence.
 */
export async function downloadImage(ref: ImageRef, rules: DownloadRules, signal?: AbortSignal): Promise<Buffer> {
  const refusal = precheck(ref, rules);
  if (refusal) throw new ImageInputError(refusal);
  const timeout = AbortSignal.timeout(rules.downloadTimeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    const res = await fetch(ref.url, { signal: combined, redirect: 'error' });
    if (!res.ok || !res.body) throw new ImageInputError({ code: 'image.download-failed', params: { status: res.status } });
    const announced = Number(res.headers.get('content-length') ?? NaN);
    if (announced > rules.maxInputBytes) throw new ImageInputError({ code: 'image.file-too-large', params: { bytes: announced, max: rules.maxInputBytes } });
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += chunk.byteLength;
      if (total > rules.maxInputBytes) {
        await res.body.cancel().catch(() => undefined);
        throw new ImageInputError({ code: 'image.download-too-large', params: { max: rules.maxInputBytes } });
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof ImageInputError) throw err;
    if (timeout.aborted) throw new ImageInputError({ code: 'image.download-slow', params: { seconds: Math.round(rules.downloadTimeoutMs / 1000) } });
    if (signal?.aborted) throw err;
    throw new ImageInputError({ code: 'image.download-failed', params: {} });
  }
}
