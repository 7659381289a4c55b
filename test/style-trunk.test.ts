import { describe, expect, it } from 'vitest';
import { DreamParamsError } from '../src/engine/dream.ts';
import { loadManifest, type ModelManifest } from '../src/engine/model/manifest.ts';
import { checkStyleFits } from '../src/engine/style/head.ts';
import { english, errorText, messagesFor } from '../src/i18n/index.ts';

// A style dreamed with a model it was not trained on (`--model darknet_tiny`, Discord's `model:`) is refused in the
// member's language, like every other bad value.
describe('a style on the wrong model', () => {
  const refusal = (model: ModelManifest, style: ModelManifest): DreamParamsError => {
    try {
      checkStyleFits(model, style);
    } catch (err) {
      if (err instanceof DreamParamsError) return err;
      throw err;
    }
    throw new Error('not refused');
  };

  it('is one sentence in English and in Japanese, naming the style, its trunk and the model', async () => {
    const [darknet, inception] = await Promise.all([loadManifest('darknet_tiny'), loadManifest('inception_v3')]);
    const pets: ModelManifest = { ...inception, name: 'pets', style: { trunk: 'inception_v3', classes: ['cats', 'dogs'] } as NonNullable<ModelManifest['style']> };
    const wrong = refusal(darknet, pets);
    expect(wrong.message).toBe('The style "pets" was trained on inception_v3, not on darknet_tiny: dream it without a model, or with inception_v3.');
    expect(errorText(english, wrong)).toBe(wrong.message);
    expect(errorText(messagesFor('ja'), wrong)).toBe('スタイル「pets」は inception_v3 で学習されたもので、darknet_tiny では使えません。モデルを指定しないか、inception_v3 を指定してください。');
    const model = refusal(inception, darknet);
    expect(model.message).toBe('"darknet_tiny" is a model, not a style.');
    expect(errorText(messagesFor('ja'), model)).toBe('「darknet_tiny」はモデルで、スタイルではありません。');
    expect(() => checkStyleFits(inception, pets)).not.toThrow();
  });
});
