import { EmbedBuilder, type APIEmbed } from 'discord.js';
import type { ClassScore, Explanation } from '../engine/index.ts';
import { encodeToFit, overlayHeatmap, sideBySide, type RgbImage } from '../imaging/index.ts';
import { className, english, type Catalog } from '../i18n/index.ts';
import type { ExplainJob, RunnableJob } from './job.ts';
import type { JobBody, JobContext } from './job-kind.ts';
import { wordsFor } from './views.ts';

type ExplainRun = RunnableJob & { data: ExplainJob };

/** "Border terrier 22%": a label (in the language's words for ImageNet classes) with its probability. */
export function scoreText(s: ClassScore, t: Catalog = english): string {
  return t.explain.score(className(t, s), s.probability);
}

/**
 * The Explain picture: one picture beside its heatmap (captioned with its top 3), or an original and its dream
 * side by side, each under its heatmap with its top 3; a legend below.
 */
export function explainPicture(inputs: RgbImage[], explanations: Explanation[], t: Catalog = english): Promise<RgbImage> {
  const top3 = (e: Explanation) => e.top.slice(0, 3).map((s) => scoreText(s, t));
  const panels =
    inputs.length === 2
      ? [
          { image: overlayHeatmap(inputs[0], explanations[0].heatmap), caption: [t.explain.before, ...top3(explanations[0])] },
          { image: overlayHeatmap(inputs[1], explanations[1].heatmap), caption: [t.explain.after, ...top3(explanations[1])] },
        ]
      : [
          { image: inputs[0], caption: top3(explanations[0]) },
          { image: overlayHeatmap(inputs[0], explanations[0].heatmap), caption: [t.explain.whereItSees(className(t, explanations[0].target))] },
        ];
  return sideBySide(panels, { legend: t.explain.legend });
}

const listOf = (t: Catalog, scores: ClassScore[]) => scores.map((s, i) => `${i + 1}. ${scoreText(s, t)}`).join('\n');

/**
 * Explains a job's pictures (Grad-CAM and top labels on the worker) and builds the view: one picture beside its
 * heatmap, or an original and its dream side by side, each with its heatmap and top 3, and the top 5 in an embed.
 */
export async function explainView(p: JobContext, job: ExplainRun, inputs: RgbImage[], signal: AbortSignal): Promise<JobBody> {
  const { target, style } = job.data;
  const explanations = await p.deps.runner.explain({ images: inputs, model: style, target, top: 5 }, { signal });
  const t = wordsFor(job.data.reply);
  const picture = await explainPicture(inputs, explanations, t);
  const fitted = await encodeToFit(picture, p.uploadBudget(job), 'png');
  const name = `explain.${fitted.format === 'jpeg' ? 'jpg' : fitted.format}`;
  const embed = explainEmbed(t, explanations, job.data, name);
  return { view: { content: t.ready.explain(`<@${job.userId}>`), embeds: [embed], files: [{ name, data: fitted.buffer }] } };
}

function explainEmbed(t: Catalog, explanations: Explanation[], data: ExplainJob, imageName: string): APIEmbed {
  const words = t.explain;
  const pair = explanations.length === 2;
  const classifier = data.style ? words.classifierStyle(data.style) : words.classifierImageNet;
  const heatOf = data.target ? words.quoted(className(t, explanations[0].target)) : words.topLabel;
  const fields = pair
    ? [
        { name: words.fields.before, value: listOf(t, explanations[0].top), inline: true },
        { name: words.fields.after, value: listOf(t, explanations[1].top), inline: true },
      ]
    : [{ name: words.fields.top5, value: listOf(t, explanations[0].top), inline: true }];
  return new EmbedBuilder()
    .setTitle(pair ? words.titlePair(className(t, explanations[0].top[0]), className(t, explanations[1].top[0])) : words.titleOne(className(t, explanations[0].target)))
    .setURL(data.sources[0].url)
    .setDescription(data.firstFrame ? `${words.description(classifier, heatOf)}\n${t.animation.firstFrame}` : words.description(classifier, heatOf))
    .setImage(`attachment://${imageName}`)
    .setColor(0xe8590c)
    .addFields(...fields, { name: words.fields.model, value: classifier, inline: true })
    .setFooter({ text: words.footer })
    .toJSON();
}
