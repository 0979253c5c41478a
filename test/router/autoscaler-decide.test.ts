import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
    type AutoscaleSettings,
    type AutoscalerState,
    type Decision,
    DEFAULT_SCALE_DOWN_DELAY_MS,
    decide,
} from "../../router/autoscaler/decide";
import {
    validateWebserviceSettings,
    type WebserviceSettingsInput,
} from "../../components/settings";
import type { ServiceLoad } from "../../router/types";

/** Real validated settings, so the defaults under test are the library's (R31, R32: target 70). */
function settings(extra: Partial<WebserviceSettingsInput> = {}): AutoscaleSettings {
    return validateWebserviceSettings({ name: "svc", autoscaleEnabled: true, ...extra });
}

function load(busy: number, ready: number, queued = 0, inFlight = busy): ServiceLoad {
    return { busyReplicas: busy, readyReplicas: ready, queued, inFlight };
}

/** `d` concurrent requests (concurrency 1) on `c` ready replicas: the excess waits in the queue. */
function demand(d: number, c: number): ServiceLoad {
    return load(Math.min(d, c), c, Math.max(0, d - c));
}

interface Row {
    name: string;
    current: number;
    load: ServiceLoad;
    settings?: Partial<WebserviceSettingsInput>;
    expect: Pick<Decision, "desired" | "direction" | "reason">;
}

describe("decide(): one tick (R31–R33)", () => {
    const rows: Row[] = [
        {
            name: "load step above the target scales up at once to ceil((busy+queued)/0.7)",
            current: 1,
            load: load(1, 1, 3),
            expect: { desired: 6, direction: "up", reason: "above-target" },
        },
        {
            name: "utilization below the target with the count the load needs: hold",
            current: 2,
            load: load(1, 2),
            expect: { desired: 2, direction: "none", reason: "within-target" },
        },
        {
            name: "exactly 70% busy needs the current count (no float rounding to one more)",
            current: 10,
            load: load(7, 10),
            expect: { desired: 10, direction: "none", reason: "within-target" },
        },
        {
            name: "one more busy replica than 70% scales up",
            current: 10,
            load: load(8, 10),
            settings: { autoscaleMaxReplicas: 20 },
            expect: { desired: 12, direction: "up", reason: "above-target" },
        },
        {
            name: "R31 example target 30%: one busy replica wants 4",
            current: 1,
            load: load(1, 1),
            settings: { autoscaleTargetUtilization: 30, autoscaleMaxReplicas: 4 },
            expect: { desired: 4, direction: "up", reason: "above-target" },
        },
        {
            name: "target 100%: all replicas busy is within target",
            current: 3,
            load: load(3, 3),
            settings: { autoscaleTargetUtilization: 100 },
            expect: { desired: 3, direction: "none", reason: "within-target" },
        },
        {
            name: "clamped to max",
            current: 2,
            load: load(2, 2, 40),
            settings: { autoscaleMaxReplicas: 5 },
            expect: { desired: 5, direction: "up", reason: "above-target" },
        },
        {
            name: "no replica and no load: start the minimum",
            current: 0,
            load: load(0, 0),
            settings: { autoscaleMinReplicas: 2 },
            expect: { desired: 2, direction: "up", reason: "below-min" },
        },
        {
            name: "raised min acts at once",
            current: 1,
            load: load(0, 1),
            settings: { autoscaleMinReplicas: 3 },
            expect: { desired: 3, direction: "up", reason: "below-min" },
        },
        {
            name: "idle at min: hold",
            current: 2,
            load: load(0, 2),
            settings: { autoscaleMinReplicas: 2 },
            expect: { desired: 2, direction: "none", reason: "within-target" },
        },
        {
            name: "lowered max acts at once (no scale-down window)",
            current: 8,
            load: load(1, 8),
            settings: { autoscaleMaxReplicas: 4 },
            expect: { desired: 4, direction: "down", reason: "above-max" },
        },
        {
            name: "lowered max never goes below the busy replicas",
            current: 8,
            load: load(6, 8),
            settings: { autoscaleMaxReplicas: 4 },
            expect: { desired: 6, direction: "down", reason: "above-max" },
        },
        {
            name: "lowered max with every replica busy holds",
            current: 8,
            load: load(8, 8),
            settings: { autoscaleMaxReplicas: 4 },
            expect: { desired: 8, direction: "none", reason: "above-max" },
        },
        {
            name: "zero ready replicas (all starting) with queued requests sizes from the queue",
            current: 1,
            load: load(0, 0, 3, 0),
            expect: { desired: 5, direction: "up", reason: "above-target" },
        },
        {
            name: "zero replicas at all with one queued request scales up",
            current: 0,
            load: load(0, 0, 1, 0),
            expect: { desired: 2, direction: "up", reason: "above-target" },
        },
        {
            name: "replicas still starting already cover the load: no further scale-up",
            current: 6,
            load: load(1, 1, 3),
            expect: { desired: 6, direction: "none", reason: "within-target" },
        },
    ];
    for (const row of rows) {
        test(row.name, () => {
            const d = decide({
                currentReplicas: row.current,
                load: row.load,
                settings: settings(row.settings),
                nowMs: 1_000,
            });
            assert.deepEqual(
                { desired: d.desired, direction: d.direction, reason: d.reason },
                row.expect,
            );
        });
    }

    test("utilization is (busy + queued) / ready, and finite with no ready replica", () => {
        const s = settings();
        assert.equal(
            decide({ currentReplicas: 2, load: load(2, 2, 1), settings: s, nowMs: 0 }).utilization,
            1.5,
        );
        assert.equal(
            decide({ currentReplicas: 4, load: load(1, 4), settings: s, nowMs: 0 }).utilization,
            0.25,
        );
        assert.equal(
            decide({ currentReplicas: 1, load: load(0, 0, 2, 0), settings: s, nowMs: 0 })
                .utilization,
            2,
        );
        assert.equal(
            decide({ currentReplicas: 0, load: load(0, 0), settings: s, nowMs: 0 }).utilization,
            0,
        );
    });

    test("requests in flight with no ready replica keep at least one (scale-to-zero settings)", () => {
        // Validation requires min >= 1; decide() must still hold a replica if given min 0.
        const s: AutoscaleSettings = { ...settings(), autoscaleMinReplicas: 0 };
        const d = decide({ currentReplicas: 0, load: load(0, 0, 0, 2), settings: s, nowMs: 0 });
        assert.equal(d.desired, 1);
        assert.equal(d.direction, "up");
        const idle = decide({
            currentReplicas: 1,
            load: load(0, 1, 0, 0),
            settings: s,
            nowMs: 0,
            scaleDownDelayMs: 0,
        });
        assert.equal(idle.desired, 0);
    });

    test("autoscale off holds numReplicas, in both directions, never below busy", () => {
        const fixed = validateWebserviceSettings({
            name: "svc",
            autoscaleEnabled: false,
            numReplicas: 3,
        });
        const up = decide({ currentReplicas: 1, load: load(1, 1, 9), settings: fixed, nowMs: 0 });
        assert.deepEqual([up.desired, up.direction, up.reason], [3, "up", "fixed-replicas"]);
        const down = decide({ currentReplicas: 5, load: load(0, 5), settings: fixed, nowMs: 0 });
        assert.deepEqual([down.desired, down.direction], [3, "down"]);
        const busy = decide({ currentReplicas: 5, load: load(4, 5), settings: fixed, nowMs: 0 });
        assert.deepEqual([busy.desired, busy.direction], [4, "down"]);
        const hold = decide({
            currentReplicas: 3,
            load: load(3, 3, 20),
            settings: fixed,
            nowMs: 0,
        });
        assert.deepEqual([hold.desired, hold.direction], [3, "none"]);
    });

    test("garbage counts are read as zero, not propagated as NaN", () => {
        const d = decide({
            currentReplicas: Number.NaN,
            load: { busyReplicas: -3, readyReplicas: Number.NaN, queued: Infinity, inFlight: -1 },
            settings: settings(),
            nowMs: 0,
        });
        assert.equal(d.desired, 1);
        assert.ok(Number.isFinite(d.utilization));
    });
});

