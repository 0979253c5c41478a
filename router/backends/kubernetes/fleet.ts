/**
 * The fleet's load as one scaler sees it (R31-R33 with N router pods). Each router only counts
 * its own requests, so the scaling router polls every peer's load endpoint
 * ({@link ROUTER_PEER_LOAD_PATH}, metrics port) and adds the counts to its own:
 * - readyReplicas: this router's routable replicas (all routers watch the same endpoints);
 * - inFlight, queued: summed over this router and the fresh peer snapshots;
 * - busyReplicas: this router's routable replicas whose summed in-flight count is > 0 (R32).
 * A snapshot older than `expireMs` is dropped, so a dead peer's counts expire on their own.
 * Victims and drains stay local: the Kubernetes backend removes the pods, which takes them out
 * of every router's endpoints.
 */
import pino, { type Logger } from "pino";
import { ROUTER_PEER_LOAD_PATH } from "../../../components/cluster/router-rbac";
import { type Clock, systemClock } from "../../autoscaler/clock";
import type { RoutingControl, ServiceLoad } from "../../types";
import type { PeerSource } from "./peers";

/** One service in a peer's answer: its queue and in-flight requests per replica id. */
export interface PeerServiceLoad {
    readonly queued: number;
    readonly replicas: Readonly<Record<string, number>>;
}

/** Body of `GET ROUTER_PEER_LOAD_PATH`. */
export interface PeerLoadReport {
    /** The answering router's id (its pod name). */
    readonly router: string;
    readonly services: Readonly<Record<string, PeerServiceLoad>>;
}

/** A replica as the local router reports it (`Router.replicaStates`). */
export interface LocalReplicaState {
    readonly id: string;
    readonly inFlight: number;
    readonly draining: boolean;
    readonly removed: boolean;
}

/** What the report and the merge read from the local router (the Router satisfies it). */
export interface LoadSource {
    services(): string[];
    replicaStates(service: string): readonly LocalReplicaState[];
    load(service: string): ServiceLoad;
}

/** Builds this router's answer to its peers. In-flight counts include draining replicas. */
export function peerLoadReport(source: LoadSource, routerId: string): PeerLoadReport {
    const services: Record<string, PeerServiceLoad> = Object.create(null) as Record<
        string,
        PeerServiceLoad
    >;
    for (const service of source.services()) {
        const replicas: Record<string, number> = Object.create(null) as Record<string, number>;
        for (const r of source.replicaStates(service)) {
            replicas[r.id] = (replicas[r.id] ?? 0) + r.inFlight;
        }
        services[service] = { queued: source.load(service).queued, replicas };
    }
    return { router: routerId, services };
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates a peer's answer; undefined when its shape is wrong (never trust it half-way). */
export function parsePeerLoadReport(body: unknown): PeerLoadReport | undefined {
    if (!isObject(body) || typeof body.router !== "string" || !isObject(body.services)) {
        return undefined;
    }
    const services = new Map<string, PeerServiceLoad>();
    for (const [name, s] of Object.entries(body.services)) {
        if (!isObject(s) || !isCount(s.queued) || !isObject(s.replicas)) return undefined;
        const replicas = new Map<string, number>();
        for (const [id, n] of Object.entries(s.replicas)) {
            if (!isCount(n)) return undefined;
            replicas.set(id, n);
        }
        services.set(name, { queued: s.queued, replicas: Object.fromEntries(replicas) });
    }
    return { router: body.router, services: Object.fromEntries(services) };
}

/** The local part of a merge. */
export interface LocalServiceLoad {
    /** Routable (ready, not draining) replica ids. */
    readonly readyIds: readonly string[];
    /** In-flight requests per replica id (all replicas, draining ones too). */
    readonly inFlightById: ReadonlyMap<string, number>;
    readonly inFlight: number;
    readonly queued: number;
}

/** Pure merge of the local view with the peers' views of one service (see the module comment). */
export function mergeLoad(
    local: LocalServiceLoad,
    peers: readonly (PeerServiceLoad | undefined)[],
): ServiceLoad {
    let inFlight = local.inFlight;
    let queued = local.queued;
    const byId = new Map(local.inFlightById);
    for (const p of peers) {
        if (!p) continue;
        queued += p.queued;
        for (const [id, n] of Object.entries(p.replicas)) {
            inFlight += n;
            byId.set(id, (byId.get(id) ?? 0) + n);
        }
    }
    const busyReplicas = local.readyIds.filter((id) => (byId.get(id) ?? 0) > 0).length;
    return { readyReplicas: local.readyIds.length, busyReplicas, inFlight, queued };
}

/** The local view of one service, in the merge's terms. */
export function localServiceLoad(source: LoadSource, service: string): LocalServiceLoad {
    const states = source.replicaStates(service);
    const inFlightById = new Map<string, number>();
    for (const r of states) inFlightById.set(r.id, (inFlightById.get(r.id) ?? 0) + r.inFlight);
    const load = source.load(service);
    return {
        readyIds: [...new Set(states.filter((r) => !r.draining && !r.removed).map((r) => r.id))],
        inFlightById,
        inFlight: load.inFlight,
        queued: load.queued,
    };
}

/** Snapshots younger than `expireMs` at `nowMs`. */
export function freshReports(
    snapshots: Iterable<{ readonly atMs: number; readonly report: PeerLoadReport }>,
    nowMs: number,
    expireMs: number,
): PeerLoadReport[] {
    const out: PeerLoadReport[] = [];
    for (const s of snapshots) if (nowMs - s.atMs < expireMs) out.push(s.report);
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
    private readonly snapshots = new Map<string, { atMs: number; report: PeerLoadReport }>();
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
    }

    /** One round: asks every current peer for its load, in parallel. */
    pollNow(): Promise<void> {
        this.polling ??= (async () => {
            try {
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
            localServiceLoad(this.opts.local, service),
            this.fresh().map((r) => r.services[service]),
        );
    }

    pickVictims(service: string, count: number): string[] {
        return this.opts.local.pickVictims(service, count);
    }

    drain(service: string, replicaId: string, timeoutMs: number): Promise<void> {
        return this.opts.local.drain(service, replicaId, timeoutMs);
    }

    private fresh(): PeerLoadReport[] {
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
                this.snapshots.set(report.router, { atMs: this.clock.now(), report });
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
