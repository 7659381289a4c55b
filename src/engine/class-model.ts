// The ImageNet classifier's names, importable without loading it (a command line's help and checks use them).

/** The classifier explained when none is named. */
export const DEFAULT_EXPLAIN_MODEL = 'darknet_tiny';

/** The classifier whose logit grows an ImageNet class (Explain's: Darknet's linear head on leaky_re_lu_15). */
export const CLASS_MODEL = DEFAULT_EXPLAIN_MODEL;

/**
 * Weight of the classifier's normalised gradient beside a dream model's layers (a hybrid dream). Compared at 1, 2 and
 * 4 on chelsea.png (README, "Grow anything"): goldfish is the classifier's first class at half size at all three; at
 * 4 its smooth shapes wash out InceptionV3's creatures, at 1 those creatures crowd out the fish; 2 keeps both.
 */
export const HYBRID_CLASS_WEIGHT = 2;
