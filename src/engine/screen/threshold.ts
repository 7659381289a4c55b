// The screening threshold alone, so configuration can read its default without loading the screener.
/**
 * The `explicit` score at or above which a picture counts as explicit: nsfwjs puts more probability on its
 * not-safe-for-work classes than on its safe ones. On 87 ordinary pictures (photos, paintings, drawings, icons,
 * screenshots, dreams, and sketch-like, greyscale and skin-toned variants made to be hard) the median score was 0.01
 * and the 90th percentile 0.27; 0.5 flagged two of them (an edge-detected photo of a circuit board, hentai 0.90, and
 * a smooth beige field, porn 0.54), 0.3 six. Photos (three real ones among them) scored at most 0.03.
 */
export const DEFAULT_NSFW_THRESHOLD = 0.5;
