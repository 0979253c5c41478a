/**
 * The fleet's load as one scaler sees it (R31-R33 with N router pods). Each router only counts
 * its own requests, so the scaling router polls every peer's load endpoint
 * ({@link ROUTER_PEER_LOAD_PATH}, metrics port) and adds the counts to its own:
 * - readyReplicas: this router's routable replicas (all routers watch the same endpoints);
 * - inFlight, queued: summed over this router and the fresh peer snapshots;
 * - busyReplicas (R32): for each routable replica, the share of the last poll window in which any
 *   router had a request on it (each router reports the cumulative time each replica was busy;
 *   two reports give its share), capped at 1 per replica, summed and rounded. Adding instants
 *   instead would count one request several times: routers answer at different moments, and a
 *   client hopping between routers shows up busy in each of their snapshots.
 * A snapshot older than `expireMs` is dropped, so a dead peer's counts expire on their own.
 * Victims and drains stay local: the Kubernetes backend removes the pods, which takes them out
 * of every router's endpoints.
 */
import pino, { type Logger } from "pino";
import { ROUTER_PEER_LOAD_PATH } from "../../../components/cluster/router-rbac";
import { type Clock, systemClock } from "../../autoscaler/clock";
import type { RoutingControl, ServiceLoad } from "../../types";
import type { PeerSource } from "./peers";

/** One service in a peer's answer: its queue, and per replica id its in-flight requests and busy time. */
export interface PeerServiceLoad {
    readonly queued: number;
    readonly replicas: Readonly<Record<string, number>>;
    /** Cumulative time (ms, the answering router's clock) each replica had a request from it. */
    readonly busyMs: Readonly<Record<string, number>>;
}

/** Body of `GET ROUTER_PEER_LOAD_PATH`. */
export interface PeerLoadReport {
    /** The answering router's id (its pod name). */
    readonly router: string;
    /** The answering router's clock when it answered (ms): busy shares are measured against it. */
    readonly nowMs: number;
    readonly services: Readonly<Record<string, PeerServiceLoad>>;
}

/** A replica as the local router reports it (`Router.replicaStates`). */
export interface LocalReplicaState {
    readonly id: string;
    readonly inFlight: number;
    readonly draining: boolean;
    readonly removed: boolean;
    readonly busyMs: number;
}

/** What the report and the merge read from the local router (the Router satisfies it). */
export interface LoadSource {
    services(): string[];
    replicaStates(service: string): readonly LocalReplicaState[];
    load(service: string): ServiceLoad;
}

