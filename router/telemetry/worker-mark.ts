/**
 * How a thread knows it is the telemetry export worker (worker.ts), without loading the
 * OpenTelemetry SDK: the router's entry asks at start-up.
 */
import { isMainThread, workerData } from "node:worker_threads";

/** Key of `workerData` holding the pipeline's options; marks a thread as the export worker. */
export const EXPORT_WORKER_MARK = "amlaksTelemetryExportWorker";

/** This thread is an export worker. */
export function isExportWorker(): boolean {
    return (
        !isMainThread &&
        typeof workerData === "object" &&
        workerData !== null &&
        EXPORT_WORKER_MARK in workerData
    );
}
