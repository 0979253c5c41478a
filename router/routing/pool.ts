/**
 * The routing table of one service (docs/design.md §5 "Routing"): per-replica concurrency slots
 * (`replicaMaxConcurrentRequests`), least-busy choice, and a bounded FIFO wait queue
 * (`maxRequestWaitTime`). No HTTP here: the pool hands out replicas and takes them back, so the
 * busy counters can be proved exact by unit tests and by the HTTP tests alike (ray#61551: one
 * leaked counter blocks scale-down forever).
 *
 * Counting rule: every replica returned by `tryAcquire` or granted to a waiter holds exactly one
 * slot until `release` is called for it, once.
 */
import type { Replica, ServiceLoad } from "../types";
import { timerDelay } from "../timers";
import { LinkedQueue, type QueueNode } from "./queue";

/** Why a request left the queue without a replica. */
export type RejectReason = "queue_full" | "queue_timeout" | "closed";

/** One replica as the pool tracks it. `U` is the transport (an HTTP agent) built for it. */
export interface ReplicaState<U> {
    readonly id: string;
    readonly url: string;
    readonly upstream: U;
    /** Requests holding a slot on this replica. */
    inFlight: number;
    /** No new requests (drain in progress or done); in-flight ones finish. */
    draining: boolean;
    /** Left the replica set; disposed once its in-flight requests finished. */
    removed: boolean;
    /** When the replica last became idle or was added (ms, pool clock). */
    lastIdleAt: number;
    /** After a connection failure: skipped until this time (ms, pool clock); 0 = healthy. */
    ejectedUntil: number;
    /**
     * Time this replica had at least one request in flight, up to `busySince` (ms). Peers report
     * it so the scaler averages busy replicas over a window instead of adding instants taken at
     * different times by different routers (R32 with N routers).
     */
    busyMs: number;
    /** When the current busy period began (pool clock); meaningful while inFlight > 0. */
    busySince: number;
}

/** A place in the queue; pass it to `cancel` when the client goes away. */
export interface Ticket {
    readonly enqueuedAt: number;
}

interface Waiter<U> extends Ticket {
    /** A retry: any replica but this one. */
    readonly exclude: ReplicaState<U> | undefined;
    readonly grant: (replica: ReplicaState<U>) => void;
    readonly reject: (reason: RejectReason) => void;
    timer: NodeJS.Timeout | undefined;
    node: QueueNode<Waiter<U>> | undefined;
}

export interface PoolOptions<U> {
    /** `replicaMaxConcurrentRequests`. */
    readonly concurrency: number;
    /** `maxRequestWaitTime` in ms. */
    readonly maxWaitMs: number;
    /** Queue bound for a given concurrency and ready replica count. */
    readonly queueLimit: (concurrency: number, readyReplicas: number) => number;
    readonly createUpstream: (replica: Replica) => U;
    readonly disposeUpstream: (upstream: U) => void;
    /** @default Date.now */
    readonly now?: () => number;
}

/**
 * Default queue bound: `max(minimum, perSlot × concurrency × max(1, ready replicas))`. The time
 * bound (`maxRequestWaitTime`, 500 ms by default) does most of the work; the length bound only
 * stops a flood from holding unbounded sockets and memory (Knative's queue-proxy uses 10 × CC).
 */
export function defaultQueueLimit(minimum = 100, perSlot = 10) {
    return (concurrency: number, readyReplicas: number): number =>
        Math.max(minimum, perSlot * concurrency * Math.max(1, readyReplicas));
}

export class ServicePool<U> {
    private concurrency: number;
    private maxWaitMs: number;
    private readonly queueLimit: (concurrency: number, ready: number) => number;
    private readonly createUpstream: (replica: Replica) => U;
    private readonly disposeUpstream: (upstream: U) => void;
    private readonly now: () => number;
    /** Current replica set (routable and draining), by id. */
    private readonly byId = new Map<string, ReplicaState<U>>();
    /** Routable replicas: in the set and not draining. */
    private active: ReplicaState<U>[] = [];
    /** Removed from the set but still finishing requests. */
    private readonly retiring = new Set<ReplicaState<U>>();
    private readonly queue = new LinkedQueue<Waiter<U>>();
    private readonly drainWaiters = new Map<ReplicaState<U>, Array<() => void>>();
    private readonly idleWaiters: Array<() => void> = [];
    private cursor = 0;
    private inFlightTotal = 0;
    private closed = false;

