/**
 * The export worker: runs the OpenTelemetry pipeline (pipeline.ts) off the router's thread, so
 * building spans, serializing batches and sending them never take time from a scoring request.
 * The observer (observer.ts) starts it with the pipeline's options in `workerData`; its script is
 * worker-entry.ts (compiled or through tsx), or the router bundle itself in the router image,
 * whose entry (router/main.ts) calls {@link runExportWorker} when it finds itself in this role.
 */
import { parentPort, workerData } from "node:worker_threads";
import { ExportPipeline, type PipelineOptions } from "./pipeline";
import type { FromWorker, ToWorker } from "./protocol";
import { EXPORT_WORKER_MARK, isExportWorker } from "./worker-mark";

/** Serves the observer's messages until it says `close`. */
export function runExportWorker(): void {
    const port = parentPort;
    if (!port || !isExportWorker()) throw new Error("runExportWorker runs in the export worker");
    const options = (workerData as Record<string, PipelineOptions>)[EXPORT_WORKER_MARK];
    const send = (m: FromWorker): void => port.postMessage(m);
    const pipeline = new ExportPipeline(options, (failure) => send({ type: "failure", failure }));
    port.on("message", (m: ToWorker) => {
        switch (m.type) {
            case "records":
                for (const r of m.records) pipeline.add(r);
                send({
                    type: "ack",
                    records: m.records.length,
                    spans: m.spans,
                    stats: pipeline.stats(),
                });
                break;
            case "stats":
                send({ type: "stats", id: m.id, stats: pipeline.stats() });
                break;
            case "close":
                void pipeline.close().then(() => {
                    send({ type: "closed", stats: pipeline.stats() });
                    port.close();
                });
                break;
        }
    });
}
