/**
 * Fair turns: members are served in turn, so one member's burst does not hold everyone else up.
 *
 * A waiting job's turn is 1 + how many of its member's jobs submitted before it are still open (waiting or running):
 * a member's first open job waits for turn 1, the second for turn 2, and so on. The line runs turn 1 first, then turn
 * 2; within a turn, in the order the jobs took it. When a member's job ends (done, failed, cancelled) their later jobs
 * move up a turn, and take their place at the back of it: the member comes round again after those already waiting in
 * that turn, as in a round robin. Turns count jobs, not cost (a zoom is one turn, however many dreams it counts for in
 * the caps).
 *
 * The memory queue applies this in `memory-line.ts`; the Redis queue keeps the same rule in its reservations script
 * (`redis-slots.ts`), as BullMQ priorities (priority = turn; BullMQ keeps equal priorities in the order they were set).
 */
export interface TurnTaker {
  userId: string;
  /** Submission order. */
  seq: number;
  /** The turn taken, and when it was taken. */
  turn: number;
  turnSeq: number;
}

/** The turn a job waits for, among the open jobs (waiting or running, itself included or not). */
export function turnOf(job: { userId: string; seq: number }, open: Iterable<{ userId: string; seq: number }>): number {
  let ahead = 0;
  for (const j of open) if (j.userId === job.userId && j.seq < job.seq) ahead++;
  return ahead + 1;
}

/** The line's order: by turn, then by when the turn was taken. */
export function byTurn(a: TurnTaker, b: TurnTaker): number {
  return a.turn - b.turn || a.turnSeq - b.turnSeq;
}
