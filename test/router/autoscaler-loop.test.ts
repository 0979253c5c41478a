import { describe, test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { Registry } from "prom-client";
import { AutoscalerLoop, type AutoscalerDecisionEvent } from "../../router/autoscaler/loop";
import { ManualClock } from "../../router/autoscaler/clock";
import {
    validateWebserviceSettings,
    type WebserviceSettingsInput,
} from "../../components/settings";
import type {
    BackendListener,
    Replica,
    RoutingControl,
    ServiceDefinition,
    ServiceLoad,
} from "../../router/types";

function definition(name: string, extra: Partial<WebserviceSettingsInput> = {}): ServiceDefinition {
    return {
        name,
        settings: validateWebserviceSettings({ name, autoscaleEnabled: true, ...extra }),
        auth: { mode: "none" },
    };
}

/** Routing table stand-in: loads set by the test, victims from a list, drains controllable. */
class FakeRouting implements RoutingControl {
    readonly loads = new Map<string, ServiceLoad>();
    readonly victims = new Map<string, string[]>();
    readonly log: string[] = [];
    /** When set, drains wait until `releaseDrains()`. */
    holdDrains = false;
    private held: (() => void)[] = [];

    setLoad(service: string, busy: number, ready: number, queued = 0): void {
        this.loads.set(service, {
            busyReplicas: busy,
            readyReplicas: ready,
            queued,
            inFlight: busy,
        });
    }
    load(service: string): ServiceLoad {
        const l = this.loads.get(service);
        if (!l) throw new Error(`no load for ${service}`);
        return l;
    }
    pickVictims(service: string, count: number): string[] {
        this.log.push(`pick ${service} ${count}`);
        return (this.victims.get(service) ?? []).slice(0, count);
    }
    drain(service: string, replicaId: string, timeoutMs: number): Promise<void> {
        this.log.push(`drain ${service} ${replicaId} ${timeoutMs}`);
        if (!this.holdDrains) return Promise.resolve();
        return new Promise((resolve) =>
            this.held.push(() => {
                this.log.push(`drained ${service} ${replicaId}`);
                resolve();
            }),
        );
    }
    releaseDrains(): void {
        const h = this.held;
        this.held = [];
        for (const r of h) r();
    }
}

class FakeBackend {
    readonly current = new Map<string, number>();
    readonly calls: { atMs: number; service: string; count: number; victims: string[] }[] = [];
    fail = false;
    constructor(
        private readonly clock: ManualClock,
        private readonly log: string[],
    ) {}
    currentReplicas(service: string): number {
        return this.current.get(service) ?? 0;
    }
    async scaleTo(service: string, count: number, victims: readonly string[]): Promise<void> {
        this.log.push(`scaleTo ${service} ${count} [${victims.join(",")}]`);
        if (this.fail) throw new Error("backend unavailable");
        this.calls.push({ atMs: this.clock.now(), service, count, victims: [...victims] });
        this.current.set(service, count);
    }
}

function setup(opts: { scaleDownDelayMs?: number; registry?: Registry } = {}) {
    const clock = new ManualClock(0);
    const routing = new FakeRouting();
    const backend = new FakeBackend(clock, routing.log);
    const decisions: AutoscalerDecisionEvent[] = [];
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
        { level: "debug" },
        { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
    );
    const loop = new AutoscalerLoop({
        routing,
        backend,
        clock,
        logger,
        registry: opts.registry,
        scaleDownDelayMs: opts.scaleDownDelayMs,
        onDecision: (e) => decisions.push(e),
    });
    return { clock, routing, backend, loop, decisions, lines };
}

describe("AutoscalerLoop", () => {
    test("a load step crossing the target is acted on within one refresh period (R33)", async () => {
        const { clock, routing, backend, loop, decisions } = setup();
        routing.setLoad("svc", 0, 1);
        backend.current.set("svc", 1);
        loop.setService(definition("svc"));
        loop.start();
        await clock.advance(1500);
        assert.equal(backend.calls.length, 0);
        const stepAt = clock.now();
        routing.setLoad("svc", 1, 1, 3); // 1 busy + 3 queued on 1 replica: needs ceil(4 / 0.7) = 6
        await clock.advance(1000);
        assert.equal(backend.calls.length, 1);
        const call = backend.calls[0];
        assert.deepEqual([call.service, call.count, call.victims], ["svc", 6, []]);
        assert.ok(call.atMs - stepAt <= 1000, `scaled ${call.atMs - stepAt} ms after the step`);
        // Ticks at 0, 1000, 2000: the decision that scaled is the first one after the step.
        assert.deepEqual(
            decisions.map((d) => [d.atMs, d.decision.direction]),
            [
                [0, "none"],
                [1000, "none"],
                [2000, "up"],
            ],
        );
        await loop.stop();
    });

    test("the refresh period comes from autoscaleRefreshSeconds, per service", async () => {
        const { clock, routing, backend, loop, decisions } = setup();
        for (const s of ["fast", "slow"]) {
            routing.setLoad(s, 0, 1);
            backend.current.set(s, 1);
        }
        loop.setService(definition("fast"));
        loop.setService(definition("slow", { autoscaleRefreshSeconds: 5 }));
        loop.start();
        await clock.advance(4000);
        routing.setLoad("slow", 1, 1, 2);
        await clock.advance(6000);
        const ticks = (s: string) => decisions.filter((d) => d.service === s).map((d) => d.atMs);
        assert.deepEqual(
            ticks("fast"),
            [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000],
        );
        assert.deepEqual(ticks("slow"), [0, 5000, 10000]);
        assert.deepEqual(
            backend.calls.map((c) => [c.atMs, c.service, c.count]),
            [[5000, "slow", 5]],
        );
        await loop.stop();
    });

    test("scale-down: victims drained before scaleTo, in the router's order", async () => {
        const { clock, routing, backend, loop } = setup({ scaleDownDelayMs: 3000 });
        routing.setLoad("svc", 0, 4);
        routing.victims.set("svc", ["r3", "r1", "r4", "r2"]);
        routing.holdDrains = true;
        backend.current.set("svc", 4);
        loop.setService(definition("svc", { scoringTimeoutMs: 5000 }));
        loop.start();
        await clock.advance(3000); // window: below since 0, acts at 3000
        assert.deepEqual(routing.log, [
            "pick svc 3",
            "drain svc r3 6000",
            "drain svc r1 6000",
            "drain svc r4 6000",
        ]);
        assert.equal(backend.calls.length, 0, "no replica stopped before its drain finished");
        routing.releaseDrains();
        await clock.advance(0);
        assert.deepEqual(routing.log.slice(4), [
            "drained svc r3",
            "drained svc r1",
            "drained svc r4",
            "scaleTo svc 1 [r3,r1,r4]",
        ]);
        await loop.stop();
    });

    test("replicas still starting are removed before any routed replica is drained", async () => {
        const { clock, routing, backend, loop } = setup({ scaleDownDelayMs: 0 });
        routing.setLoad("svc", 0, 2); // backend runs 5, router sees 2 ready: 3 still starting
        routing.victims.set("svc", ["a", "b"]);
        backend.current.set("svc", 5);
        loop.setService(definition("svc", { autoscaleMinReplicas: 1 }));
        loop.start();
        await clock.advance(0);
        // 4 to remove: the 3 starting ones (backend's choice) and 1 routed victim.
        assert.deepEqual(routing.log, ["pick svc 1", "drain svc a 61000", "scaleTo svc 1 [a]"]);
        await loop.stop();
    });

    test("actuations never overlap: ticks during a long drain are skipped", async () => {
        const { clock, routing, backend, loop, decisions } = setup({ scaleDownDelayMs: 0 });
        routing.setLoad("svc", 0, 3);
        routing.victims.set("svc", ["x", "y"]);
        routing.holdDrains = true;
        backend.current.set("svc", 3);
        loop.setService(definition("svc"));
        loop.start();
        await clock.advance(5000);
        assert.equal(routing.log.filter((l) => l.startsWith("pick")).length, 1);
        assert.equal(decisions.length, 1, "no decision while the actuation runs");
        assert.equal(await loop.tickNow("svc"), undefined);
        routing.releaseDrains();
        await clock.advance(0);
        assert.deepEqual(
            backend.calls.map((c) => c.count),
            [1],
        );
        await clock.advance(1000);
        assert.equal(decisions.length, 2, "ticking resumes after the actuation");
        assert.equal(decisions[1].decision.direction, "none");
        await loop.stop();
    });

    test("stop() waits for the actuation in progress, then no tick runs", async () => {
        const { clock, routing, backend, loop, decisions } = setup({ scaleDownDelayMs: 0 });
        routing.setLoad("svc", 0, 2);
        routing.victims.set("svc", ["x"]);
        routing.holdDrains = true;
        backend.current.set("svc", 2);
        loop.setService(definition("svc"));
        loop.start();
        await clock.advance(0);
        let stopped = false;
        const stopping = loop.stop().then(() => (stopped = true));
        await clock.advance(0);
        assert.equal(stopped, false);
        routing.releaseDrains();
        await stopping;
        assert.deepEqual(
            backend.calls.map((c) => c.count),
            [1],
        );
        const n = decisions.length;
        await clock.advance(10_000);
        assert.equal(decisions.length, n);
        assert.equal(clock.pending, 0, "no timer left behind");
    });

    test("services appear and disappear through tee(); events reach the router", async () => {
        const registry = new Registry();
        const { clock, routing, backend, loop, decisions } = setup({ registry });
        const seen: string[] = [];
        const router: BackendListener = {
            onService: (d) => seen.push(`service ${d.name}`),
            onServiceRemoved: (n) => seen.push(`removed ${n}`),
            onReplicas: (s, r: readonly Replica[]) => seen.push(`replicas ${s} ${r.length}`),
        };
        const listener = loop.tee(router);
        loop.start();
        routing.setLoad("svc-a", 0, 1);
        backend.current.set("svc-a", 1);
        listener.onService(definition("svc-a"));
        listener.onReplicas("svc-a", [{ id: "svc-a-1", url: "http://127.0.0.1:1" }]);
        await clock.advance(2000);
        assert.deepEqual(loop.services(), ["svc-a"]);
        assert.equal(decisions.filter((d) => d.service === "svc-a").length, 3);
        assert.match(
            await registry.metrics(),
            /amlaks_autoscaler_desired_replicas\{service="svc-a"\} 1/,
        );
        listener.onServiceRemoved("svc-a");
        await clock.advance(5000);
        assert.equal(decisions.filter((d) => d.service === "svc-a").length, 3);
        assert.deepEqual(loop.services(), []);
        assert.doesNotMatch(await registry.metrics(), /service="svc-a"/);
        assert.deepEqual(seen, ["service svc-a", "replicas svc-a 1", "removed svc-a"]);
        await loop.stop();
    });

    test("a changed definition applies on the next tick (e.g. max lowered)", async () => {
        const { clock, routing, backend, loop } = setup();
        routing.setLoad("svc", 1, 6);
        backend.current.set("svc", 6);
        loop.setService(definition("svc"));
        loop.start();
        await clock.advance(0);
        assert.equal(backend.calls.length, 0);
        routing.victims.set("svc", ["r6", "r5", "r4", "r3"]);
        loop.setService(definition("svc", { autoscaleMaxReplicas: 3 }));
        await clock.advance(1000);
        assert.deepEqual(
            backend.calls.map((c) => [c.count, c.victims]),
            [[3, ["r6", "r5", "r4"]]],
        );
        await loop.stop();
    });

    test("autoscale off: the loop holds numReplicas", async () => {
        const { clock, routing, backend, loop } = setup();
        routing.setLoad("svc", 0, 1);
        backend.current.set("svc", 1);
        loop.setService({
            name: "svc",
            settings: validateWebserviceSettings({ name: "svc", numReplicas: 3 }),
            auth: { mode: "none" },
        });
        loop.start();
        await clock.advance(0);
        assert.deepEqual(
            backend.calls.map((c) => c.count),
            [3],
        );
        await loop.stop();
    });

    test("metrics and log lines describe each scale event", async () => {
        const registry = new Registry();
        const { clock, routing, backend, loop, lines } = setup({
            registry,
            scaleDownDelayMs: 2000,
        });
        routing.setLoad("svc", 1, 1, 1);
        backend.current.set("svc", 1);
        loop.setService(definition("svc"));
        loop.start();
        await clock.advance(0); // 2 / 0.7 → 3
        routing.setLoad("svc", 0, 3);
        routing.victims.set("svc", ["svc-3", "svc-2"]);
        await clock.advance(2000); // below from 1000, down at 3000 → not yet
        await clock.advance(1000);
        const text = await registry.metrics();
        assert.match(
            text,
            /amlaks_autoscaler_scale_events_total\{service="svc",direction="up"\} 1/,
        );
        assert.match(
            text,
            /amlaks_autoscaler_scale_events_total\{service="svc",direction="down"\} 1/,
        );
        assert.match(text, /amlaks_autoscaler_desired_replicas\{service="svc"\} 1/);
        assert.match(text, /amlaks_autoscaler_current_replicas\{service="svc"\} 3/);
        assert.match(text, /amlaks_autoscaler_utilization_ratio\{service="svc"\} 0/);
        // One decision per tick, by direction.
        const decisions = [...text.matchAll(/^amlaks_autoscaler_decisions_total\{(.*)\} (\d+)$/gm)]
            .map((m) => `${m[1]} ${m[2]}`)
            .sort();
        assert.deepEqual(decisions, [
            'service="svc",direction="down" 1',
            'service="svc",direction="none" 2',
            'service="svc",direction="up" 1',
        ]);
        const scaleLines = lines
            .filter((l) => String(l.msg).startsWith("autoscaler: scale"))
            .map((l) => [l.msg, l.service, l.from, l.to, l.utilization, l.reason]);
        assert.deepEqual(scaleLines, [
            ["autoscaler: scale up", "svc", 1, 3, 2, "above-target"],
            ["autoscaler: scale down", "svc", 3, 1, 0, "below-target"],
        ]);
        await loop.stop();
    });

    test("a failing backend or hook is counted and logged; the loop keeps going", async () => {
        const registry = new Registry();
        const clock = new ManualClock(0);
        const routing = new FakeRouting();
        const backend = new FakeBackend(clock, routing.log);
        let hookCalls = 0;
        const loop = new AutoscalerLoop({
            routing,
            backend,
            clock,
            registry,
            onDecision: () => {
                hookCalls++;
                throw new Error("hook bug");
            },
        });
        routing.setLoad("svc", 1, 1, 5);
        backend.current.set("svc", 1);
        backend.fail = true;
        loop.setService(definition("svc"));
        loop.start();
        await clock.advance(0);
        backend.fail = false;
        await clock.advance(1000);
        assert.equal(hookCalls, 2);
        assert.deepEqual(
            backend.calls.map((c) => c.count),
            [9],
        );
        const text = await registry.metrics();
        assert.match(text, /amlaks_autoscaler_errors_total\{service="svc"\} 1/);
        assert.match(
            text,
            /amlaks_autoscaler_scale_events_total\{service="svc",direction="up"\} 1/,
        );
        await loop.stop();
    });

    test("two loops can share one registry (metrics registered once)", () => {
        const registry = new Registry();
        setup({ registry });
        assert.doesNotThrow(() => setup({ registry }));
    });
});
