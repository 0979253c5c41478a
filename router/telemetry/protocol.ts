/**
 * Messages between the router thread (observer.ts) and the export worker (worker.ts). Plain data:
 * they cross threads by structured clone.
 */
import type { ExportFailure } from "./exporters";
import type { DestinationStats } from "./pipeline";
import type { ExportRecord } from "./spans";

export type ToWorker =
    /** Finished requests to export; `spans` is how many spans they make. */
    | {
          readonly type: "records";
          readonly records: readonly ExportRecord[];
          readonly spans: number;
      }
    | { readonly type: "stats"; readonly id: number }
    /** Export what is queued, then stop. */
    | { readonly type: "close" };

export type FromWorker =
    /** A `records` message was taken (its spans queued or dropped). */
    | {
          readonly type: "ack";
          readonly records: number;
          readonly spans: number;
          readonly stats: DestinationStats[];
      }
    | { readonly type: "stats"; readonly id: number; readonly stats: DestinationStats[] }
    | { readonly type: "failure"; readonly failure: ExportFailure }
    | { readonly type: "closed"; readonly stats: DestinationStats[] };
