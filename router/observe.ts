/**
 * What the router tells observers once a request is over (issue 12: access logs, metrics,
 * Application Insights export, model data collection). The router calls every observer once
 * per request, after the client's answer is settled, from the request's own path: an observer
 * must return quickly, must not throw (a throw is caught and counted) and must not keep the
 * request waiting — slow work (uploads, exports) is queued and bounded inside the observer.
 */
import type { ServiceDefinition } from "./types";

/** One finished request, as observers see it. Times are milliseconds. */
export interface ExchangeRecord {
    /** `x-ms-request-id` the client got (the router makes one when the client sent none). */
    readonly requestId: string;
    /** Service name, or the "(unknown)" label for requests to no known service. */
    readonly service: string;
    /** The service's definition when the request reached a known service. */
    readonly definition?: ServiceDefinition;
    readonly method: string;
    /** Path without the query string (a GET query can carry the payload). */
    readonly path: string;
    /** Status the client got; 499 when the client closed first. */
    readonly status: number;
    /** Why the router answered itself or cut the exchange (see router/outcomes when present). */
    readonly reason?: string;
    /** Replica that served it (last one tried). */
    readonly replica?: string;
    readonly attempts?: number;
    /** Client address as the router saw it. */
    readonly clientAddress?: string;
    /** Wall-clock time the request arrived (Date.now()). */
    readonly startTime: number;
    readonly durationMs: number;
    /** Time waiting for a replica slot. */
    readonly queueMs?: number;
    /** Time from sending to the replica until its answer was complete. */
    readonly modelMs?: number;
    readonly requestBytes: number;
    readonly responseBytes: number;
    /**
     * The request body, only when some observer's `wantsPayloads` said yes for this service and
     * the exchange reached a replica. Observers must not modify it.
     */
    readonly requestBody?: Buffer;
    /** The replica's answer body, under the same condition. */
    readonly responseBody?: Buffer;
}

export interface ExchangeObserver {
    /**
     * Whether this observer needs the bodies of this service's requests (data collection, App
     * Insights payload logging). Asked once per forwarded request; keep it cheap.
     */
    wantsPayloads?(definition: ServiceDefinition): boolean;
    /** Called once per finished request. */
    onExchange(record: ExchangeRecord): void;
    /** Flushes what is queued (bounded by the caller's drain time) and stops. */
    close?(): Promise<void>;
}
