// Class names as members read them: ImageNet labels in their language (Explain's and class dreams'), style classes as
// their trainer named them.
import { explainClasses, type ExplainClass } from '../engine/light.ts';
import { className, type Catalog } from '../i18n/index.ts';

/** Classes of a model, read once per model (they never change while the bot runs). */
const classCache = new Map<string, Promise<ExplainClass[]>>();

/** The classes of a style, or (no style) of the ImageNet classifier; none when the style does not exist. */
export function classesOf(style: string | undefined, stylesDir?: string): Promise<ExplainClass[]> {
  const key = style ?? '';
  let classes = classCache.get(key);
  if (!classes) {
    classes = explainClasses(style, { stylesDir });
    classCache.set(key, classes);
    classes.catch(() => classCache.delete(key));
  }
  return classes.catch(() => []);
}

/** An ImageNet label ("goldfish") in the member's language ("金魚"); any other label as it is. */
export async function imageNetClassName(t: Catalog, label: string): Promise<string> {
  const c = (await classesOf(undefined)).find((x) => x.label === label);
  return c ? className(t, c) : label;
}