    constructor(opts: PoolOptions<U>) {
        this.concurrency = opts.concurrency;
        this.maxWaitMs = opts.maxWaitMs;
        this.queueLimit = opts.queueLimit;
        this.createUpstream = opts.createUpstream;
        this.disposeUpstream = opts.disposeUpstream;
        this.now = opts.now ?? Date.now;
    }

    /** Settings changed at run time: applies to new requests; a higher limit frees slots now. */
    configure(concurrency: number, maxWaitMs: number): void {
        this.concurrency = concurrency;
        this.maxWaitMs = maxWaitMs;
        this.dispatch();
    }

    get maxConcurrency(): number {
        return this.concurrency;
    }

    get queued(): number {
        return this.queue.length;
    }

    get inFlight(): number {
        return this.inFlightTotal;
    }

    /** Current queue bound. */
    get maxQueueLength(): number {
        return this.queueLimit(this.concurrency, this.active.length);
    }

    /**
     * Takes a slot on the least-busy routable replica, or returns undefined when none is free or
     * requests are already waiting (FIFO: a newcomer never overtakes the queue, unless `priority`).
     * `exclude` skips one replica (the one a retry just failed on).
     */
    tryAcquire(exclude?: ReplicaState<U>, priority = false): ReplicaState<U> | undefined {
        if (this.closed || (!priority && this.queue.length > 0)) return undefined;
        const r = this.pick(exclude);
        if (r) this.take(r);
        return r;
    }

    /**
     * Waits for a slot. `grant` receives the replica (slot already taken); `reject` runs on queue
     * full (at once), wait timeout, or close. Exactly one of them is called, unless cancelled;
     * `grant` may run before `enqueue` returns. `exclude` (a retry) never gets that replica.
     */
    enqueue(
        grant: (replica: ReplicaState<U>) => void,
        reject: (reason: RejectReason) => void,
        front = false,
        exclude?: ReplicaState<U>,
    ): Ticket | undefined {
        if (this.closed) {
            reject("closed");
            return undefined;
        }
        if (!front && this.queue.length >= this.maxQueueLength) {
            reject("queue_full");
            return undefined;
        }
        const waiter: Waiter<U> = {
            enqueuedAt: this.now(),
            exclude,
            grant,
            reject,
            timer: undefined,
            node: undefined,
        };
        waiter.node = front ? this.queue.unshift(waiter) : this.queue.push(waiter);
        waiter.timer = setTimeout(() => {
            waiter.timer = undefined;
            if (waiter.node && this.queue.remove(waiter.node)) {
                this.notifyIdle();
                reject("queue_timeout");
            }
        }, timerDelay(this.maxWaitMs));
        // A free slot may exist that the retry at the head cannot take but others can.
        if (exclude !== undefined || this.queue.peek()?.exclude !== undefined) this.dispatch();
        return waiter;
    }

    /** True when a routable replica other than `replica` exists (busy or not). */
    hasOtherReplica(replica: ReplicaState<U> | undefined): boolean {
        return this.active.some((r) => r !== replica);
    }

    /**
     * Passive health: after a failed connection the replica is skipped for `ms` while its
     * backend has not removed it yet, so requests do not keep meeting a dead replica first.
     */
    eject(replica: ReplicaState<U>, ms: number): void {
        if (ms <= 0 || replica.removed) return;
        replica.ejectedUntil = this.now() + ms;
        const timer = setTimeout(() => {
            if (replica.ejectedUntil <= this.now()) replica.ejectedUntil = 0;
            this.dispatch();
        }, ms + 1);
        timer.unref();
    }

    /** The client left while waiting. Returns false if the waiter already left the queue. */
    cancel(ticket: Ticket): boolean {
        const waiter = ticket as Waiter<U>;
        if (waiter.timer) clearTimeout(waiter.timer);
        waiter.timer = undefined;
        const removed = waiter.node ? this.queue.remove(waiter.node) : false;
        if (removed) this.notifyIdle();
        return removed;
    }

