/**
 * Where batches of model data are written: a directory (local runtime) or a blob container
 * (cluster). A sink writes one whole file per call; writing the same path again replaces it, so
 * a retried batch never duplicates lines.
 */

export interface ModelDataSink {
    /** For logs: `directory /data` or `blob https://acct.blob.core.windows.net/modeldata`. */
    readonly description: string;
    /**
     * Writes `body` at `path` (below the container: `<subscription>/.../<file>.jsonl`). Rejects
     * with a {@link StoreError} saying whether a retry may help. Stops early when `signal` aborts.
     */
    put(path: string, body: Buffer, signal: AbortSignal): Promise<void>;
    /** Releases connections. @default nothing to release */
    close?(): Promise<void>;
}

/** A failed write, classified for the retry decision. */
export class StoreError extends Error {
    constructor(
        message: string,
        /** A retry may succeed (timeouts, throttling, 5xx, connection errors). */
        readonly transient: boolean,
        /** Short code for logs and the drop reason, e.g. `ENOSPC`, `403`, `timeout`. */
        readonly code: string,
    ) {
        super(message);
        this.name = "StoreError";
    }
}

/** An error a sink did not classify counts as transient: retries are bounded anyway. */
export function asStoreError(err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const e = err as { message?: unknown; code?: unknown } | undefined;
    const message = typeof e?.message === "string" ? e.message : String(err);
    return new StoreError(message, true, typeof e?.code === "string" ? e.code : "error");
}