/** Runs decide() once per tick, applying each decision as the new replica count. */
function simulate(
    ticks: { atMs: number; load: (current: number) => ServiceLoad }[],
    opts: {
        current: number;
        settings?: Partial<WebserviceSettingsInput>;
        scaleDownDelayMs?: number;
    },
): { atMs: number; decision: Decision }[] {
    const s = settings(opts.settings);
    let current = opts.current;
    let state: AutoscalerState = {};
    const out: { atMs: number; decision: Decision }[] = [];
    for (const t of ticks) {
        const decision = decide({
            currentReplicas: current,
            load: t.load(current),
            settings: s,
            nowMs: t.atMs,
            state,
            scaleDownDelayMs: opts.scaleDownDelayMs,
        });
        state = decision.state;
        current = decision.desired;
        out.push({ atMs: t.atMs, decision });
    }
    return out;
}

/** One tick per second from `fromS` to `toS` inclusive. */
function seconds(fromS: number, toS: number, l: (s: number, current: number) => ServiceLoad) {
    const ticks = [];
    for (let s = fromS; s <= toS; s++) ticks.push({ atMs: s * 1000, load: (c: number) => l(s, c) });
    return ticks;
}

const events = (run: { atMs: number; decision: Decision }[]) =>
    run
        .filter((r) => r.decision.direction !== "none")
        .map((r) => `${r.atMs / 1000}s ${r.decision.direction} ${r.decision.desired}`);

