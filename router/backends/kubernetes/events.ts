/**
 * Kubernetes Events for the router's scaling actions on model Deployments, so that
 * `kubectl describe deployment` and `kubectl get events` show them as they show an HPA's (the
 * router replaces the HPA, R29–R32). Reasons follow the HPA's (`SuccessfulRescale`,
 * `FailedRescale`) so dashboards and alerts written for HPAs keep working.
 *
 * The Role grants `create` on events only (ROUTER_RBAC.serviceNamespaceRules), so every Event is
 * new: no count-patching series as client-go's recorder does. Instead a repeated Warning (same
 * Deployment, reason and message) is written at most once per {@link REPEAT_WARNING_MS}, so a
 * scale that keeps failing every autoscaler tick does not flood etcd.
 *
 * Writing an Event never delays or fails the action it reports: errors are logged once and
 * dropped.
 */
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";

/** `source.component` and `reportingComponent` of the router's Events. */
export const EVENT_COMPONENT = "amlaks-router";
/** A repeated identical Warning is written again only after this long. */
export const REPEAT_WARNING_MS = 5 * 60_000;
/**
 * Longest message written: the events.k8s.io API's limit on a note. core/v1 Events are not held
 * to it, but a bounded message keeps etcd and `kubectl describe` readable.
 */
const MAX_MESSAGE = 1024;

export type EventReason = "SuccessfulRescale" | "FailedRescale" | "DrainedPodKept";

/** The model Deployment an Event is about. */
export interface ScaleTarget {
    readonly namespace: string;
    readonly deployment: string;
    readonly deploymentUid: string;
}

/** What an Event reports on, and what happened. */
export interface ScaleEventInput extends ScaleTarget {
    readonly reason: EventReason;
    readonly message: string;
    /** The router pod writing it. */
    readonly instance: string;
    readonly now: Date;
    /** Makes the name; unique per writer. @default `now` in nanoseconds */
    readonly nanos?: bigint;
}

const TYPES: Record<EventReason, "Normal" | "Warning"> = {
    SuccessfulRescale: "Normal",
    FailedRescale: "Warning",
    DrainedPodKept: "Warning",
};

/** The core/v1 Event body. Pure: the name is `<deployment>.<nanos, hex>` as client-go names them. */
export function scaleEvent(e: ScaleEventInput): k8s.CoreV1Event {
    const nanos = e.nanos ?? BigInt(e.now.getTime()) * 1_000_000n;
    const message =
        e.message.length > MAX_MESSAGE ? `${e.message.slice(0, MAX_MESSAGE - 3)}...` : e.message;
    return {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: `${e.deployment}.${nanos.toString(16)}`, namespace: e.namespace },
        involvedObject: {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: e.deployment,
            namespace: e.namespace,
            uid: e.deploymentUid,
        },
        reason: e.reason,
        message,
        type: TYPES[e.reason],
        count: 1,
        firstTimestamp: e.now,
        lastTimestamp: e.now,
        source: { component: EVENT_COMPONENT },
        reportingComponent: EVENT_COMPONENT,
        reportingInstance: e.instance,
    };
}

/** The message of a scale: `New size: 3; was 1` (as the HPA's `New size: 3; reason: …`). */
export function rescaleMessage(from: number, to: number, victims: readonly string[]): string {
    const drained = victims.length > 0 ? `; drained first: ${victims.join(", ")}` : "";
    return `New size: ${to}; was ${from}; reason: router autoscaler${drained}`;
}

/**
 * A short text for an API error: `403 <the Status message>` for the client's ApiException (whose
 * own message carries the whole body and the response headers), else the error's message.
 */
export function apiErrorText(err: unknown): string {
    const e = err as { code?: unknown; body?: unknown } | null;
    let body = e?.body;
    if (typeof body === "string") {
        try {
            body = JSON.parse(body);
        } catch {
            // not a Status object: fall through
        }
    }
    const status = (body as { message?: unknown } | null | undefined)?.message;
    if (typeof e?.code === "number") {
        return typeof status === "string" ? `${e.code} ${status}` : `HTTP ${e.code}`;
    }
    return err instanceof Error ? err.message : String(err);
}

/**
 * Decides whether a Warning is written now: false when the same key was written less than
 * `repeatMs` ago. Pure apart from the map it keeps; Normal events are never held back.
 */
export class WarningThrottle {
    private readonly last = new Map<string, number>();
    constructor(private readonly repeatMs = REPEAT_WARNING_MS) {}

    admit(key: string, nowMs: number): boolean {
        const at = this.last.get(key);
        if (at !== undefined && nowMs - at < this.repeatMs) return false;
        this.last.set(key, nowMs);
        if (this.last.size > 1000) {
            for (const [k, t] of this.last) if (nowMs - t >= this.repeatMs) this.last.delete(k);
        }
        return true;
    }
}

/** Writes Events, fire-and-forget; see the module comment. */
export class EventWriter {
    private readonly throttle: WarningThrottle;
    private readonly pending = new Set<Promise<void>>();
    private failureLogged = false;
    /** Last name stamp: two Events in one millisecond must not collide (409). */
    private lastNanos = 0n;

    constructor(
        private readonly core: k8s.CoreV1Api,
        private readonly instance: string,
        private readonly logger: Logger,
        repeatWarningMs?: number,
        private readonly clock: () => Date = () => new Date(),
    ) {
        this.throttle = new WarningThrottle(repeatWarningMs);
    }

    write(target: ScaleTarget, reason: EventReason, message: string): void {
        const now = this.clock();
        const key = `${target.namespace}/${target.deployment}/${reason}/${message}`;
        if (TYPES[reason] === "Warning" && !this.throttle.admit(key, now.getTime())) return;
        let nanos = BigInt(now.getTime()) * 1_000_000n;
        if (nanos <= this.lastNanos) nanos = this.lastNanos + 1n;
        this.lastNanos = nanos;
        const body = scaleEvent({
            ...target,
            reason,
            message,
            instance: this.instance,
            now,
            nanos,
        });
        const p: Promise<void> = this.core
            .createNamespacedEvent({ namespace: target.namespace, body })
            .then(
                () => undefined,
                (err: unknown) => {
                    // Logged once per writer: a missing permission would otherwise log every scale.
                    if (this.failureLogged) return;
                    this.failureLogged = true;
                    this.logger.warn(
                        { namespace: target.namespace, err: (err as Error).message },
                        "could not write a Kubernetes Event (further failures are not logged)",
                    );
                },
            )
            .finally(() => this.pending.delete(p));
        this.pending.add(p);
    }

    /** Resolves when every Event write started so far has finished. */
    async settled(): Promise<void> {
        await Promise.all([...this.pending]);
    }
}
