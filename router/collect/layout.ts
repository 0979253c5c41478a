/**
 * Where collected model data goes (pure): v1's layout (aml-v1-spec §8)
 * `modeldata/<subscription>/<resourcegroup>/<workspace>/<service>/<model>/<version>/<inputs|predictions>/<yyyy>/<mm>/<dd>/`,
 * where `modeldata` is the blob container (or, in a directory, the top folder) and the rest is
 * the blob name. v1 appended to one `data.csv` per day; blobs written by several router pods
 * cannot share one append target cheaply, so every batch is its own JSON Lines file, named so
 * that the inputs and predictions of one batch have the same name.
 */
import type { ModelRef, ServiceDefinition } from "../types";

/** Blob container (directory sink: top folder) of model data, as v1 named it. */
export const MODEL_DATA_CONTAINER = "modeldata";

/** Model and version segments of a service that lists no model (AML names never start with `_`). */
export const NO_MODEL: ModelRef = Object.freeze({ name: "_none", version: "0" });

export type Designation = "inputs" | "predictions";
export const DESIGNATIONS: readonly Designation[] = ["inputs", "predictions"];

/** The first three segments: whose workspace the data belongs to. */
export interface ModelDataScope {
    readonly subscription: string;
    readonly resourceGroup: string;
    readonly workspace: string;
}

/**
 * One path segment: letters, digits and `._-()`, not starting with a dot (Azure resource group
 * names allow parentheses; subscription ids are GUIDs; AML model names and versions fit).
 */
export const SEGMENT_PATTERN = /^[A-Za-z0-9_()-][A-Za-z0-9._()-]{0,254}$/;

/** Why `value` cannot be a path segment, or undefined. */
export function segmentProblem(value: unknown): string | undefined {
    if (typeof value !== "string" || !SEGMENT_PATTERN.test(value)) {
        return "must be 1-255 letters, digits, '.', '_', '-', '(' or ')', not starting with '.'";
    }
    return undefined;
}

/**
 * The model whose folder a service's records go to. A router sees one answer per request, not
 * which model produced it, so a service with several models files its records once, under the
 * first model it lists (the order given to `models`), rather than a copy per model.
 */
export function modelOf(definition: ServiceDefinition | undefined): ModelRef {
    const first = definition?.models?.[0];
    return first && !segmentProblem(first.name) && !segmentProblem(first.version)
        ? first
        : NO_MODEL;
}

function two(n: number): string {
    return n < 10 ? `0${n}` : String(n);
}

/** `yyyy/mm/dd` of a time, in UTC (days start at 00:00 UTC whatever the router's zone). */
export function dayPath(time: number): string {
    const d = new Date(time);
    return `${d.getUTCFullYear()}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}`;
}

/** Folder (below the container) of one service/model/designation/day. */
export function folderOf(
    scope: ModelDataScope,
    service: string,
    model: ModelRef,
    designation: Designation,
    time: number,
): string {
    return [
        scope.subscription,
        scope.resourceGroup,
        scope.workspace,
        service,
        model.name,
        model.version,
        designation,
        dayPath(time),
    ].join("/");
}

/**
 * File name of one batch: `data-<hhmmss>-<writer>-<seq>.jsonl` (UTC time the batch was cut). The
 * writer id tells router pods apart; names sort by time within a day.
 */
export function batchFileName(time: number, writer: string, seq: number): string {
    const d = new Date(time);
    const hms = `${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}`;
    return `data-${hms}-${writer}-${String(seq).padStart(6, "0")}.jsonl`;
}
