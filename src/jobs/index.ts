// One job from accepted to posted, over Discord's REST API: no gateway, so the bot and queue workers share it.
export { JobProcessor, type JobProcessorDeps } from './processor.ts';
export { jobKinds, type JobKindOptions } from './kinds.ts';
export type { JobBody, JobContext, JobKind, JobKinds, JobKindName } from './job-kind.ts';
export { animationJobOf } from './animation-job.ts';
export { JobMessages } from './job-messages.ts';
export type { StatusTiming } from './status-editor.ts';
export { explainPicture, scoreText } from './explain-job.ts';
export { costOf, decodeSidesOf, sourcesOf, type AnimationJob, type DreamJob, type ExplainJob, type ZoomJob, type JobData, type JobOutcome, type JobResult, type NotRunEnding, type RunnableJob } from './job.ts';
export { attachmentRef, downloadImage, firstImageOf, precheck, type DownloadRules, type ImageRef } from './image-source.ts';
export { interactionAddress, messageAddress, messageLink, RestReplyTarget, type JobTerms, type ReplyAddress } from './reply-target.ts';
export { CustomId, parseCancel, parseDelete } from './custom-ids.ts';
export { recipeFromEmbed } from './recipe-embed.ts';
export { classesOf, imageNetClassName } from './class-names.ts';
