/**
 * The autoscaler loop (R31–R34, docs/design.md §5): every `autoscaleRefreshSeconds` per service it
 * reads the load from the routing table and the replica count from the backend, calls the pure
 * `decide()` and actuates through the backend. Scale-down drains the victims in the router first
 * so no request is lost (docs/design.md §5 "No request is lost"). Scales replicas only, never nodes
 * (R30).
 */
import { timerDelay } from "../timers";
import pino, { type Logger } from "pino";
import { Counter, Gauge, Registry } from "prom-client";
import type {
    Backend,
    BackendListener,
    RoutingControl,
    ServiceDefinition,
    ServiceLoad,
} from "../types";
import { type Clock, systemClock } from "./clock";
import { type AutoscalerState, type Decision, DEFAULT_SCALE_DOWN_DELAY_MS, decide } from "./decide";

/** Extra time a drain may take beyond the service's scoring timeout. */
const DRAIN_MARGIN_MS = 1_000;

export interface AutoscalerDecisionEvent {
    readonly service: string;
    /** Clock time of the tick (ms). */
    readonly atMs: number;
    /** Replicas the backend ran or started before the decision. */
    readonly current: number;
    readonly load: ServiceLoad;
    readonly decision: Decision;
}

export interface AutoscalerLoopOptions {
    readonly routing: RoutingControl;
    readonly backend: Pick<Backend, "currentReplicas" | "scaleTo">;
    /** Metrics are registered here (e.g. the router's registry). @default a private Registry */
    readonly registry?: Registry;
    /** @default a silent logger */
    readonly logger?: Logger;
    /** @default the wall clock */
    readonly clock?: Clock;
    /** How long fewer replicas must have been enough before scaling down (R33). @default 60000 */
    readonly scaleDownDelayMs?: number;
    /**
     * Longest wait for a victim's in-flight requests before it is stopped anyway.
     * @default the service's scoringTimeoutMs + 1000 (no request can legitimately take longer)
     */
    readonly drainTimeoutMs?: number;
    /** Called after every decision (e.g. CLI progress). Exceptions are logged and ignored. */
    readonly onDecision?: (event: AutoscalerDecisionEvent) => void;
}

interface Entry {
    definition: ServiceDefinition;
    state: AutoscalerState;
    timer?: unknown;
    running?: Promise<Decision | undefined>;
    lastReason?: string;
    lastError?: string;
}

interface Metrics {
    desired: Gauge<"service">;
    current: Gauge<"service">;
    utilization: Gauge<"service">;
    events: Counter<"service" | "direction">;
    decisions: Counter<"service" | "direction">;
    errors: Counter<"service">;
}

function gauge(registry: Registry, name: string, help: string): Gauge<"service"> {
    const existing = registry.getSingleMetric(name);
    if (existing) return existing as Gauge<"service">;
    return new Gauge({ name, help, labelNames: ["service"], registers: [registry] });
}

function counter<L extends string>(
    registry: Registry,
    name: string,
    help: string,
    labelNames: L[],
): Counter<L> {
    const existing = registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter({ name, help, labelNames, registers: [registry] });
}

/** Runs one autoscaler per service; see the module comment. */
export class AutoscalerLoop {
    readonly registry: Registry;
    private readonly routing: RoutingControl;
    private readonly backend: Pick<Backend, "currentReplicas" | "scaleTo">;
    private readonly logger: Logger;
    private readonly clock: Clock;
    private readonly scaleDownDelayMs: number;
    private readonly drainTimeoutMs?: number;
    private readonly onDecision?: (event: AutoscalerDecisionEvent) => void;
    private readonly entries = new Map<string, Entry>();
    /** Removed services whose last actuation is still running (awaited by `stop()`). */
    private readonly orphaned = new Set<Entry>();
    private readonly metrics: Metrics;
    private started = false;
    private stopped = false;

