/** Numbers, sizes, durations and lists for one language, with Intl (the same output on Node 20 and 24). */
export interface Formatters {
  /** 12,345 · 12.3 (at most `digits` decimals). */
  number(n: number, digits?: number): string;
  /** Exactly `digits` decimals: 6.0, 12.3. */
  fixed(n: number, digits: number): string;
  /** 0.42 → 42 % as the language writes it; below 10 % one decimal. */
  percent(fraction: number): string;
  /** A duration rounded to seconds: 42s, 3m 05s (en) · 42 秒, 3 分 5 秒 (ja). */
  duration(seconds: number): string;
  /** A file size: 200 KB, 8.5 MB. */
  bytes(n: number): string;
  /** "a, b and c" (`and`) or "a or b" (`or`). */
  list(items: readonly string[], kind?: 'and' | 'or'): string;
  /** A calendar date. */
  date(d: Date): string;
}

export interface FormatterOptions {
  /** Unit display for durations: `narrow` (3m 5s) or `short` (3 min, 5 sec / 3 分 5 秒). */
  durationUnits: 'narrow' | 'short';
  /** Pads the seconds after minutes to two digits (3m 05s). */
  padSeconds: boolean;
  /** Between minutes and seconds. */
  durationJoin: string;
}

export function formatters(tag: string, o: FormatterOptions): Formatters {
  // Formats are built once per digits count and exactness ("2:fixed"), not per call.
  const numbers = new Map<string, Intl.NumberFormat>();
  const numberFormat = (digits: number, fixed = false) => {
    const key = `${digits}:${fixed}`;
    let f = numbers.get(key);
    if (!f) numbers.set(key, (f = new Intl.NumberFormat(tag, { maximumFractionDigits: digits, ...(fixed ? { minimumFractionDigits: digits } : {}) })));
    return f;
  };
  const unit = (name: string, digits = 0, display: 'narrow' | 'short' = 'short') => new Intl.NumberFormat(tag, { style: 'unit', unit: name, unitDisplay: display, maximumFractionDigits: digits });
  const minutes = unit('minute', 0, o.durationUnits);
  const seconds = unit('second', 0, o.durationUnits);
  const secondsPadded = new Intl.NumberFormat(tag, { style: 'unit', unit: 'second', unitDisplay: o.durationUnits, minimumIntegerDigits: 2 });
  const megabytes = unit('megabyte', 1);
  const kilobytes = unit('kilobyte', 0);
  const percent = [0, 1].map((digits) => new Intl.NumberFormat(tag, { style: 'percent', maximumFractionDigits: digits, minimumFractionDigits: digits }));
  const lists = { and: new Intl.ListFormat(tag, { type: 'conjunction' }), or: new Intl.ListFormat(tag, { type: 'disjunction' }) };
  const date = new Intl.DateTimeFormat(tag, { dateStyle: 'medium', timeZone: 'UTC' });
  return {
    number: (n, digits = 0) => numberFormat(digits).format(n),
    fixed: (n, digits) => numberFormat(digits, true).format(n),
    percent: (fraction) => (fraction >= 0.1 || fraction === 0 ? percent[0] : percent[1]).format(fraction),
    duration(total) {
      const s = Math.max(0, Math.round(total));
      const m = Math.floor(s / 60);
      if (m === 0) return seconds.format(s);
      return `${minutes.format(m)}${o.durationJoin}${(o.padSeconds ? secondsPadded : seconds).format(s % 60)}`;
    },
    bytes: (n) => (n >= 2 ** 20 ? megabytes.format(n / 2 ** 20) : kilobytes.format(Math.ceil(n / 1024))),
    list: (items, kind = 'and') => lists[kind].format(items),
    date: (d) => date.format(d),
  };
}
