/**
 * One scaler at a time (docs/design.md §5, R21): leader election on a `coordination.k8s.io/v1`
 * Lease in the router namespace, with client-go's rules:
 * - identity = the pod name; the Lease is created when absent, renewed while held;
 * - a Lease held by another pod is taken only once its record has stayed unchanged for a full
 *   lease duration *as observed locally* (monotonic clock, never a comparison of the holder's
 *   `renewTime` with our wall clock, so clock skew between nodes cannot cause two leaders);
 * - every write is an update with the read `resourceVersion`: a 409 means another pod won;
 * - the leader steps down when it could not renew for `renewDeadlineMs` (< the lease duration, so
 *   it stops before anyone else may start);
 * - `stop()` releases the Lease (holder cleared) so the next pod takes it at its next retry.
 *
 * RBAC: `leases` create, get and update on {@link ROUTER_LEASE_NAME} only (ROUTER_RBAC); no watch,
 * so candidates poll every retry period.
 */
import * as k8s from "@kubernetes/client-node";
import { performance } from "node:perf_hooks";
import pino, { type Logger } from "pino";
import { ROUTER_LEASE_NAME } from "../../../components/cluster/router-rbac";
import type { Clock } from "../../autoscaler/clock";

/** client-go's default lease duration (15 s). */
export const DEFAULT_LEASE_DURATION_MS = 15_000;

/** What the election reads from a Lease. */
export interface LeaseRecord {
    /** Current holder; empty or absent when free (released). */
    readonly holder: string | undefined;
    /** The holder's declared duration (`leaseDurationSeconds`), ms. */
    readonly durationMs: number | undefined;
    /** Changes on every write: the "record changed" test. */
    readonly resourceVersion: string;
}

/** When (local monotonic ms) this elector first saw a given version of the record. */
export interface LeaseObservation {
    readonly resourceVersion: string;
    readonly atMs: number;
}

/** What to do after reading the Lease. */
export type LeaseVerdict =
    /** No Lease yet: create it with us as holder. */
    | { readonly action: "create" }
    /** Write us as holder: a renewal (`takeover` false) or taking a free/expired Lease. */
    | { readonly action: "update"; readonly takeover: boolean }
    /** Held by another pod and not expired yet. */
    | { readonly action: "wait"; readonly holder: string; readonly expiresInMs: number };

export interface JudgeLeaseInput {
    /** The Lease as read now; undefined when it does not exist. */
    readonly record: LeaseRecord | undefined;
    /** The previous observation (undefined the first time). */
    readonly observed: LeaseObservation | undefined;
    readonly identity: string;
    /** Local monotonic time of the read. */
    readonly nowMs: number;
    /** Our own lease duration. */
    readonly leaseDurationMs: number;
}

/**
 * Pure election rule (client-go `tryAcquireOrRenew`). Returns the verdict and the observation to
 * keep: it moves to `nowMs` only when the record changed, so "unchanged for a full duration" is
 * measured on this pod's clock alone. The expiry uses the longer of our duration and the holder's
 * declared one, so a pod configured with a shorter lease never takes over early.
 */
export function judgeLease(input: JudgeLeaseInput): {
    verdict: LeaseVerdict;
    observed: LeaseObservation | undefined;
} {
    const { record, identity, nowMs } = input;
    if (!record) return { verdict: { action: "create" }, observed: undefined };
    const observed =
        input.observed?.resourceVersion === record.resourceVersion
            ? input.observed
            : { resourceVersion: record.resourceVersion, atMs: nowMs };
    if (!record.holder) return { verdict: { action: "update", takeover: true }, observed };
    if (record.holder === identity) {
        return { verdict: { action: "update", takeover: false }, observed };
    }
    const durationMs = Math.max(input.leaseDurationMs, record.durationMs ?? 0);
    const expiresInMs = observed.atMs + durationMs - nowMs;
    if (expiresInMs <= 0) return { verdict: { action: "update", takeover: true }, observed };
    return { verdict: { action: "wait", holder: record.holder, expiresInMs }, observed };
}

/** Reads the election fields of a Lease. */
export function leaseRecord(lease: k8s.V1Lease): LeaseRecord {
    const seconds = lease.spec?.leaseDurationSeconds;
    return {
        holder: lease.spec?.holderIdentity || undefined,
        durationMs: typeof seconds === "number" && seconds > 0 ? seconds * 1000 : undefined,
        resourceVersion: lease.metadata?.resourceVersion ?? "",
    };
}