    constructor(opts: AutoscalerLoopOptions) {
        this.routing = opts.routing;
        this.backend = opts.backend;
        this.logger = opts.logger ?? pino({ level: "silent" });
        this.clock = opts.clock ?? systemClock;
        this.scaleDownDelayMs = opts.scaleDownDelayMs ?? DEFAULT_SCALE_DOWN_DELAY_MS;
        this.drainTimeoutMs = opts.drainTimeoutMs;
        this.onDecision = opts.onDecision;
        const registry = opts.registry ?? new Registry();
        this.registry = registry;
        this.metrics = {
            desired: gauge(
                registry,
                "amlaks_autoscaler_desired_replicas",
                "Replica count the autoscaler decided on, per service.",
            ),
            current: gauge(
                registry,
                "amlaks_autoscaler_current_replicas",
                "Replicas the backend ran or started when the autoscaler decided.",
            ),
            utilization: gauge(
                registry,
                "amlaks_autoscaler_utilization_ratio",
                "(busy replicas + queued requests) / ready replicas (R32); the target is a percentage of 1.",
            ),
            events: counter(
                registry,
                "amlaks_autoscaler_scale_events_total",
                "Scale actions carried out, by direction (up/down).",
                ["service", "direction"],
            ),
            decisions: counter(
                registry,
                "amlaks_autoscaler_decisions_total",
                "Decisions by direction (up/down/none), one per tick; scale_events_total counts those carried out.",
                ["service", "direction"],
            ),
            errors: counter(
                registry,
                "amlaks_autoscaler_errors_total",
                "Ticks that failed to read the load or to actuate a decision.",
                ["service"],
            ),
        };
    }

    /** Starts ticking every known service (first tick at once). */
    start(): void {
        if (this.started || this.stopped) return;
        this.started = true;
        for (const entry of this.entries.values()) this.schedule(entry, 0);
    }

    /** Adds a service or replaces its definition (settings take effect on the next tick). */
    setService(definition: ServiceDefinition): void {
        if (this.stopped) return;
        const existing = this.entries.get(definition.name);
        if (existing) {
            existing.definition = definition;
            return;
        }
        const entry: Entry = { definition, state: {} };
        this.entries.set(definition.name, entry);
        if (this.started) this.schedule(entry, 0);
    }

    /** Forgets a service; an actuation in progress finishes, `stop()` still waits for it. */
    removeService(name: string): void {
        const entry = this.entries.get(name);
        if (!entry) return;
        if (entry.timer !== undefined) this.clock.clearTimeout(entry.timer);
        entry.timer = undefined;
        this.entries.delete(name);
        if (entry.running) {
            this.orphaned.add(entry);
            const forget = (): void => void this.orphaned.delete(entry);
            entry.running.then(forget, forget);
        }
        for (const g of [this.metrics.desired, this.metrics.current, this.metrics.utilization]) {
            g.remove({ service: name });
        }
        for (const direction of ["up", "down", "none"]) {
            this.metrics.decisions.remove({ service: name, direction });
        }
    }

    /** Names of the services the loop scales. */
    services(): string[] {
        return [...this.entries.keys()];
    }

    /**
     * A listener that forwards backend events to `next` (the router) and keeps the loop's service
     * list in step: `backend.start(loop.tee(router))`.
     */
    tee(next: BackendListener): BackendListener {
        return {
            onService: (definition) => {
                next.onService(definition);
                this.setService(definition);
            },
            onServiceRemoved: (name) => {
                next.onServiceRemoved(name);
                this.removeService(name);
            },
            onReplicas: (service, replicas) => next.onReplicas(service, replicas),
        };
    }

    /**
     * Runs one tick for `service` now. Resolves with the decision, or `undefined` when the service
     * is unknown, the loop is stopped, the load could not be read, or the previous actuation of
     * this service is still running (actuations never overlap).
     */
    tickNow(service: string): Promise<Decision | undefined> {
        const entry = this.entries.get(service);
        if (!entry || this.stopped) return Promise.resolve(undefined);
        return this.run(entry);
    }

    /** Stops ticking and waits for actuations in progress. */
    async stop(): Promise<void> {
        this.stopped = true;
        const running: Promise<unknown>[] = [];
        for (const entry of [...this.entries.values(), ...this.orphaned]) {
            if (entry.timer !== undefined) this.clock.clearTimeout(entry.timer);
            entry.timer = undefined;
            if (entry.running) running.push(entry.running);
        }
        await Promise.allSettled(running);
    }

    private periodMs(entry: Entry): number {
        const seconds = entry.definition.settings.autoscaleRefreshSeconds;
        return Number.isFinite(seconds) && seconds > 0 ? timerDelay(seconds * 1000) : 1000;
    }

