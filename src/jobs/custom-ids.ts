/** Button custom ids. Result buttons carry no state: the recipe is read back from the result's embed. */
export const CustomId = {
  cancel: (jobId: string) => `dream:cancel:${jobId}`,
  deeper: 'dream:deeper',
  reroll: 'dream:reroll',
  explain: 'dream:explain',
  animate: 'dream:animate',
} as const;

export function parseCancel(customId: string): string | null {
  const m = /^dream:cancel:(.+)$/.exec(customId);
  return m ? m[1] : null;
}
