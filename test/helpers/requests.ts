import type { RecordedRequest } from './fake-discord.ts';

// Matchers for the fake Discord's recorded requests, shared by the bot tests.

/** An edit of the interaction's own reply (its status message). */
export const isOriginalEdit = (i: { token: string }) => (r: RecordedRequest) => r.method === 'PATCH' && r.path.includes('%40original') && r.path.includes(i.token);
/** A follow-up message of the interaction (used for private refusals after a deferral). */
export const isFollowUp = (i: { token: string }) => (r: RecordedRequest) => r.method === 'POST' && r.path.endsWith(i.token);
/** The interaction's callback (its first answer: a reply or a deferral). */
export const callbackOf = (i: { id: string }) => (r: RecordedRequest) => r.path.includes(`/interactions/${i.id}/`);
/** The edit that posts the interaction's result (a `dream-…` file). */
export const isResult = (i: { token: string }) => (r: RecordedRequest) => r.method === 'PATCH' && r.path.includes(i.token) && r.files.some((f) => f.filename.startsWith('dream-'));
/** A request's JSON body as text, for matching words in it. */
export const text = (r: RecordedRequest) => JSON.stringify(r.json ?? '');
