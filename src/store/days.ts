// Daily limits count by the UTC calendar day: one clock for every member and every process, said so in /quota.

const DAY_MS = 24 * 3600 * 1000;

/** The UTC day of a time, as YYYY-MM-DD. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** When the UTC day of `ms` ends (the next 00:00 UTC), in ms. */
export function nextUtcMidnight(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS + DAY_MS;
}

export { DAY_MS };
