import { EmbedBuilder, type APIEmbed } from 'discord.js';
import type { ClassScore, Explanation } from '../engine/index.ts';
import { encodeToFit, overlayHeatmap, sideBySide, type RgbImage } from '../imaging/index.ts';
import type { ExplainJob, RunnableJob } from './job.ts';
import type { JobBody, JobProcessor } from './processor.ts';

type ExplainRun = RunnableJob & { data: ExplainJob };

/** "Border terrier 22%": a label with its probability, as people read it. */
export function scoreText(s: ClassScore): string {
  const pct = s.probability * 100;
  return `${s.label} ${pct >= 10 ? pct.toFixed(0) : pct.toFixed(1)}%`;
}

/**
 * The Explain picture: one picture beside its heatmap (captioned with its top 3), or an original and its dream
 * side by side, each under its heatmap with its top 3; a legend below.
 */
export function explainPicture(inputs: RgbImage[], explanations: Explanation[]): Promise<RgbImage> {
  const top3 = (e: Explanation) => e.top.slice(0, 3).map(scoreText);
  const panels =
    inputs.length === 2
      ? [
          { image: overlayHeatmap(inputs[0], explanations[0].heatmap), caption: ['before:', ...top3(explanations[0])] },
          { image: overlayHeatmap(inputs[1], explanations[1].heatmap), caption: ['after:', ...top3(explanations[1])] },
        ]
      : [
          { image: inputs[0], caption: top3(explanations[0]) },
          { image: overlayHeatmap(inputs[0], explanations[0].heatmap), caption: [`where it sees ${explanations[0].target.label}`] },
        ];
  return sideBySide(panels, { legend: { low: 'no evidence', high: 'strong evidence' } });
}

const listOf = (scores: ClassScore[]) => scores.map((s, i) => `${i + 1}. ${scoreText(s)}`).join('\n');

/**
 * Explains a job's pictures (Grad-CAM and top labels on the worker) and builds the view: one picture beside its
 * heatmap, or an original and its dream side by side, each with its heatmap and top 3, and the top 5 in an embed.
 */
export async function explainView(p: JobProcessor, job: ExplainRun, inputs: RgbImage[], signal: AbortSignal): Promise<JobBody> {
  const { target, style } = job.data;
  const explanations = await p.deps.runner.explain({ images: inputs, model: style, target, top: 5 }, { signal });
  const picture = await explainPicture(inputs, explanations);
  const fitted = await encodeToFit(picture, p.uploadBudget(job), 'png');
  const name = `explain.${fitted.format === 'jpeg' ? 'jpg' : fitted.format}`;
  const embed = explainEmbed(explanations, job.data, name);
  return { view: { content: `<@${job.userId}>, here is what the network sees.`, embeds: [embed], files: [{ name, data: fitted.buffer }] } };
}

function explainEmbed(explanations: Explanation[], data: ExplainJob, imageName: string): APIEmbed {
  const pair = explanations.length === 2;
  const classifier = data.style ? `style ${data.style}` : 'Darknet (ImageNet, 1000 classes)';
  const heatOf = data.target ? `“${explanations[0].target.label}”` : 'its top label';
  const fields = pair
    ? [
        { name: 'Before the dream', value: listOf(explanations[0].top), inline: true },
        { name: 'After the dream', value: listOf(explanations[1].top), inline: true },
      ]
    : [{ name: 'Top 5', value: listOf(explanations[0].top), inline: true }];
  return new EmbedBuilder()
    .setTitle(pair ? `Explain · ${explanations[0].top[0].label} → ${explanations[1].top[0].label}` : `Explain · ${explanations[0].target.label}`)
    .setURL(data.sources[0].url)
    .setDescription(`Grad-CAM on ${classifier}: the warmer a place, the more it speaks for ${heatOf}.`)
    .setImage(`attachment://${imageName}`)
    .setColor(0xe8590c)
    .addFields(...fields, { name: 'Model', value: classifier, inline: true })
    .setFooter({ text: 'DeepDream grows what a network likes; Grad-CAM shows where it looks.' })
    .toJSON();
}
