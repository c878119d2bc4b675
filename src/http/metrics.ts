// A small Prometheus text-format registry: counters and histograms with labels. The
// vault's counters are read at scrape time rather than pushed on every operation.

type Labels = Record<string, string>;

const NEEDS_ESCAPE = /[\\"\n]/;

// Runs for every request (twice, for the counter and the histogram): no arrays, no regex
// replace unless a value needs escaping.
function labelText(labels: Labels): string {
  let out = '';
  for (const k in labels) {
    const v = labels[k]!;
    const shown = NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
    out += `${out ? ',' : ''}${k}="${shown}"`;
  }
  return out ? `{${out}}` : '';
}

export class Counter {
  readonly #values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    this.incText(labelText(labels), by);
  }
  /** inc() with the label text already built (labelText()). */
  incText(text: string, by = 1): void {
    this.#values.set(text, (this.#values.get(text) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [labels, value] of this.#values) lines.push(`${this.name}${labels} ${value}`);
    return lines.join('\n');
  }
}

const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets = BUCKETS) {}
  observe(labels: Labels, seconds: number): void {
    this.observeText(labelText(labels), labels, seconds);
  }
  /** observe() with the label text already built (labelText(labels)). */
  observeText(key: string, labels: Labels, seconds: number): void {
    let s = this.#series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]) s.counts[i]++;
    s.sum += seconds;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** A gauge or counter whose value is read when scraped. */
export interface Sampled {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  sample(): Array<{ labels?: Labels; value: number }>;
}

/** The label texts of one method and route: the latency's, and the count's by status. */
interface RouteLabels {
  labels: Labels;
  latency: string;
  byStatus: Map<number, string>;
}

export class Metrics {
  readonly requests = new Counter('outpost_http_requests_total', 'HTTP requests by method, route and status');
  readonly latency = new Histogram('outpost_http_request_duration_seconds', 'HTTP request latency by method and route');
  readonly #sampled: Sampled[] = [];
  // Label texts by method and route pattern (a bounded set: the app's routes), built once.
  readonly #routes = new Map<string, Map<string, RouteLabels>>();

  /** Counts one HTTP request and observes its latency, as requests.inc() and latency.observe() would. */
  request(method: string, route: string, status: number, seconds: number): void {
    let byRoute = this.#routes.get(method);
    if (!byRoute) this.#routes.set(method, (byRoute = new Map()));
    let known = byRoute.get(route);
    if (!known) {
      const labels = { method, route };
      byRoute.set(route, (known = { labels, latency: labelText(labels), byStatus: new Map() }));
    }
    let count = known.byStatus.get(status);
    if (count === undefined) known.byStatus.set(status, (count = labelText({ method, route, status: String(status) })));
    this.requests.incText(count);
    this.latency.observeText(known.latency, known.labels, seconds);
  }

  sample(metric: Sampled): void {
    this.#sampled.push(metric);
  }

  render(): string {
    const blocks = [this.requests.render(), this.latency.render()];
    for (const m of this.#sampled) {
      const lines = [`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`];
      for (const { labels, value } of m.sample()) lines.push(`${m.name}${labelText(labels ?? {})} ${value}`);
      blocks.push(lines.join('\n'));
    }
    return blocks.join('\n') + '\n';
  }
}
