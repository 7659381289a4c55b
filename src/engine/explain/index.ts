// Explain: what a classifier sees in a picture (its top labels) and where a label's score comes from (Grad-CAM).
export {
  checkExplainTarget,
  createExplainer,
  DEFAULT_EXPLAIN_MODEL,
  explainClasses,
  explainLabels,
  type ClassScore,
  type ExplainClass,
  type ExplainOptions,
  type Explainer,
  type ExplainerOptions,
  type Explanation,
} from './explainer.ts';
export { closeLabels } from './labels.ts';
