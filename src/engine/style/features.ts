// Images -> the trunk's pooled features, the inputs of a style's head. Forward passes only, on any backend.
import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from '../../imaging/rgb-image.ts';
import { toFloatImage } from '../float-image.ts';

/** Pixels in [0, 1] as [1, h, w, 3]. */
function imageTensor(img: RgbImage): tf.Tensor4D {
  return tf.tensor4d(toFloatImage(img).data, [1, img.height, img.width, 3]);
}

/** The whole image squashed to size × size (as Keras' image_dataset_from_directory resizes): what the head sees. */
export function headInput(img: RgbImage, size: number): tf.Tensor4D {
  return tf.tidy(() => tf.image.resizeBilinear(imageTensor(img), [size, size], false, true));
}

/** One random training view: a crop, maybe mirrored, brighter or darker. All numbers come from `random`. */
export interface Augmentation {
  /** Crop box in [0, 1] image coordinates: top, left, bottom, right. */
  box: [number, number, number, number];
  flip: boolean;
  /** Added to every pixel, then clipped to [0, 1]. */
  brightness: number;
}

/** A random crop of 60–100 % of each side (aspect jittered ±15 %), a horizontal flip half the time, brightness ±0.15. */
export function randomAugmentation(random: () => number): Augmentation {
  const scale = 0.6 + 0.4 * random();
  const aspect = 0.85 + 0.3 * random();
  const h = Math.min(1, scale * Math.sqrt(aspect));
  const w = Math.min(1, scale / Math.sqrt(aspect));
  const top = (1 - h) * random();
  const left = (1 - w) * random();
  return { box: [top, left, top + h, left + w], flip: random() < 0.5, brightness: 0.3 * random() - 0.15 };
}

/**
 * The augmented view of an image, size × size. A flip is the crop box's left and right edges swapped (crop_and_resize
 * then samples the crop right to left, as TensorFlow documents): one op, where tf.reverse on tfjs' cpu backend (beside
 * onnx) took ~25 ms a 96 px view, twenty times the crop's own time.
 */
export function augmentedInput(img: RgbImage, size: number, a: Augmentation): tf.Tensor4D {
  const [top, left, bottom, right] = a.box;
  const box = a.flip ? [top, right, bottom, left] : a.box;
  return tf.tidy(() => {
    const x = tf.image.cropAndResize(imageTensor(img), tf.tensor2d([box], [1, 4]), tf.tensor1d([0], 'int32'), [size, size], 'bilinear') as tf.Tensor4D;
    return tf.clipByValue(tf.add(x, a.brightness), 0, 1) as tf.Tensor4D;
  });
}
