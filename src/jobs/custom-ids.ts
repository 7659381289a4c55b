/** Button custom ids. Result buttons carry no state: the recipe is read back from the result's embed. */
export const CustomId = {
  cancel: (jobId: string) => `dream:cancel:${jobId}`,
  deeper: 'dream:deeper',
  reroll: 'dream:reroll',
  explain: 'dream:explain',
  animate: 'dream:animate',
  /** Delete a result: carries its requester, who may delete it (as may a member with Manage Messages). */
  delete: (requesterId: string) => `dream:delete:${requesterId}`,
} as const;

export function parseCancel(customId: string): string | null {
  const m = /^dream:cancel:(.+)$/.exec(customId);
  return m ? m[1] : null;
}

/** The requester named on a result's Delete button, or null for any other button. */
export function parseDelete(customId: string): string | null {
  const m = /^dream:delete:(.+)$/.exec(customId);
  return m ? m[1] : null;
}
