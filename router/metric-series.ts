/**
 * Per-service histograms and the per-service status counter of the request path, as prom-client
 * registry metrics that cost a map lookup and a few additions per request (issue 16). prom-client's
 * own Histogram and Counter validate, sort and hash the label set on every observation, which
 * summed to several microseconds per request; here the only label is the service (and the
 * status code), so series are kept in a Map and the exposition is built at scrape time.
 * Exposition is prom-client's (its Registry formats `get()`), so the text is the same.
 */
import type { Metric, MetricValueWithName, Registry } from "prom-client";

/** What a registry metric's `get()` returns; the Registry formats it. */
interface Values {
    readonly name: string;
    readonly help: string;
    readonly type: "histogram" | "counter";
    readonly values: MetricValueWithName<string>[];
    readonly aggregator: "sum";
}

interface HistogramSeries {
    /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
    readonly counts: Float64Array;
    sum: number;
    count: number;
}

export interface SeriesOptions {
    readonly name: string;
    readonly help: string;
    readonly registers: readonly Registry[];
}

/** A registry metric whose series are kept per service in `series`; exposed at scrape time. */
abstract class ServiceSeries<S> {
    readonly name: string;
    readonly help: string;
    readonly aggregator = "sum" as const;
    protected readonly series = new Map<string, S>();

    constructor(
        opts: SeriesOptions,
        readonly type: "histogram" | "counter",
    ) {
        this.name = opts.name;
        this.help = opts.help;
        for (const r of opts.registers) r.registerMetric(this as unknown as Metric);
    }

    /** Called by the Registry on scrape. */
    get(): Promise<Values> {
        return Promise.resolve({
            name: this.name,
            help: this.help,
            type: this.type,
            values: this.values(),
            aggregator: this.aggregator,
        });
    }

    reset(): void {
        this.series.clear();
    }

    protected abstract values(): MetricValueWithName<string>[];
}

/** A histogram with one label, `service`. */
export class ServiceHistogram extends ServiceSeries<HistogramSeries> {
    private readonly bounds: readonly number[];

    constructor(opts: SeriesOptions & { readonly buckets: readonly number[] }) {
        super(opts, "histogram");
        this.bounds = [...opts.buckets].sort((a, b) => a - b);
    }

    observe(service: string, value: number): void {
        if (!Number.isFinite(value)) return;
        let s = this.series.get(service);
        if (s === undefined) {
            s = { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
            this.series.set(service, s);
        }
        const b = this.bounds;
        let i = 0;
        while (i < b.length && value > b[i]) i++;
        s.counts[i]++;
        s.sum += value;
        s.count++;
    }

    protected values(): MetricValueWithName<string>[] {
        const values: MetricValueWithName<string>[] = [];
        for (const [service, s] of this.series) {
            let acc = 0;
            for (let i = 0; i < this.bounds.length; i++) {
                acc += s.counts[i];
                values.push(bucket(this.name, this.bounds[i], service, acc));
            }
            values.push(bucket(this.name, "+Inf", service, s.count));
            values.push({ metricName: `${this.name}_sum`, labels: { service }, value: s.sum });
            values.push({ metricName: `${this.name}_count`, labels: { service }, value: s.count });
        }
        return values;
    }
}

function bucket(
    name: string,
    le: number | string,
    service: string,
    value: number,
): MetricValueWithName<string> {
    return { metricName: `${name}_bucket`, labels: { le, service }, value };
}

/** A counter with the labels `service` and `code` (an HTTP status). */
export class ServiceStatusCounter extends ServiceSeries<Map<number, number>> {
    constructor(opts: SeriesOptions) {
        super(opts, "counter");
    }

    inc(service: string, code: number): void {
        let codes = this.series.get(service);
        if (codes === undefined) {
            codes = new Map();
            this.series.set(service, codes);
        }
        codes.set(code, (codes.get(code) ?? 0) + 1);
    }

    protected values(): MetricValueWithName<string>[] {
        const values: MetricValueWithName<string>[] = [];
        for (const [service, codes] of this.series) {
            for (const [code, value] of codes) {
                values.push({ labels: { service, code: String(code) }, value });
            }
        }
        return values;
    }
}
