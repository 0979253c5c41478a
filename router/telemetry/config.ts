/**
 * Telemetry settings from the router's environment (rows of the table in router/main.ts):
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `APPLICATIONINSIGHTS_CONNECTION_STRING` | export to Application Insights (Azure Monitor exporter); from a Secret, never logged | none |
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | export to an OTLP/HTTP (JSON) collector; traces go to `<url>/v1/traces` | none |
 * | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the same with the full traces URL (wins over the one above) | none |
 * | `ROUTER_TELEMETRY_PAYLOADS` | `true`: request and response bodies go along, first 64 KiB | `false` |
 * | `ROUTER_TELEMETRY_MAX_QUEUE` | spans waiting for export per destination; more are dropped and counted | `2048` |
 *
 * Only services whose settings have `enableAppInsights: true` are exported.
 */
import {
    BOOLEAN_RULE,
    Problems,
    REDACTED,
    wholeNumberRule,
} from "../../components/common/validation";
import { connectionStringProblem } from "./connection-string";

/** Where spans go. */
export type TelemetryDestination =
    | { readonly kind: "azure-monitor"; readonly connectionString: string }
    | { readonly kind: "otlp"; readonly url: string };

export interface TelemetryConfig {
    readonly destinations: readonly TelemetryDestination[];
    /** Log request and response bodies (capped). */
    readonly logPayloads: boolean;
    readonly maxQueueSize: number;
}

export const DEFAULT_MAX_QUEUE = 2048;
const MAX_QUEUE_RANGE = [1, 1_000_000] as const;
const OTLP_TRACES_PATH = "v1/traces";

/** `url` when it is an http(s) URL, normalized; else undefined. */
function httpUrl(url: string): string | undefined {
    try {
        const u = new URL(url);
        return u.protocol === "http:" || u.protocol === "https:" ? u.toString() : undefined;
    } catch {
        return undefined;
    }
}

/**
 * The traces URL of an OTLP/HTTP endpoint: `<base>/v1/traces`, or `url` itself when it already
 * ends with `/v1/traces`. `undefined` when `url` is not an http(s) URL.
 */
export function otlpTracesUrl(url: string): string | undefined {
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        return undefined;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    if (u.pathname.replace(/\/+$/, "").endsWith(`/${OTLP_TRACES_PATH}`)) return u.toString();
    if (!u.pathname.endsWith("/")) u.pathname += "/";
    u.pathname += OTLP_TRACES_PATH;
    return u.toString();
}

/**
 * Reads the telemetry variables, adding every problem to `p`. `undefined` when no destination is
 * set (telemetry off).
 */
export function telemetryFromEnv(env: NodeJS.ProcessEnv, p: Problems): TelemetryConfig | undefined {
    const destinations: TelemetryDestination[] = [];
    const cs = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
    if (cs) {
        const problem = connectionStringProblem(cs);
        if (problem) p.add("APPLICATIONINSIGHTS_CONNECTION_STRING", REDACTED, problem);
        else destinations.push({ kind: "azure-monitor", connectionString: cs });
    }
    // As OpenTelemetry specifies: the traces endpoint is used as given, the generic one gets
    // `/v1/traces` appended.
    const tracesEnv = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
    const baseEnv = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
    const [otlpName, otlpRaw] = tracesEnv
        ? ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tracesEnv]
        : ["OTEL_EXPORTER_OTLP_ENDPOINT", baseEnv];
    if (otlpRaw) {
        const url = tracesEnv ? httpUrl(tracesEnv) : otlpTracesUrl(otlpRaw);
        if (url) destinations.push({ kind: "otlp", url });
        // A collector URL may carry credentials in its user-info: never echoed.
        else
            p.add(
                otlpName,
                REDACTED,
                "must be an http(s) URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318",
            );
    }
    const payloadsRaw = env.ROUTER_TELEMETRY_PAYLOADS;
    let logPayloads = false;
    if (payloadsRaw !== undefined && payloadsRaw !== "") {
        if (payloadsRaw === "true" || payloadsRaw === "false") logPayloads = payloadsRaw === "true";
        else p.add("ROUTER_TELEMETRY_PAYLOADS", payloadsRaw, BOOLEAN_RULE);
    }
    const queueRaw = env.ROUTER_TELEMETRY_MAX_QUEUE;
    let maxQueueSize = DEFAULT_MAX_QUEUE;
    if (queueRaw !== undefined && queueRaw !== "") {
        const n = Number(queueRaw);
        const [min, max] = MAX_QUEUE_RANGE;
        if (!Number.isInteger(n) || n < min || n > max) {
            p.add("ROUTER_TELEMETRY_MAX_QUEUE", queueRaw, wholeNumberRule(min, max));
        } else {
            maxQueueSize = n;
        }
    }
    if (destinations.length === 0) return undefined;
    return { destinations, logPayloads, maxQueueSize };
}

/** Names of the destinations in stats and metrics: `azure-monitor`, `otlp`, `otlp-2`... */
export function destinationNames(all: readonly TelemetryDestination[]): string[] {
    return all.map((d) => {
        const same = all.filter((x) => x.kind === d.kind);
        return same.length > 1 ? `${d.kind}-${same.indexOf(d) + 1}` : d.kind;
    });
}