/** The three calls the election makes; {@link kubernetesLeaseStore} is the real one. */
export interface LeaseStore {
    /** The Lease, or undefined when it does not exist. */
    get(): Promise<k8s.V1Lease | undefined>;
    /** Rejects with `.code` 409 when it already exists. */
    create(lease: k8s.V1Lease): Promise<k8s.V1Lease>;
    /** Update guarded by `metadata.resourceVersion`; rejects with `.code` 409 when it changed. */
    replace(lease: k8s.V1Lease): Promise<k8s.V1Lease>;
}

export interface KubernetesLeaseStoreOptions {
    readonly kubeConfig: k8s.KubeConfig;
    readonly namespace: string;
    /** @default ROUTER_LEASE_NAME */
    readonly name?: string;
    /** Each API call is aborted after this. @default 5000 */
    readonly timeoutMs?: number;
}

/** The Lease in the API server (coordination.k8s.io/v1). */
export function kubernetesLeaseStore(opts: KubernetesLeaseStoreOptions): LeaseStore & {
    readonly namespace: string;
    readonly name: string;
} {
    const api = opts.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    const namespace = opts.namespace;
    const name = opts.name ?? ROUTER_LEASE_NAME;
    const timeoutMs = opts.timeoutMs ?? 5000;
    // A hung request must not hold the elector past its renew deadline.
    const withTimeout = (): k8s.ConfigurationOptions => ({
        middleware: [
            {
                pre: (ctx) => {
                    ctx.setSignal(AbortSignal.timeout(timeoutMs));
                    return new k8s.Observable(Promise.resolve(ctx));
                },
                post: (res) => new k8s.Observable(Promise.resolve(res)),
            },
        ],
        middlewareMergeStrategy: "append",
    });
    return {
        namespace,
        name,
        async get() {
            try {
                return await api.readNamespacedLease({ name, namespace }, withTimeout());
            } catch (err) {
                if ((err as { code?: number }).code === 404) return undefined;
                throw err;
            }
        },
        create: (lease) => api.createNamespacedLease({ namespace, body: lease }, withTimeout()),
        replace: (lease) =>
            api.replaceNamespacedLease({ name, namespace, body: lease }, withTimeout()),
    };
}

export interface LeaseElectorOptions {
    readonly store: LeaseStore & { readonly namespace?: string; readonly name?: string };
    /** This candidate's identity: the pod name. */
    readonly identity: string;
    /** How long a silent holder keeps the Lease. @default 15000 */
    readonly leaseDurationMs?: number;
    /** The leader steps down when it could not renew for this long. @default 2/3 of the duration */
    readonly renewDeadlineMs?: number;
    /** Renewal period of the leader and polling period of candidates. @default 1/3 of the duration */
    readonly retryPeriodMs?: number;
    /** Called when this pod becomes the leader (a new term). */
    readonly onStartedLeading?: () => void;
    /**
     * Called when the term ends (lost, deadline passed, or `stop()`). `stop()` awaits the returned
     * promise before releasing the Lease, so the next leader never overlaps this one's work.
     */
    readonly onStoppedLeading?: () => void | Promise<void>;
    /** @default silent */
    readonly logger?: Logger;
    /** Monotonic time and timers. @default performance.now() and Node timers */
    readonly clock?: Clock;
}