describe("decide(): over time (R33 hysteresis)", () => {
    test("default scale-down window is 60 s (R33 about 1 minute)", () => {
        assert.equal(DEFAULT_SCALE_DOWN_DELAY_MS, 60_000);
    });

    test("load drop: hold for the whole window, then scale down in one step", () => {
        // 4 replicas, then only 1 busy from t=0: needs ceil(1/0.7) = 2.
        const run = simulate(
            seconds(0, 70, (_s, c) => load(1, c)),
            { current: 4 },
        );
        assert.deepEqual(events(run), ["60s down 2"]);
        assert.ok(run.slice(0, 60).every((r) => r.decision.reason === "below-target-waiting"));
        assert.equal(run[60].decision.reason, "below-target");
    });

    test("the window restarts when the load comes back before it ends", () => {
        // 3 replicas; 1 busy needs 2 (below), 2 busy need 3 (within) at 31 s only.
        const run = simulate(
            seconds(0, 100, (s, c) => (s === 31 ? load(2, c) : load(1, c))),
            { current: 3 },
        );
        assert.deepEqual(events(run), ["92s down 2"]);
    });

    test("scale-down goes to the highest need seen in the window, not the last sample", () => {
        // Needs 1, briefly 3 at 40 s (2 busy), then 1 again: after the window, 3 replicas stay.
        const run = simulate(
            seconds(0, 61, (s, c) => (s === 40 ? load(2, c) : load(0, c))),
            { current: 6 },
        );
        assert.deepEqual(events(run), ["60s down 3"]);
    });

    test("scale-up is immediate and never waits for a window (R33 about 1 s)", () => {
        const run = simulate(
            seconds(0, 5, (s, c) => (s >= 3 ? load(Math.min(c, 2), c, 4) : load(0, c))),
            { current: 2, settings: { autoscaleMinReplicas: 2 } },
        );
        assert.deepEqual(events(run), ["3s up 9"]);
    });

    test("oscillating load does not flap: no scale-down while the peak still needs the replicas", () => {
        // Concurrency alternates 1 ↔ 4 every 5 s for 5 minutes: needs 2 ↔ 6.
        const run = simulate(
            seconds(0, 300, (s, c) => demand(Math.floor(s / 5) % 2 === 0 ? 1 : 4, c)),
            { current: 2 },
        );
        // Up once at the first peak, then hold: each dip is shorter than the window.
        assert.deepEqual(events(run), ["5s up 6"]);
    });

    test("a slow oscillation (longer than the window) scales down once per dip, up at once", () => {
        // 7 concurrent requests for 90 s, then nothing for 90 s, repeated.
        const run = simulate(
            seconds(0, 600, (s, c) => demand(Math.floor(s / 90) % 2 === 0 ? 7 : 0, c)),
            { current: 10 },
        );
        assert.deepEqual(events(run), [
            "150s down 1",
            "180s up 10",
            "330s down 1",
            "360s up 10",
            "510s down 1",
            "540s up 10",
        ]);
    });

    test("property: never below the busy replicas, never outside [min, max] by choice", () => {
        let seed = 12345;
        const rnd = (n: number): number => {
            seed = (seed * 1103515245 + 12345) % 2 ** 31;
            return seed % n;
        };
        for (let i = 0; i < 5000; i++) {
            const min = 1 + rnd(4);
            const max = min + rnd(8);
            const s = settings({
                autoscaleMinReplicas: min,
                autoscaleMaxReplicas: max,
                autoscaleTargetUtilization: 1 + rnd(100),
            });
            const current = rnd(15);
            const ready = rnd(current + 1);
            const busy = rnd(ready + 1);
            const d = decide({
                currentReplicas: current,
                load: load(busy, ready, rnd(10)),
                settings: s,
                nowMs: rnd(200_000),
                state: rnd(2) ? { belowSinceMs: 0, peakDesiredWhileBelow: rnd(12) } : {},
            });
            const ctx = JSON.stringify({ min, max, current, ready, busy, d });
            assert.ok(d.desired >= busy, `below busy: ${ctx}`);
            if (d.direction === "up") assert.ok(d.desired <= max, `up above max: ${ctx}`);
            if (d.direction === "down") assert.ok(d.desired >= min, `down below min: ${ctx}`);
            if (d.desired > max) assert.notEqual(d.direction, "up", ctx);
        }
    });

    test("scaleDownDelayMs is configurable (0 = scale down on the first tick below)", () => {
        const run = simulate(
            seconds(0, 2, (_s, c) => load(0, c)),
            { current: 5, scaleDownDelayMs: 0 },
        );
        assert.deepEqual(events(run), ["0s down 1"]);
        const slow = simulate(
            seconds(0, 130, (_s, c) => load(0, c)),
            {
                current: 5,
                scaleDownDelayMs: 120_000,
            },
        );
        assert.deepEqual(events(slow), ["120s down 1"]);
    });

    test("state records the last scale times", () => {
        const up = decide({
            currentReplicas: 1,
            load: load(1, 1, 5),
            settings: settings(),
            nowMs: 42,
        });
        assert.equal(up.state.lastScaleUpMs, 42);
        assert.equal(up.state.belowSinceMs, undefined);
        const down = decide({
            currentReplicas: 5,
            load: load(0, 5),
            settings: settings(),
            nowMs: 99,
            state: up.state,
            scaleDownDelayMs: 0,
        });
        assert.deepEqual(
            [down.state.lastScaleUpMs, down.state.lastScaleDownMs, down.state.belowSinceMs],
            [42, 99, undefined],
        );
    });
});