    /** Fixed-rate ticks: a slow actuation makes ticks skip, never pile up. */
    private schedule(entry: Entry, delayMs: number): void {
        entry.timer = this.clock.setTimeout(() => {
            entry.timer = undefined;
            if (this.stopped || this.entries.get(entry.definition.name) !== entry) return;
            this.schedule(entry, this.periodMs(entry));
            void this.run(entry);
        }, delayMs);
    }

    private run(entry: Entry): Promise<Decision | undefined> {
        if (entry.running) {
            this.logger.debug(
                { service: entry.definition.name },
                "autoscaler: previous actuation still running, tick skipped",
            );
            return Promise.resolve(undefined);
        }
        const p = this.tick(entry).finally(() => {
            entry.running = undefined;
        });
        entry.running = p;
        return p;
    }

    private async tick(entry: Entry): Promise<Decision | undefined> {
        const definition = entry.definition;
        const service = definition.name;
        const atMs = this.clock.now();
        let load: ServiceLoad;
        let current: number;
        try {
            load = this.routing.load(service);
            current = this.backend.currentReplicas(service);
        } catch (err) {
            this.metrics.errors.inc({ service });
            // Once per distinct error, not every tick.
            const text = String(err);
            if (text !== entry.lastError) {
                this.logger.warn({ service, err }, "autoscaler: cannot read load or replica count");
            }
            entry.lastError = text;
            return undefined;
        }
        entry.lastError = undefined;
        const decision = decide({
            currentReplicas: current,
            load,
            settings: definition.settings,
            nowMs: atMs,
            state: entry.state,
            scaleDownDelayMs: this.scaleDownDelayMs,
        });
        entry.state = decision.state;
        this.metrics.desired.set({ service }, decision.desired);
        this.metrics.current.set({ service }, current);
        this.metrics.utilization.set({ service }, decision.utilization);
        this.metrics.decisions.inc({ service, direction: decision.direction });
        if (this.onDecision) {
            try {
                this.onDecision({ service, atMs, current, load, decision });
            } catch (err) {
                this.logger.warn({ service, err }, "autoscaler: onDecision hook threw");
            }
        }
        const line = {
            service,
            from: current,
            to: decision.desired,
            utilization: Math.round(decision.utilization * 1000) / 1000,
            reason: decision.reason,
        };
        if (decision.direction === "none") {
            if (decision.reason !== entry.lastReason) this.logger.debug(line, "autoscaler: hold");
            entry.lastReason = decision.reason;
            return decision;
        }
        entry.lastReason = decision.reason;
        this.logger.info(line, `autoscaler: scale ${decision.direction}`);
        try {
            if (decision.direction === "up") {
                await this.backend.scaleTo(service, decision.desired, []);
            } else {
                const victims = await this.drainVictims(
                    definition,
                    load,
                    current,
                    decision.desired,
                );
                await this.backend.scaleTo(service, decision.desired, victims);
            }
            this.metrics.events.inc({ service, direction: decision.direction });
        } catch (err) {
            this.metrics.errors.inc({ service });
            this.logger.error({ ...line, err }, "autoscaler: actuation failed");
        }
        return decision;
    }

    /**
     * Chooses and drains the replicas to remove. Replicas the backend runs but the router does not
     * route to (still starting) go first: removing them loses nothing (Kubernetes ReplicaSets also
     * delete not-ready pods first). The rest come from the router (idle first) and are drained
     * before the backend stops them. `decide()` never goes below the busy count, so these are idle.
     */
    private async drainVictims(
        definition: ServiceDefinition,
        load: ServiceLoad,
        current: number,
        desired: number,
    ): Promise<string[]> {
        const service = definition.name;
        const toRemove = current - desired;
        const notServing = Math.max(0, current - load.readyReplicas);
        const fromRouter = Math.max(0, toRemove - notServing);
        if (fromRouter === 0) return [];
        const victims = this.routing.pickVictims(service, fromRouter).slice(0, fromRouter);
        const timeoutMs =
            this.drainTimeoutMs ?? definition.settings.scoringTimeoutMs + DRAIN_MARGIN_MS;
        await Promise.all(
            victims.map((id) =>
                this.routing.drain(service, id, timeoutMs).catch((err: unknown) => {
                    // Stopping it anyway is right: the router no longer routes to it.
                    this.logger.warn({ service, replica: id, err }, "autoscaler: drain failed");
                }),
            ),
        );
        return victims;
    }
}