/** Builds this router's answer to its peers. In-flight counts include draining replicas. */
export function peerLoadReport(
    source: LoadSource,
    routerId: string,
    nowMs: number = Date.now(),
): PeerLoadReport {
    const services: Record<string, PeerServiceLoad> = Object.create(null) as Record<
        string,
        PeerServiceLoad
    >;
    for (const service of source.services()) {
        const replicas: Record<string, number> = Object.create(null) as Record<string, number>;
        const busyMs: Record<string, number> = Object.create(null) as Record<string, number>;
        for (const r of source.replicaStates(service)) {
            replicas[r.id] = (replicas[r.id] ?? 0) + r.inFlight;
            busyMs[r.id] = Math.max(busyMs[r.id] ?? 0, r.busyMs);
        }
        services[service] = { queued: source.load(service).queued, replicas, busyMs };
    }
    return { router: routerId, nowMs, services };
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates a peer's answer; undefined when its shape is wrong (never trust it half-way). */
export function parsePeerLoadReport(body: unknown): PeerLoadReport | undefined {
    if (
        !isObject(body) ||
        typeof body.router !== "string" ||
        !isCount(body.nowMs) ||
        !isObject(body.services)
    ) {
        return undefined;
    }
    const counts = (o: unknown): Record<string, number> | undefined => {
        if (!isObject(o)) return undefined;
        const m = new Map<string, number>();
        for (const [id, n] of Object.entries(o)) {
            if (!isCount(n)) return undefined;
            m.set(id, n);
        }
        return Object.fromEntries(m);
    };
    const services = new Map<string, PeerServiceLoad>();
    for (const [name, s] of Object.entries(body.services)) {
        if (!isObject(s) || !isCount(s.queued)) return undefined;
        const replicas = counts(s.replicas);
        const busyMs = counts(s.busyMs);
        if (!replicas || !busyMs) return undefined;
        services.set(name, { queued: s.queued, replicas, busyMs });
    }
    return { router: body.router, nowMs: body.nowMs, services: Object.fromEntries(services) };
}

/**
 * Share of the window between two reports of one router in which each replica was busy (0..1).
 * Without an earlier report (or for a replica it did not know then) the current instant stands
 * in: busy now → 1.
 */
export function busyShares(
    current: PeerServiceLoad | undefined,
    currentNowMs: number,
    previous: PeerServiceLoad | undefined,
    previousNowMs: number | undefined,
): Map<string, number> {
    const out = new Map<string, number>();
    if (!current) return out;
    const window = previousNowMs === undefined ? 0 : currentNowMs - previousNowMs;
    for (const [id, inFlight] of Object.entries(current.replicas)) {
        const before = previous?.busyMs[id];
        const now = current.busyMs[id];
        if (window > 0 && before !== undefined && now !== undefined && now >= before) {
            out.set(id, Math.min(1, (now - before) / window));
        } else {
            out.set(id, inFlight > 0 ? 1 : 0);
        }
    }
    return out;
}

/** One router's part of a merge: busy shares per replica id, in-flight and queued requests. */
export interface RouterServiceLoad {
    readonly busyById: ReadonlyMap<string, number>;
    readonly inFlight: number;
    readonly queued: number;
}

/** The local part of a merge. */
export interface LocalServiceLoad extends RouterServiceLoad {
    /** Routable (ready, not draining) replica ids. */
    readonly readyIds: readonly string[];
}

/** Pure merge of the local view with the peers' views of one service (see the module comment). */
export function mergeLoad(
    local: LocalServiceLoad,
    peers: readonly (RouterServiceLoad | undefined)[],
): ServiceLoad {
    let inFlight = local.inFlight;
    let queued = local.queued;
    const byId = new Map(local.busyById);
    for (const p of peers) {
        if (!p) continue;
        queued += p.queued;
        inFlight += p.inFlight;
        for (const [id, share] of p.busyById) byId.set(id, (byId.get(id) ?? 0) + share);
    }
    let busy = 0;
    for (const id of local.readyIds) busy += Math.min(1, byId.get(id) ?? 0);
    // Rounded to whole replicas: 0.98 busy is one busy replica, 0.3 is none.
    return {
        readyReplicas: local.readyIds.length,
        busyReplicas: Math.round(busy),
        inFlight,
        queued,
    };
}

/** A peer's report of one service, in the merge's terms (shares against its previous report). */
export function peerServiceLoad(
    current: PeerLoadReport,
    previous: PeerLoadReport | undefined,
    service: string,
): RouterServiceLoad | undefined {
    const s = current.services[service];
    if (!s) return undefined;
    let inFlight = 0;
    for (const n of Object.values(s.replicas)) inFlight += n;
    return {
        busyById: busyShares(s, current.nowMs, previous?.services[service], previous?.nowMs),
        inFlight,
        queued: s.queued,
    };
}

/**
 * The local view of one service, in the merge's terms: busy shares over the window since
 * `since` (an earlier report of this router), or the instant without one.
 */
export function localServiceLoad(
    source: LoadSource,
    service: string,
    since?: PeerLoadReport,
    nowMs: number = Date.now(),
): LocalServiceLoad {
    const states = source.replicaStates(service);
    const now = peerLoadReport(
        { services: () => [service], replicaStates: () => states, load: (x) => source.load(x) },
        "",
        nowMs,
    );
    const load = source.load(service);
    return {
        readyIds: [...new Set(states.filter((r) => !r.draining && !r.removed).map((r) => r.id))],
        busyById: busyShares(now.services[service], nowMs, since?.services[service], since?.nowMs),
        inFlight: load.inFlight,
        queued: load.queued,
    };
}

/** A peer's latest report, the one before it, and when the latest arrived (local clock). */
export interface PeerSnapshot {
    readonly atMs: number;
    readonly report: PeerLoadReport;
    readonly previous?: PeerLoadReport;
}

/** Snapshots younger than `expireMs` at `nowMs`. */
export function freshReports<S extends { readonly atMs: number }>(
    snapshots: Iterable<S>,
    nowMs: number,
    expireMs: number,
): S[] {
    const out: S[] = [];
    for (const s of snapshots) if (nowMs - s.atMs < expireMs) out.push(s);
    return out;
}

export interface FleetRoutingOptions {
    /** This router (load, victims, drains). */
    readonly local: RoutingControl & LoadSource;
    readonly peers: PeerSource;
    /** This router's id: an answer carrying it (a stale peer address) is ignored. */
    readonly selfId?: string;
    /** @default 1000 */
    readonly pollMs?: number;
    /** @default 3 × pollMs */
    readonly expireMs?: number;
    /** Per peer request. @default 500 */
    readonly timeoutMs?: number;
    /** @default the wall clock */
    readonly clock?: Clock;
    /** @default silent */
    readonly logger?: Logger;
}

/** RoutingControl over the local router plus the peers' load snapshots. */
export class FleetRouting implements RoutingControl {
    readonly pollMs: number;
    readonly expireMs: number;
    private readonly opts: FleetRoutingOptions;
    private readonly clock: Clock;
    private readonly logger: Logger;
    private readonly timeoutMs: number;
    /** By the answering router's id, so one router is never counted twice. */
    private readonly snapshots = new Map<string, PeerSnapshot>();
    /** This router's own report at the last two polls: shares are measured from the older one,
     * so the window is between one and two poll periods long. */
    private localSamples: PeerLoadReport[] = [];
    private readonly lastErrors = new Map<string, string>();
    private timer: unknown;
    private polling: Promise<void> | undefined;
    private running = false;

    constructor(opts: FleetRoutingOptions) {
        this.opts = opts;
        this.pollMs = opts.pollMs ?? 1000;
        this.expireMs = opts.expireMs ?? 3 * this.pollMs;
        this.timeoutMs = opts.timeoutMs ?? 500;
        this.clock = opts.clock ?? systemClock;
        this.logger = opts.logger ?? pino({ level: "silent" });
    }

    /** Polls now and every `pollMs` (a round still running makes the next one skip). */
    start(): void {
        if (this.running) return;
        this.running = true;
        const tick = (): void => {
            if (!this.running) return;
            this.timer = this.clock.setTimeout(tick, this.pollMs);
            if (!this.polling) void this.pollNow();
        };
        tick();
    }

    /** Stops polling and forgets every snapshot. */
    async stop(): Promise<void> {
        this.running = false;
        this.clock.clearTimeout(this.timer);
        await this.polling;
        this.snapshots.clear();
        this.localSamples = [];
    }

    /** One round: asks every current peer for its load, in parallel. */
    pollNow(): Promise<void> {
        this.polling ??= (async () => {
            try {
                this.localSamples = [
                    ...this.localSamples.slice(-1),
                    peerLoadReport(this.opts.local, this.opts.selfId ?? "", this.clock.now()),
                ];
                const peers = this.opts.peers.peers();
                await Promise.all(peers.map((p) => this.pollPeer(p)));
                const names = new Set(peers.map((p) => p.name));
                for (const name of this.lastErrors.keys()) {
                    if (!names.has(name)) this.lastErrors.delete(name);
                }
                const now = this.clock.now();
                for (const [id, s] of this.snapshots) {
                    if (now - s.atMs >= this.expireMs) this.snapshots.delete(id);
                }
            } finally {
                this.polling = undefined;
            }
        })();
        return this.polling;
    }

    /** Peers whose snapshot is fresh. */
    freshPeers(): number {
        return this.fresh().length;
    }

    load(service: string): ServiceLoad {
        return mergeLoad(
            localServiceLoad(this.opts.local, service, this.localSamples[0], this.clock.now()),
            this.fresh().map((s) => peerServiceLoad(s.report, s.previous, service)),
        );
    }

    pickVictims(service: string, count: number): string[] {
        return this.opts.local.pickVictims(service, count);
    }

    drain(service: string, replicaId: string, timeoutMs: number): Promise<void> {
        return this.opts.local.drain(service, replicaId, timeoutMs);
    }

    private fresh(): PeerSnapshot[] {
        return freshReports(this.snapshots.values(), this.clock.now(), this.expireMs);
    }

    private async pollPeer(peer: { name: string; url: string }): Promise<void> {
        try {
            const res = await fetch(`${peer.url}${ROUTER_PEER_LOAD_PATH}`, {
                signal: AbortSignal.timeout(this.timeoutMs),
                headers: { accept: "application/json" },
            });
            if (!res.ok) {
                await res.body?.cancel();
                throw new Error(`HTTP ${res.status}`);
            }
            const report = parsePeerLoadReport(await res.json());
            if (!report) throw new Error("answer is not a peer load report");
            if (report.router !== this.opts.selfId) {
                const before = this.snapshots.get(report.router);
                this.snapshots.set(report.router, {
                    atMs: this.clock.now(),
                    report,
                    previous: before?.report,
                });
            }
            this.lastErrors.delete(peer.name);
        } catch (err) {
            // Its last snapshot stays until it expires; log once per distinct error.
            const text = String((err as Error)?.message ?? err);
            if (this.lastErrors.get(peer.name) !== text) {
                this.logger.warn(
                    { peer: peer.name, url: peer.url, err: text },
                    "fleet: peer poll failed",
                );
            }
            this.lastErrors.set(peer.name, text);
        }
    }
}
