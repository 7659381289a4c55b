import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadImage, precheck } from '../src/jobs/image-source.ts';
import { ImageInputError } from '../src/imaging/index.ts';
import { FakeDiscord } from './helpers/fake-discord.ts';

describe('downloading an input image', () => {
  let fake: FakeDiscord;
  const rules = () => ({ attachmentUrlPrefixes: [fake.cdnBase], maxInputBytes: 1000, downloadTimeoutMs: 300 });
  beforeAll(async () => {
    fake = await FakeDiscord.start();
  });
  afterAll(() => fake.close());

  it('downloads an allowed file', async () => {
    const url = fake.serveFile('ok.bin', Buffer.alloc(500, 7), 'image/png');
    expect((await downloadImage({ url, filename: 'ok.png' }, rules())).length).toBe(500);
  });

  it('never fetches from a host that is not allowed', async () => {
    const url = fake.serveFile('far.png', Buffer.alloc(10), 'image/png');
    const elsewhere = { ...rules(), attachmentUrlPrefixes: ['https://cdn.discordapp.com/'] };
    await expect(downloadImage({ url, filename: 'far.png' }, elsewhere)).rejects.toThrow(/only dream images uploaded to Discord/);
    expect(fake.fileRequests('far.png')).toBe(0);
  });

  it('refuses by announced size before downloading, and cuts off a file larger than it claims', async () => {
    expect(precheck({ url: `${fake.cdnBase}x`, filename: 'x', size: 5000 }, rules())).toEqual({ code: 'image.file-too-large', params: { bytes: 5000, max: 1000 } });
    const url = fake.serveFile('liar.png', Buffer.alloc(5000, 1), 'image/png', { lieContentLength: 'omit' });
    await expect(downloadImage({ url, filename: 'liar.png', size: 100 }, rules())).rejects.toThrow(ImageInputError);
    await expect(downloadImage({ url, filename: 'liar.png', size: 100 }, rules())).rejects.toThrow('That file is larger than the 1 kB I take.');
  });

  it('gives up on a slow host at the timeout', async () => {
    // The host answers only after a minute (or when the fake closes), so only a timeout can end these downloads.
    const url = fake.serveFile('slow.png', Buffer.alloc(10), 'image/png', { delayMs: 60_000 });
    const stop = new AbortController();
    const patient = downloadImage({ url, filename: 'slow.png' }, { ...rules(), downloadTimeoutMs: 30_000 }, stop.signal);
    const patientOutcome = patient.then(
      () => 'downloaded',
      (err: unknown) => (stop.signal.aborted ? 'stopped' : `failed: ${String(err)}`),
    );
    await expect(downloadImage({ url, filename: 'slow.png' }, rules())).rejects.toThrow(/took longer than/);
    // It gave up at its own 300 ms timeout: the same download with a 30 s one is still waiting for the host.
    expect(await Promise.race([patientOutcome, Promise.resolve('waiting')])).toBe('waiting');
    stop.abort();
    expect(await patientOutcome).toBe('stopped');
  });
});
