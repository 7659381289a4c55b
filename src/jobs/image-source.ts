import type { Attachment, Message } from 'discord.js';
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

function megabytes(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/** Refusals that need no download: the host, the announced size and type. Returns a sentence, or null if fine. */
export function precheck(ref: ImageRef, rules: DownloadRules): string | null {
  if (!rules.attachmentUrlPrefixes.some((p) => ref.url.startsWith(p))) return 'I only dream images uploaded to Discord, and that one lives somewhere else.';
  if (ref.size !== undefined && ref.size > rules.maxInputBytes) return `That file is ${megabytes(ref.size)}; the most I take is ${megabytes(rules.maxInputBytes)}.`;
  if (ref.contentType && !ref.contentType.startsWith('image/')) return `That file is not an image (${ref.contentType.split(';')[0]}).`;
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
    if (!res.ok || !res.body) throw new ImageInputError(`I could not download that image (HTTP ${res.status}).`);
    const announced = Number(res.headers.get('content-length') ?? NaN);
    if (announced > rules.maxInputBytes) throw new ImageInputError(`That file is ${megabytes(announced)}; the most I take is ${megabytes(rules.maxInputBytes)}.`);
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += chunk.byteLength;
      if (total > rules.maxInputBytes) {
        await res.body.cancel().catch(() => undefined);
        throw new ImageInputError(`That file is larger than the ${megabytes(rules.maxInputBytes)} I take.`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof ImageInputError) throw err;
    if (timeout.aborted) throw new ImageInputError(`Downloading that image took longer than ${Math.round(rules.downloadTimeoutMs / 1000)} s, so I gave up.`);
    if (signal?.aborted) throw err;
    throw new ImageInputError('I could not download that image.');
  }
}