    /** Gives back the slot taken by `tryAcquire` or a grant. Call exactly once per slot. */
    release(replica: ReplicaState<U>): void {
        if (replica.inFlight <= 0) throw new Error(`slot released twice on replica ${replica.id}`);
        replica.inFlight--;
        this.inFlightTotal--;
        if (replica.inFlight === 0) {
            replica.lastIdleAt = this.now();
            replica.busyMs += replica.lastIdleAt - replica.busySince;
            const waiters = this.drainWaiters.get(replica);
            if (waiters) {
                this.drainWaiters.delete(replica);
                for (const w of waiters) w();
            }
            if (replica.removed) {
                this.retiring.delete(replica);
                this.disposeUpstream(replica.upstream);
            }
        }
        this.dispatch();
        this.notifyIdle();
    }

    /**
     * Replaces the replica set (BackendListener.onReplicas). New replicas take traffic at once;
     * removed ones take no new requests and are disposed when their in-flight requests finish.
     * A replica whose URL changed is treated as removed plus added.
     */
    setReplicas(replicas: readonly Replica[]): void {
        const next = new Map<string, Replica>();
        for (const r of replicas) next.set(r.id, r);
        for (const [id, state] of this.byId) {
            const wanted = next.get(id);
            if (!wanted || wanted.url !== state.url) this.retire(state);
        }
        for (const r of next.values()) {
            if (this.byId.has(r.id)) continue;
            const state: ReplicaState<U> = {
                id: r.id,
                url: r.url,
                upstream: this.createUpstream(r),
                inFlight: 0,
                draining: false,
                removed: false,
                lastIdleAt: this.now(),
                ejectedUntil: 0,
                busyMs: 0,
                busySince: 0,
            };
            this.byId.set(r.id, state);
        }
        this.rebuildActive();
        this.dispatch();
    }

    /**
     * Stops routing new requests to the replica and resolves once its in-flight requests finished
     * or `timeoutMs` passed (RoutingControl.drain). Unknown replicas resolve at once. The replica
     * stays out of rotation until it leaves the set or `undrain` is called.
     */
    drain(replicaId: string, timeoutMs: number): Promise<void> {
        const state = this.byId.get(replicaId);
        if (!state) return Promise.resolve();
        if (!state.draining) {
            state.draining = true;
            this.rebuildActive();
        }
        return this.waitIdle(state, timeoutMs);
    }

    /** Puts a drained replica back in rotation (e.g. a scale-down that was called off). */
    undrain(replicaId: string): boolean {
        const state = this.byId.get(replicaId);
        if (!state || !state.draining) return false;
        state.draining = false;
        this.rebuildActive();
        this.dispatch();
        return true;
    }

    load(): ServiceLoad {
        let busy = 0;
        for (const r of this.active) if (r.inFlight > 0) busy++;
        return {
            readyReplicas: this.active.length,
            busyReplicas: busy,
            inFlight: this.inFlightTotal,
            queued: this.queue.length,
        };
    }

    /** Up to `count` routable replica ids to remove: idle ones first (idle longest first), then least busy. */
    pickVictims(count: number): string[] {
        if (count <= 0) return [];
        return [...this.active]
            .sort((a, b) => a.inFlight - b.inFlight || a.lastIdleAt - b.lastIdleAt)
            .slice(0, count)
            .map((r) => r.id);
    }

    /** Snapshot for diagnostics and tests. */
    replicas(): Array<{
        id: string;
        url: string;
        inFlight: number;
        draining: boolean;
        removed: boolean;
        /** Time with at least one request in flight since the replica joined (ms, pool clock). */
        busyMs: number;
    }> {
        const now = this.now();
        return [...this.byId.values(), ...this.retiring].map((r) => ({
            id: r.id,
            url: r.url,
            inFlight: r.inFlight,
            draining: r.draining,
            removed: r.removed,
            busyMs: r.busyMs + (r.inFlight > 0 ? now - r.busySince : 0),
        }));
    }

    /** Rejects every waiter with "closed" and refuses new ones; in-flight requests keep their slots. */
    close(): void {
        if (this.closed) return;
        this.closed = true;
        for (const w of this.queue.drainAll()) {
            if (w.timer) clearTimeout(w.timer);
            w.timer = undefined;
            w.reject("closed");
        }
        this.notifyIdle();
    }

    /** Resolves when nothing is queued or in flight (or after `timeoutMs`); true if idle. */
    whenIdle(timeoutMs: number): Promise<boolean> {
        if (this.isIdle()) return Promise.resolve(true);
        return new Promise((resolve) => {
            const timer = setTimeout(() => {
                const i = this.idleWaiters.indexOf(done);
                if (i >= 0) this.idleWaiters.splice(i, 1);
                resolve(this.isIdle());
            }, timeoutMs);
            const done = (): void => {
                clearTimeout(timer);
                resolve(true);
            };
            this.idleWaiters.push(done);
        });
    }

