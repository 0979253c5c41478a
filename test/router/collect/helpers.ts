/**
 * Shared pieces of the model data collection tests: exchange records as the router builds them,
 * sinks that succeed, fail or hang on command, and metric reads from a prom-client registry.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { Registry } from "prom-client";
import {
    validateWebserviceSettings,
    type WebserviceSettingsInput,
} from "../../../components/settings";
import type { ExchangeRecord } from "../../../router/observe";
import { StoreError, type ModelDataSink } from "../../../router/collect/sink";
import type { ModelRef, ServiceDefinition } from "../../../router/types";

export function serviceDefinition(
    settings: Partial<WebserviceSettingsInput> & { name?: string } = {},
    models: readonly ModelRef[] = [{ name: "diabetes-model", version: "3" }],
): ServiceDefinition {
    const s = validateWebserviceSettings({
        name: "diabetes",
        authEnabled: false,
        collectModelData: true,
        ...settings,
    });
    return { name: s.name, settings: s, auth: { mode: "none" }, models };
}

let nextId = 0;

/** A successful POST /score exchange carrying `input` and `output` as JSON bodies. */
export function exchange(
    definition: ServiceDefinition,
    input: unknown = { data: [[1, 2, 3]] },
    output: unknown = [42],
    extra: Partial<ExchangeRecord> = {},
): ExchangeRecord {
    const requestBody = Buffer.from(JSON.stringify(input));
    const responseBody = Buffer.from(JSON.stringify(output));
    return {
        requestId: `req-${++nextId}`,
        service: definition.name,
        definition,
        method: "POST",
        path: `/api/v1/service/${definition.name}/score`,
        status: 200,
        startTime: Date.UTC(2025, 0, 2, 3, 4, 5, 678),
        durationMs: 3,
        requestBytes: requestBody.length,
        responseBytes: responseBody.length,
        requestBody,
        responseBody,
        ...extra,
    };
}

/** A sink that keeps what it is given, and fails or hangs on command. */
export class MemorySink implements ModelDataSink {
    readonly description = "memory";
    readonly files = new Map<string, string>();
    readonly attempts: string[] = [];
    /** Errors thrown by the next calls, one per call. */
    failures: StoreError[] = [];
    /** Calls never settle (they do see the abort signal). */
    hang = false;
    /** Signals of hanging calls, to check they were aborted. */
    readonly hungSignals: AbortSignal[] = [];

    async put(path: string, body: Buffer, signal: AbortSignal): Promise<void> {
        this.attempts.push(path);
        const failure = this.failures.shift();
        if (failure) throw failure;
        if (this.hang) {
            this.hungSignals.push(signal);
            // A store that ignores the signal too: the collector must stop waiting by itself.
            return new Promise<void>(() => undefined);
        }
        this.files.set(path, body.toString("utf8"));
    }

    /** Parsed lines of every file whose path contains `part`. */
    lines(part: string): Array<Record<string, unknown>> {
        return [...this.files]
            .filter(([p]) => p.includes(part))
            .flatMap(([, text]) =>
                text
                    .split("\n")
                    .filter((l) => l !== "")
                    .map((l) => JSON.parse(l) as Record<string, unknown>),
            );
    }
}

export function transient(code = "503"): StoreError {
    return new StoreError(`store said ${code}`, true, code);
}

export function permanent(code = "400"): StoreError {
    return new StoreError(`store said ${code}`, false, code);
}

/** Value of one series (labels must match exactly), 0 when absent. */
export async function metricValue(
    registry: Registry,
    name: string,
    labels: Record<string, string> = {},
): Promise<number> {
    const metric = registry.getSingleMetric(name);
    if (!metric) throw new Error(`no metric ${name}`);
    const { values } = await metric.get();
    const wanted = Object.entries(labels);
    const found = values.find(
        (v) =>
            Object.keys(v.labels).length === wanted.length &&
            wanted.every(([k, val]) => v.labels[k] === val),
    );
    return found?.value ?? 0;
}

/** Every file below `root`, as paths relative to it (sorted); [] while `root` does not exist. */
export function filesBelow(root: string): string[] {
    const out: string[] = [];
    if (!existsSync(root)) return out;
    const walk = (dir: string): void => {
        for (const name of readdirSync(dir)) {
            const p = join(dir, name);
            if (statSync(p).isDirectory()) walk(p);
            else out.push(relative(root, p));
        }
    };
    walk(root);
    return out.sort();
}

/**
 * The complete batch files below `root`: a sink writes each under a temporary `.tmp` name and
 * renames it when whole, so a test waiting for data while writes go on counts only these (a
 * `.tmp` file counted as done may be renamed before it is read).
 */
export function batchFilesBelow(root: string): string[] {
    return filesBelow(root).filter((f) => f.endsWith(".jsonl"));
}

/** Parsed JSON Lines of a file. */
export function readLines(path: string): Array<Record<string, unknown>> {
    return readFileSync(path, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
}

type Falsy = false | undefined | null | 0 | "";

/** Polls until `fn` is truthy; resolves with its value. */
export async function until<T>(
    fn: () => T | Falsy | Promise<T | Falsy>,
    what: string,
    timeoutMs = 10_000,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v) return v as T;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
    }
}
