import { describe, expect, it } from 'vitest';
import { CancelledError } from '../src/errors.ts';
import { JobLine } from '../src/queue/memory-line.ts';

/** A line of held jobs: each runs until the test releases it, and the order they started in is recorded. */
function heldLine(limits = { concurrency: 1, maxQueue: 10, maxPerUser: 5 }) {
  const line = new JobLine(limits, 60);
  const started: string[] = [];
  const releases = new Map<string, () => void>();
  /** Latest place each job was told (what its member sees), by name. */
  const told = new Map<string, number>();
  const submit = (userId: string, name: string, cost = 1) => {
    const s = line.submit(
      userId,
      (signal) =>
        new Promise<string>((resolve, reject) => {
          started.push(name);
          releases.set(name, () => resolve(name));
          signal.addEventListener('abort', () => reject(new CancelledError()));
        }),
      { onPosition: (position) => told.set(name, position) },
      cost,
    );
    if (!s.ok) throw new Error(`${name} refused: ${s.refusal.kind}`);
    s.done.catch(() => undefined); // a cancelled job's end is asserted through the line, not here
    told.set(name, s.position);
    return s;
  };
  /** Ends the running job `name` and waits until the next one has started. */
  const finish = async (name: string) => {
    const before = started.length;
    releases.get(name)!();
    while (started.length === before && line.waiting > 0) await new Promise((r) => setImmediate(r));
  };
  /** Names of the waiting jobs in the order their members were told. */
  const toldOrder = (names: string[]) => names.filter((n) => !started.includes(n)).sort((a, b) => told.get(a)! - told.get(b)!);
  return { line, started, submit, finish, told, toldOrder };
}

describe('fair turns on the memory queue', () => {
  it('three jobs from A then one from B: B\'s runs second, and the places told match the order they run in', async () => {
    const { started, submit, finish, told, toldOrder } = heldLine();
    submit('A', 'a1');
    const a2 = submit('A', 'a2');
    submit('A', 'a3');
    const b1 = submit('B', 'b1');
    // a1 runs; B's first job goes ahead of A's second and third, and they are told they moved back.
    expect(started).toEqual(['a1']);
    expect(a2.position).toBe(1);
    expect(b1.position).toBe(1);
    expect([told.get('b1'), told.get('a2'), told.get('a3')]).toEqual([1, 2, 3]);
    const promised = toldOrder(['a2', 'a3', 'b1']);
    await finish('a1');
    await finish('b1');
    await finish('a2');
    expect(started).toEqual(['a1', 'b1', 'a2', 'a3']);
    expect(['a1', ...promised]).toEqual(started);
  });

  it('serves members round robin: a member whose job ended comes round after those already waiting in that turn', async () => {
    const { started, submit, finish, toldOrder } = heldLine();
    submit('A', 'a1');
    submit('A', 'a2');
    submit('A', 'a3');
    submit('B', 'b1');
    submit('B', 'b2');
    // a1 runs; waiting: b1 (turn 1), a2, b2 (turn 2), a3 (turn 3).
    expect(toldOrder(['a2', 'a3', 'b1', 'b2'])).toEqual(['b1', 'a2', 'b2', 'a3']);
    await finish('a1');
    // A's jobs moved up a turn: a2 now waits in turn 1 behind b1, a3 in turn 2 behind b2. C arrives in turn 1.
    submit('C', 'c1');
    expect(toldOrder(['a2', 'a3', 'b2', 'c1'])).toEqual(['a2', 'c1', 'b2', 'a3']);
    for (const name of ['b1', 'a2', 'c1', 'b2']) await finish(name);
    expect(started).toEqual(['a1', 'b1', 'a2', 'c1', 'b2', 'a3']);
  });

  it('a cancelled job gives its member\'s later jobs its turn; the caps still hold', async () => {
    const { line, started, submit, finish, toldOrder } = heldLine({ concurrency: 1, maxQueue: 4, maxPerUser: 3 });
    submit('B', 'b1');
    const a1 = submit('A', 'a1');
    submit('A', 'a2');
    submit('C', 'c1');
    expect(toldOrder(['a1', 'a2', 'c1'])).toEqual(['a1', 'c1', 'a2']);
    expect(line.cancel(a1.jobId)).toBe(true);
    // a2 is A's first open job now: it takes turn 1, behind c1 which was there already.
    expect(toldOrder(['a2', 'c1'])).toEqual(['c1', 'a2']);
    submit('A', 'a3');
    submit('A', 'a4');
    // Caps: A has 3 open jobs (a2, a3, a4) of 3; the line holds 4 waiting of 4.
    expect(line.submit('A', async () => 'x')).toEqual({ ok: false, refusal: { kind: 'user_limit', limit: 3 } });
    expect(line.submit('D', async () => 'x')).toMatchObject({ ok: false, refusal: { kind: 'queue_full', waiting: 4 } });
    for (const name of ['b1', 'c1', 'a2', 'a3']) await finish(name);
    expect(started).toEqual(['b1', 'c1', 'a2', 'a3', 'a4']);
  });

  it('with two running at once, a newcomer still runs before a member\'s later jobs', async () => {
    const { started, submit, finish, toldOrder } = heldLine({ concurrency: 2, maxQueue: 10, maxPerUser: 5 });
    for (const n of ['a1', 'a2', 'a3', 'a4']) submit('A', n);
    submit('B', 'b1');
    expect(started).toEqual(['a1', 'a2']);
    expect(toldOrder(['a3', 'a4', 'b1'])).toEqual(['b1', 'a3', 'a4']);
    await finish('a1');
    expect(started).toEqual(['a1', 'a2', 'b1']);
  });
});