    /** Disposes every transport (after close and drain). */
    dispose(): void {
        for (const r of [...this.byId.values(), ...this.retiring]) this.disposeUpstream(r.upstream);
        this.byId.clear();
        this.retiring.clear();
        this.active = [];
    }

    private isIdle(): boolean {
        return this.inFlightTotal === 0 && this.queue.length === 0;
    }

    private notifyIdle(): void {
        if (this.idleWaiters.length === 0 || !this.isIdle()) return;
        for (const w of this.idleWaiters.splice(0)) w();
    }

    private take(r: ReplicaState<U>): void {
        if (r.inFlight === 0) r.busySince = this.now();
        r.inFlight++;
        this.inFlightTotal++;
    }

    /**
     * Least busy replica with a free slot. Ties go round robin from a moving cursor, so equal
     * replicas share the load instead of one taking it all (kserve#1520, knative#11113).
     */
    private pick(exclude?: ReplicaState<U>): ReplicaState<U> | undefined {
        const list = this.active;
        const n = list.length;
        if (n === 0) return undefined;
        const max = this.concurrency;
        let best: ReplicaState<U> | undefined;
        let bestIndex = 0;
        let now = 0;
        const start = this.cursor % n;
        for (let i = 0; i < n; i++) {
            const idx = start + i < n ? start + i : start + i - n;
            const r = list[idx];
            if (r === exclude || r.inFlight >= max) continue;
            if (r.ejectedUntil !== 0) {
                if (now === 0) now = this.now();
                if (r.ejectedUntil > now) continue;
                r.ejectedUntil = 0;
            }
            if (!best || r.inFlight < best.inFlight) {
                best = r;
                bestIndex = idx;
                if (r.inFlight === 0) break;
            }
        }
        if (best) this.cursor = bestIndex + 1;
        return best;
    }

    private dispatch(): void {
        while (this.queue.length > 0) {
            const head = this.queue.peek() as Waiter<U>;
            if (head.exclude !== undefined) {
                this.dispatchExcluding();
                return;
            }
            const r = this.pick();
            if (!r) return;
            this.queue.shift();
            this.grant(head, r);
        }
    }

    /** Slow path when retries that avoid a replica wait: serve any waiter that can go somewhere. */
    private dispatchExcluding(): void {
        let progress = true;
        while (progress && this.queue.length > 0) {
            progress = false;
            for (const w of this.queue.values()) {
                const r = this.pick(w.exclude);
                if (!r) {
                    if (w.exclude === undefined) return;
                    continue;
                }
                if (w.node) this.queue.remove(w.node);
                this.grant(w, r);
                progress = true;
                break;
            }
        }
    }

    private grant(waiter: Waiter<U>, r: ReplicaState<U>): void {
        if (waiter.timer) clearTimeout(waiter.timer);
        waiter.timer = undefined;
        this.take(r);
        waiter.grant(r);
    }

    private retire(state: ReplicaState<U>): void {
        this.byId.delete(state.id);
        state.removed = true;
        if (state.inFlight > 0) {
            this.retiring.add(state);
        } else {
            const waiters = this.drainWaiters.get(state);
            this.drainWaiters.delete(state);
            for (const w of waiters ?? []) w();
            this.disposeUpstream(state.upstream);
        }
    }

    private rebuildActive(): void {
        this.active = [...this.byId.values()].filter((r) => !r.draining && !r.removed);
    }

    private waitIdle(state: ReplicaState<U>, timeoutMs: number): Promise<void> {
        if (state.inFlight === 0) return Promise.resolve();
        return new Promise((resolve) => {
            const done = (): void => {
                clearTimeout(timer);
                resolve();
            };
            const timer = setTimeout(() => {
                const list = this.drainWaiters.get(state);
                if (list) {
                    const i = list.indexOf(done);
                    if (i >= 0) list.splice(i, 1);
                    if (list.length === 0) this.drainWaiters.delete(state);
                }
                resolve();
            }, timeoutMs);
            const list = this.drainWaiters.get(state);
            if (list) list.push(done);
            else this.drainWaiters.set(state, [done]);
        });
    }
}