/** Node timers on a monotonic time base (wall-clock jumps do not move lease expiry). */
const monotonicClock: Clock = {
    now: () => performance.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Candidates spread their polls a little so they do not hit the API in lockstep. */
const JITTER = 0.1;

/** Runs the election loop; see the module comment. */
export class LeaseElector {
    readonly identity: string;
    readonly leaseDurationMs: number;
    readonly renewDeadlineMs: number;
    readonly retryPeriodMs: number;
    private readonly store: LeaseStore;
    private readonly opts: LeaseElectorOptions;
    private readonly logger: Logger;
    private readonly clock: Clock;
    private observed: LeaseObservation | undefined;
    /** Our last successful write (the release is a guarded update of it). */
    private held: k8s.V1Lease | undefined;
    private leading = false;
    /** Local time at which the last successful renewal was *sent*. */
    private renewedAtMs = 0;
    private deadlineTimer: unknown;
    private sleepTimer: unknown;
    private wake: (() => void) | undefined;
    private waitHintMs: number | undefined;
    private running: Promise<void> | undefined;
    private stepping: Promise<void> = Promise.resolve();
    private stopped = false;
    private lastError: string | undefined;

    constructor(opts: LeaseElectorOptions) {
        this.opts = opts;
        this.store = opts.store;
        this.identity = opts.identity;
        this.leaseDurationMs = opts.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
        this.renewDeadlineMs = opts.renewDeadlineMs ?? Math.floor((this.leaseDurationMs * 2) / 3);
        this.retryPeriodMs = opts.retryPeriodMs ?? Math.floor(this.leaseDurationMs / 3);
        if (!opts.identity) throw new Error("lease elector: identity is required");
        // client-go's invariants: renew before the deadline, step down before others may take over.
        if (
            !(this.retryPeriodMs > 0) ||
            !(this.retryPeriodMs < this.renewDeadlineMs) ||
            !(this.renewDeadlineMs < this.leaseDurationMs)
        ) {
            throw new Error(
                `lease elector: need 0 < retryPeriodMs (${this.retryPeriodMs}) < renewDeadlineMs (${this.renewDeadlineMs}) < leaseDurationMs (${this.leaseDurationMs})`,
            );
        }
        this.logger = opts.logger ?? pino({ level: "silent" });
        this.clock = opts.clock ?? monotonicClock;
    }

    /** True while this pod holds the Lease and has renewed it within the deadline. */
    get isLeader(): boolean {
        return this.leading;
    }

    /** Starts competing (first attempt at once). */
    start(): void {
        if (this.running || this.stopped) return;
        this.running = this.loop();
    }

    /**
     * Stops competing. When leading: ends the term (awaiting `onStoppedLeading`), then, unless
     * `release` is false, clears the holder so another pod takes over at its next poll.
     */
    async stop(opts: { release?: boolean } = {}): Promise<void> {
        if (this.stopped) {
            await this.running;
            return;
        }
        this.stopped = true;
        this.wake?.();
        await this.running;
        this.stepDown("stopping");
        await this.stepping;
        if (opts.release !== false) await this.release();
    }

    private async loop(): Promise<void> {
        while (!this.stopped) {
            await this.attempt();
            if (this.stopped) break;
            await this.sleep(this.nextDelayMs());
        }
    }

    private nextDelayMs(): number {
        if (this.leading) return this.retryPeriodMs;
        const jittered = this.retryPeriodMs * (1 + Math.random() * JITTER);
        // Poll right after the expiry we computed rather than up to a retry period later.
        const hint = this.waitHintMs;
        return hint !== undefined && hint + 10 < jittered ? hint + 10 : jittered;
    }

    private sleep(ms: number): Promise<void> {
        return new Promise((resolve) => {
            const done = (): void => {
                this.clock.clearTimeout(this.sleepTimer);
                this.wake = undefined;
                resolve();
            };
            this.wake = done;
            this.sleepTimer = this.clock.setTimeout(done, ms);
        });
    }

    /** One read-judge-write round. */
    private async attempt(): Promise<void> {
        const sentAtMs = this.clock.now();
        this.waitHintMs = undefined;
        let lease: k8s.V1Lease | undefined;
        try {
            lease = await this.store.get();
        } catch (err) {
            this.failed("cannot read the lease", err);
            return;
        }
        const { verdict, observed } = judgeLease({
            record: lease ? leaseRecord(lease) : undefined,
            observed: this.observed,
            identity: this.identity,
            nowMs: this.clock.now(),
            leaseDurationMs: this.leaseDurationMs,
        });
        this.observed = observed;
        if (verdict.action === "wait") {
            // Someone else holds a live Lease: if we thought we led, we did not.
            this.stepDown(`lease held by ${verdict.holder}`);
            this.waitHintMs = verdict.expiresInMs;
            this.lastError = undefined;
            return;
        }
        let written: k8s.V1Lease;
        try {
            written =
                verdict.action === "create" || !lease
                    ? await this.store.create(this.newLease())
                    : await this.store.replace(this.claim(lease, verdict.takeover));
        } catch (err) {
            if ((err as { code?: number }).code === 409) {
                // Another candidate wrote first; the next read shows who.
                this.logger.debug({ identity: this.identity }, "lease: lost a write race");
                return;
            }
            this.failed("cannot write the lease", err);
            return;
        }
        this.lastError = undefined;
        this.held = written;
        this.observed = {
            resourceVersion: written.metadata?.resourceVersion ?? "",
            atMs: this.clock.now(),
        };
        this.renewedAtMs = sentAtMs;
        this.armDeadline();
        if (this.leading || this.stopped) return;
        this.leading = true;
        this.logger.info(
            {
                identity: this.identity,
                lease: this.leaseName(),
                created: verdict.action === "create",
            },
            "lease: became the leader",
        );
        try {
            this.opts.onStartedLeading?.();
        } catch (err) {
            this.logger.error({ err: String(err) }, "lease: onStartedLeading threw");
        }
    }

    private failed(what: string, err: unknown): void {
        const text = String((err as Error)?.message ?? err);
        // Once per distinct error; the deadline timer decides about stepping down.
        if (text !== this.lastError) {
            this.logger.warn({ identity: this.identity, err: text }, `lease: ${what}`);
        }
        this.lastError = text;
    }

    /** Step down when no renewal was sent successfully for renewDeadlineMs. */
    private armDeadline(): void {
        this.clock.clearTimeout(this.deadlineTimer);
        const left = this.renewedAtMs + this.renewDeadlineMs - this.clock.now();
        this.deadlineTimer = this.clock.setTimeout(
            () => this.stepDown("renew deadline passed"),
            Math.max(0, left),
        );
    }

    private stepDown(reason: string): void {
        this.clock.clearTimeout(this.deadlineTimer);
        this.deadlineTimer = undefined;
        if (!this.leading) return;
        this.leading = false;
        this.logger.info({ identity: this.identity, reason }, "lease: stopped leading");
        const previous = this.stepping;
        this.stepping = previous.then(async () => {
            try {
                await this.opts.onStoppedLeading?.();
            } catch (err) {
                this.logger.error({ err: String(err) }, "lease: onStoppedLeading failed");
            }
        });
    }

    /** Clears the holder if we still hold the Lease (guarded by our last write's version). */
    private async release(): Promise<void> {
        const held = this.held;
        if (!held || held.spec?.holderIdentity !== this.identity) return;
        const now = new k8s.V1MicroTime(Date.now());
        try {
            await this.store.replace({
                ...held,
                spec: {
                    ...held.spec,
                    holderIdentity: undefined,
                    leaseDurationSeconds: 1,
                    acquireTime: now,
                    renewTime: now,
                },
            });
            this.held = undefined;
            this.logger.info({ identity: this.identity }, "lease: released");
        } catch (err) {
            // 409: someone else already holds it; anything else: it expires on its own.
            if ((err as { code?: number }).code !== 409)
                this.failed("cannot release the lease", err);
        }
    }

    private leaseName(): string | undefined {
        return this.opts.store.name;
    }

    private durationSeconds(): number {
        return Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    }

    private newLease(): k8s.V1Lease {
        const now = new k8s.V1MicroTime(Date.now());
        const store = this.opts.store;
        return {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: {
                name: store.name ?? ROUTER_LEASE_NAME,
                ...(store.namespace ? { namespace: store.namespace } : {}),
            },
            spec: {
                holderIdentity: this.identity,
                leaseDurationSeconds: this.durationSeconds(),
                acquireTime: now,
                renewTime: now,
                leaseTransitions: 0,
            },
        };
    }

    /** The Lease with us as holder; keeps acquireTime and transitions on a renewal. */
    private claim(lease: k8s.V1Lease, takeover: boolean): k8s.V1Lease {
        const now = new k8s.V1MicroTime(Date.now());
        const spec = lease.spec ?? {};
        const ours = spec.holderIdentity === this.identity;
        return {
            ...lease,
            spec: {
                ...spec,
                holderIdentity: this.identity,
                leaseDurationSeconds: this.durationSeconds(),
                renewTime: now,
                acquireTime: takeover || !ours ? now : spec.acquireTime,
                leaseTransitions: (spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
            },
        };
    }
}
