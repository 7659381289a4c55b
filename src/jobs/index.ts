// One job from accepted to posted, over Discord's REST API: no gateway, so the bot and queue workers share it.
export { DreamJobs, JobMessages, type DreamJob, type DreamJobsDeps, type JobOutcome, type JobResult, type NotRunEnding, type RunnableJob } from './dream-job.ts';
export { attachmentRef, downloadImage, firstImageOf, precheck, type DownloadRules, type ImageRef } from './image-source.ts';
export { interactionAddress, messageAddress, RestReplyTarget, type ReplyAddress } from './reply-target.ts';
export { CustomId, parseCancel } from './custom-ids.ts';
export { recipeFromEmbed } from './recipe-embed.ts';
