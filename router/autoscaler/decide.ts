/**
 * The autoscaler's decision (R31–R34, docs/design.md §5), pure like Knative's
 * `pkg/autoscaler/scaling`: no clock, no I/O. The loop (loop.ts) feeds it the load the routing
 * table sees, the replica count the backend runs, the settings, the time and the state returned by
 * the previous call.
 *
 * Rules:
 * - utilization = (busy replicas + queued requests) / ready replicas (R32 + the v2 formula with
 *   the router queue). With no ready replica it is counted against one replica so it stays a
 *   finite number for logs and metrics.
 * - The replicas the load needs at the target: `wanted = ceil((busy + queued) / (target / 100))`,
 *   at least 1 while anything is queued or in flight.
 * - More replicas needed than the backend runs (or starts) → scale up at once (R33 ≈ 1 s).
 * - Fewer needed → scale down only after that has been true on every tick for `scaleDownDelayMs`
 *   (default 60 s, R33 ≈ 1 min). The target is the highest value `wanted` took during that window
 *   (the Kubernetes HPA "stabilization window"): one step, never below the window's peak, so a load
 *   that oscillates inside the window does not cause a scale-down followed by a scale-up.
 * - Clamped to [min, max]; the bounds themselves act at once (a settings change is intent).
 * - Never below the number of busy replicas (never remove a busy replica by choice).
 * - Autoscale disabled → hold `numReplicas`.
 */
import type { WebserviceSettings } from "../../components/settings";
import type { ServiceLoad } from "../types";

/** R33: scale-down is conservative, about one minute. */
export const DEFAULT_SCALE_DOWN_DELAY_MS = 60_000;

/** The settings the decision reads. */
export type AutoscaleSettings = Pick<
    WebserviceSettings,
    | "autoscaleEnabled"
    | "autoscaleMinReplicas"
    | "autoscaleMaxReplicas"
    | "autoscaleTargetUtilization"
    | "numReplicas"
>;

/** Carried from one decision to the next (start with `{}`). */
export interface AutoscalerState {
    /** Since when (ms) fewer replicas than the current count have been enough, without a break. */
    readonly belowSinceMs?: number;
    /** Highest desired count (clamped) seen since `belowSinceMs`. */
    readonly peakDesiredWhileBelow?: number;
    /** Time (ms) of the last decision to scale up. */
    readonly lastScaleUpMs?: number;
    /** Time (ms) of the last decision to scale down. */
    readonly lastScaleDownMs?: number;
}

export interface DecideInput {
    /** Replicas the backend runs or is starting (`Backend.currentReplicas`). */
    readonly currentReplicas: number;
    readonly load: ServiceLoad;
    readonly settings: AutoscaleSettings;
    /** Current time in ms (any monotonic origin). */
    readonly nowMs: number;
    /** State returned by the previous decision. @default {} */
    readonly state?: AutoscalerState;
    /** How long fewer replicas must have been enough before scaling down. @default 60000 */
    readonly scaleDownDelayMs?: number;
}

/** Why the decision came out as it did (stable strings: logs, metrics, CLI). */
export type DecisionReason =
    /** Autoscale is off: hold `numReplicas`. */
    | "fixed-replicas"
    /** Fewer replicas than `autoscaleMinReplicas`. */
    | "below-min"
    /** More replicas than `autoscaleMaxReplicas` (e.g. max was lowered). */
    | "above-max"
    /** Utilization above the target: more replicas, at once. */
    | "above-target"
    /** The current count is what the load needs. */
    | "within-target"
    /** Fewer replicas would do, but not yet for the whole scale-down window. */
    | "below-target-waiting"
    /** Fewer replicas have been enough for the whole window: scale down. */
    | "below-target";

