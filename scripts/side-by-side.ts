// Joins images left to right at one height, for before/after pictures: tsx scripts/side-by-side.ts out.png a.jpg b.png [...]
import sharp from 'sharp';

async function main(out: string, inputs: string[]): Promise<void> {
  if (inputs.length < 2) throw new Error('usage: side-by-side.ts OUT IN1 IN2 [IN3...]');
  const height = 384;
  const gap = 8;
  const parts = await Promise.all(
    inputs.map(async (file) => {
      const buf = await sharp(file).resize({ height }).png().toBuffer();
      return { buf, width: (await sharp(buf).metadata()).width };
    }),
  );
  const width = parts.reduce((w, p) => w + p.width, 0) + gap * (parts.length - 1);
  let left = 0;
  const composite = parts.map((p) => {
    const item = { input: p.buf, left, top: 0 };
    left += p.width + gap;
    return item;
  });
  await sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).composite(composite).toFile(out);
}

main(process.argv[2], process.argv.slice(3)).catch((err: Error) => {
  process.stderr.write(`side-by-side: ${err.message}\n`);
  process.exit(1);
});
