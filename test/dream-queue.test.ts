import { describe, expect, it } from 'vitest';
import { CancelledError as DreamCancelledError } from '../src/errors.ts';
import { JobLine, QueueClosedError } from '../src/queue/memory-line.ts';

/** A job that runs until released (or aborted), so tests control timing without sleeping. */
function gate() {
  let release!: (v: string) => void;
  const task = (signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      release = resolve;
      signal.addEventListener('abort', () => reject(new DreamCancelledError()));
    });
  return { task, release: (v = 'done') => release(v) };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('JobLine (the memory queue\'s line)', () => {
  it('runs one job at a time, tells waiting jobs their place, and refuses past the caps', async () => {
    const q = new JobLine({ concurrency: 1, maxQueue: 2, maxPerUser: 2 }, 60);
    const positions: Record<string, number[]> = { b: [], c: [] };
    const a = gate();
    const first = q.submit('alice', a.task);
    const second = q.submit('bob', gate().task, { onPosition: (p) => positions.b.push(p) });
    const third = q.submit('carol', gate().task, { onPosition: (p) => positions.c.push(p) });
    await tick();
    expect(first.ok && second.ok && third.ok).toBe(true);
    expect(second.ok && second.position).toBe(1);
    expect(third.ok && third.position).toBe(2);
    expect(third.ok && third.etaSeconds).toBe(90); // one and a half 60 s jobs ahead
    expect([q.running, q.waiting]).toEqual([1, 2]);

    const full = q.submit('dave', gate().task);
    expect(full).toEqual({ ok: false, refusal: { kind: 'queue_full', waiting: 2, etaSeconds: 150 } });
    const greedy = new JobLine({ concurrency: 1, maxQueue: 5, maxPerUser: 1 });
    greedy.submit('erin', gate().task);
    expect(greedy.submit('erin', gate().task)).toEqual({ ok: false, refusal: { kind: 'user_limit', limit: 1 } });

    a.release('A');
    if (first.ok) expect(await first.done).toBe('A');
    await tick();
    expect(positions.c).toEqual([1]); // moved up when the first job finished
    expect(q.running).toBe(1);
  });

  it('cancels waiting jobs at once and running jobs through their signal', async () => {
    const q = new JobLine({ concurrency: 1, maxQueue: 5, maxPerUser: 5 });
    const running = q.submit('a', gate().task);
    const waiting = q.submit('a', gate().task);
    await tick();
    if (!running.ok || !waiting.ok) throw new Error('refused');
    expect(q.ownerOf(waiting.jobId)).toBe('a');
    expect(q.cancel(waiting.jobId)).toBe(true);
    await expect(waiting.done).rejects.toThrow(DreamCancelledError);
    expect(q.waiting).toBe(0);
    expect(q.cancel(running.jobId)).toBe(true);
    await expect(running.done).rejects.toThrow(DreamCancelledError);
    expect(q.cancel(running.jobId)).toBe(false);
    expect(q.running).toBe(0);
  });

  it('on shutdown fails waiting jobs, lets the running one finish within the grace, and takes no more', async () => {
    const q = new JobLine({ concurrency: 1, maxQueue: 5, maxPerUser: 5 });
    const a = gate();
    const running = q.submit('a', a.task);
    const waiting = q.submit('b', gate().task);
    await tick();
    const stopped = q.shutdown(5000);
    if (!running.ok || !waiting.ok) throw new Error('refused');
    await expect(waiting.done).rejects.toThrow(QueueClosedError);
    expect(q.submit('c', gate().task)).toEqual({ ok: false, refusal: { kind: 'closed' } });
    a.release('finished in time');
    await stopped;
    expect(await running.done).toBe('finished in time');
  });

  it('cancels the running job when the grace period runs out', async () => {
    const q = new JobLine({ concurrency: 1, maxQueue: 5, maxPerUser: 5 });
    const running = q.submit('a', gate().task);
    await tick();
    await q.shutdown(50);
    if (!running.ok) throw new Error('refused');
    await expect(running.done).rejects.toThrow(DreamCancelledError);
  });

  it('counts a costly job (a zoom) as several toward the member\'s cap and in the wait of those behind it', async () => {
    const q = new JobLine({ concurrency: 1, maxQueue: 5, maxPerUser: 3 }, 60);
    const a = gate();
    const first = q.submit('alice', a.task);
    const zoom = q.submit('bob', gate().task, {}, 3);
    const after = q.submit('carol', gate().task);
    await tick();
    if (!first.ok || !zoom.ok || !after.ok) throw new Error('refused');
    expect(zoom.etaSeconds).toBe(30); // half of the running job
    expect(after.etaSeconds).toBe(210); // half a job, then the zoom's 3 units of 60 s
    // Bob's zoom fills his cap of 3: one more dream is refused; Carol (1 of 3) may still ask for two.
    expect(q.submit('bob', gate().task)).toEqual({ ok: false, refusal: { kind: 'user_limit', limit: 3 } });
    expect(q.costOf('bob')).toBe(3);
    expect(q.submit('carol', gate().task, {}, 2).ok).toBe(true);
    expect(q.submit('carol', gate().task).ok).toBe(false);
    // A job costing more than the whole cap is taken when the member has nothing queued (it counts as the cap).
    expect(q.submit('dave', gate().task, {}, 7).ok).toBe(true);
    expect(q.submit('dave', gate().task).ok).toBe(false);
    // Cancelling the zoom gives Bob his cap back at once.
    expect(q.cancel(zoom.jobId)).toBe(true);
    await expect(zoom.done).rejects.toThrow(DreamCancelledError);
    expect(q.costOf('bob')).toBe(0);
    expect(q.submit('bob', gate().task).ok).toBe(true);
    a.release();
  });
});