export interface Decision {
    /** Replica count to converge to. */
    readonly desired: number;
    readonly direction: "up" | "down" | "none";
    readonly reason: DecisionReason;
    /** (busy + queued) / ready, a fraction (0.7 = 70%). */
    readonly utilization: number;
    /** Replicas the load needs at the target utilization, before clamping. */
    readonly wanted: number;
    /** Pass to the next call. */
    readonly state: AutoscalerState;
}

function count(n: number): number {
    return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/**
 * (busy replicas + queued requests) / ready replicas, counted against one replica when none is
 * ready so it stays finite (module comment). Also exported at scrape time by the router metrics.
 */
export function utilizationOf(load: ServiceLoad): number {
    return (count(load.busyReplicas) + count(load.queued)) / Math.max(count(load.readyReplicas), 1);
}

/** Decides the replica count of one service. Pure and total: any input gives a decision. */
export function decide(input: DecideInput): Decision {
    const now = input.nowMs;
    const prev = input.state ?? {};
    const delay = Math.max(0, input.scaleDownDelayMs ?? DEFAULT_SCALE_DOWN_DELAY_MS);
    const s = input.settings;
    const current = count(input.currentReplicas);
    const busy = count(input.load.busyReplicas);
    const queued = count(input.load.queued);
    const inFlight = count(input.load.inFlight);

    const demand = busy + queued;
    const utilization = utilizationOf(input.load);
    // Never remove a busy replica by choice; never let busy replicas push above the current count.
    const busyFloor = Math.min(busy, current);

    const result = (
        desired: number,
        reason: DecisionReason,
        wanted: number,
        state: AutoscalerState,
    ): Decision => {
        const direction = desired > current ? "up" : desired < current ? "down" : "none";
        const next: AutoscalerState =
            direction === "up"
                ? { ...state, lastScaleUpMs: now }
                : direction === "down"
                  ? { ...state, lastScaleDownMs: now }
                  : state;
        return { desired, direction, reason, utilization, wanted, state: next };
    };
    // Any scale event or a tick that needs the current count restarts the scale-down window.
    const settled: AutoscalerState = {
        lastScaleUpMs: prev.lastScaleUpMs,
        lastScaleDownMs: prev.lastScaleDownMs,
    };

    if (!s.autoscaleEnabled) {
        const fixed = s.numReplicas !== undefined ? count(s.numReplicas) : current;
        return result(Math.max(fixed, busyFloor), "fixed-replicas", fixed, settled);
    }

    const min = count(s.autoscaleMinReplicas);
    const max = Math.max(min, count(s.autoscaleMaxReplicas));
    const target = Math.min(100, Math.max(1, s.autoscaleTargetUtilization || 100));
    // Integer arithmetic: 7 busy at 70% is exactly 10 replicas, not 10.000000000000002 → 11.
    let wanted = Math.ceil((demand * 100) / target);
    if (queued > 0 || inFlight > 0) wanted = Math.max(wanted, 1);
    const bounded = Math.min(max, Math.max(min, wanted));
    const desiredNow = Math.max(bounded, busyFloor);

    if (desiredNow > current) {
        const reason = current < min && wanted <= min ? "below-min" : "above-target";
        return result(desiredNow, reason, wanted, settled);
    }
    if (current > max) {
        // A lowered max acts at once, down to the busy count at most (never a busy replica).
        return result(Math.max(max, busyFloor), "above-max", wanted, settled);
    }
    if (desiredNow === current) {
        return result(current, "within-target", wanted, settled);
    }

    // desiredNow < current: fewer replicas would do. Wait until that held for the whole window.
    const belowSinceMs = prev.belowSinceMs ?? now;
    const peak = Math.max(prev.peakDesiredWhileBelow ?? 0, desiredNow);
    if (now - belowSinceMs >= delay) {
        if (peak >= current) return result(current, "within-target", wanted, settled);
        return result(peak, "below-target", wanted, settled);
    }
    return result(current, "below-target-waiting", wanted, {
        ...settled,
        belowSinceMs,
        peakDesiredWhileBelow: peak,
    });
}
