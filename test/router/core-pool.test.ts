/**
 * The routing table alone (no HTTP): slots, least-busy choice, FIFO queue, drain, replica set
 * changes, victims. docs/design.md §5 "Routing"; R32 (busy replicas), R33/R34 inputs.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ServicePool, defaultQueueLimit, type RejectReason } from "../../router/routing/pool";
import type { Replica } from "../../router/types";

interface Fake {
    id: string;
    disposed: boolean;
}

function pool(concurrency = 1, maxWaitMs = 200, queueLimit = defaultQueueLimit(100, 10)) {
    const upstreams: Fake[] = [];
    const p = new ServicePool<Fake>({
        concurrency,
        maxWaitMs,
        queueLimit,
        createUpstream: (r: Replica) => {
            const f = { id: r.id, disposed: false };
            upstreams.push(f);
            return f;
        },
        disposeUpstream: (u) => {
            u.disposed = true;
        },
    });
    return { p, upstreams };
}

const replicas = (...ids: string[]): Replica[] =>
    ids.map((id) => ({ id, url: `http://127.0.0.1/${id}` }));

describe("ServicePool: busy time per replica (the fleet scaler's busy shares, R32)", () => {
    test("counts the time a replica had at least one request in flight, overlaps once", () => {
        let now = 1_000;
        const p = new ServicePool<Fake>({
            concurrency: 2,
            maxWaitMs: 200,
            queueLimit: defaultQueueLimit(),
            createUpstream: (r) => ({ id: r.id, disposed: false }),
            disposeUpstream: () => undefined,
            now: () => now,
        });
        p.setReplicas(replicas("a"));
        const busy = (): number => p.replicas().find((r) => r.id === "a")!.busyMs;
        const first = p.tryAcquire()!;
        now += 10;
        const second = p.tryAcquire()!; // overlaps the first: still one busy period
        now += 20;
        p.release(first);
        now += 5;
        assert.equal(busy(), 35, "in flight since 1000, read at 1035");
        p.release(second);
        now += 100; // idle time does not count
        assert.equal(busy(), 35);
        const third = p.tryAcquire()!;
        now += 15;
        assert.equal(busy(), 50);
        p.release(third);
    });
});

describe("ServicePool", () => {
    test("hands out the least busy replica and never more than the concurrency per replica", () => {
        const { p } = pool(2);
        p.setReplicas(replicas("a", "b"));
        const got = [p.tryAcquire(), p.tryAcquire(), p.tryAcquire(), p.tryAcquire()];
        assert.ok(got.every((r) => r !== undefined));
        const ids = got.map((r) => r?.id).sort();
        assert.deepEqual(ids, ["a", "a", "b", "b"]);
        // The first two went to different replicas (least busy first).
        assert.notEqual(got[0]?.id, got[1]?.id);
        assert.equal(p.tryAcquire(), undefined, "all 4 slots are taken");
        assert.deepEqual(p.load(), { readyReplicas: 2, busyReplicas: 2, inFlight: 4, queued: 0 });
        for (const r of got) p.release(r!);
        assert.deepEqual(p.load(), { readyReplicas: 2, busyReplicas: 0, inFlight: 0, queued: 0 });
    });

    test("prefers the replica with fewer requests in flight", () => {
        const { p } = pool(3);
        p.setReplicas(replicas("a", "b"));
        const first = p.tryAcquire()!;
        const second = p.tryAcquire()!;
        const third = p.tryAcquire()!;
        // a:2 b:1 or a:1 b:2; releasing from the busier one must make it the next choice.
        const busier =
            [first, second, third].filter((r) => r.id === first.id).length === 2 ? first : second;
        p.release(busier);
        p.release(busier === first ? third : first);
        const next = p.tryAcquire()!;
        const counts = p
            .replicas()
            .map((r) => r.inFlight)
            .sort();
        assert.deepEqual(counts, [1, 1], `picked ${next.id}: load must be even`);
    });

    test("queues FIFO and grants the oldest waiter when a slot frees", () => {
        const { p } = pool(1);
        p.setReplicas(replicas("a"));
        const held = p.tryAcquire()!;
        const order: string[] = [];
        p.enqueue(
            (r) => order.push(`1:${r.id}`),
            () => order.push("1:rejected"),
        );
        p.enqueue(
            (r) => order.push(`2:${r.id}`),
            () => order.push("2:rejected"),
        );
        assert.equal(p.load().queued, 2);
        assert.equal(p.tryAcquire(), undefined, "a newcomer does not overtake the queue");
        p.release(held);
        assert.deepEqual(order, ["1:a"]);
        assert.equal(p.load().queued, 1);
        p.close();
        assert.deepEqual(order, ["1:a", "2:rejected"]);
    });

    test("rejects a waiter after maxWaitMs and when the queue is full", async () => {
        const { p } = pool(1, 50, () => 1);
        p.setReplicas(replicas("a"));
        p.tryAcquire();
        const reasons: RejectReason[] = [];
        p.enqueue(
            () => assert.fail("no slot"),
            (r) => reasons.push(r),
        );
        p.enqueue(
            () => assert.fail("no slot"),
            (r) => reasons.push(r),
        );
        assert.deepEqual(reasons, ["queue_full"]);
        await new Promise((r) => setTimeout(r, 120));
        assert.deepEqual(reasons, ["queue_full", "queue_timeout"]);
        assert.equal(p.load().queued, 0);
    });

    test("waits in the queue while no replica is ready, and serves when one appears (scale from min)", () => {
        const { p } = pool(1, 1000);
        let granted: string | undefined;
        p.enqueue(
            (r) => (granted = r.id),
            () => assert.fail("must not be rejected"),
        );
        assert.deepEqual(p.load(), { readyReplicas: 0, busyReplicas: 0, inFlight: 0, queued: 1 });
        p.setReplicas(replicas("new"));
        assert.equal(granted, "new");
        assert.equal(p.load().inFlight, 1);
    });

    test("a retry waiting in the queue never gets the replica it avoids", () => {
        const { p } = pool(1, 1000);
        p.setReplicas(replicas("dead", "b"));
        const dead = p.tryAcquire()!;
        const onB = p.tryAcquire()!;
        assert.deepEqual([dead.id, onB.id], ["dead", "b"]);
        p.release(dead);
        const got: string[] = [];
        p.enqueue(
            (r) => got.push(`retry:${r.id}`),
            () => got.push("retry:rejected"),
            true,
            dead,
        );
        p.enqueue(
            (r) => got.push(`next:${r.id}`),
            () => got.push("next:rejected"),
        );
        assert.deepEqual(got, ["next:dead"], "the plain waiter behind may take the free replica");
        p.release(onB);
        assert.deepEqual(got, ["next:dead", "retry:b"]);
        p.close();
    });

    test("skips an ejected replica until its ejection ends", async () => {
        const { p } = pool(1);
        p.setReplicas(replicas("a", "b"));
        const a = p.tryAcquire()!;
        assert.equal(a.id, "a");
        p.release(a);
        p.eject(a, 60);
        const x = p.tryAcquire()!;
        assert.equal(x.id, "b");
        assert.equal(p.tryAcquire(), undefined, "a is skipped while ejected");
        await new Promise((r) => setTimeout(r, 80));
        assert.equal(p.tryAcquire()?.id, "a");
    });

    test("cancelling a waiter takes it out of the queue at once", () => {
        const { p } = pool(1);
        p.setReplicas(replicas("a"));
        p.tryAcquire();
        const t = p.enqueue(
            () => assert.fail(),
            () => assert.fail(),
        )!;
        assert.equal(p.load().queued, 1);
        assert.equal(p.cancel(t), true);
        assert.equal(p.cancel(t), false);
        assert.equal(p.load().queued, 0);
    });

    test("drain stops new requests to the replica and resolves when its requests finished", async () => {
        const { p } = pool(2);
        p.setReplicas(replicas("a", "b"));
        const onA = p.tryAcquire()!;
        assert.equal(onA.id, "a");
        let drained = false;
        const d = p.drain("a", 5000).then(() => (drained = true));
        assert.equal(p.load().readyReplicas, 1);
        for (let i = 0; i < 2; i++) assert.equal(p.tryAcquire()?.id, "b");
        assert.equal(p.tryAcquire(), undefined, "a takes nothing new");
        await new Promise((r) => setImmediate(r));
        assert.equal(drained, false);
        p.release(onA);
        await d;
        assert.equal(drained, true);
        assert.equal(p.undrain("a"), true);
        assert.equal(p.load().readyReplicas, 2);
    });

    test("drain gives up after its timeout and resolves at once for unknown replicas", async () => {
        const { p } = pool(1);
        p.setReplicas(replicas("a"));
        p.tryAcquire();
        const t0 = Date.now();
        await p.drain("a", 50);
        assert.ok(Date.now() - t0 >= 40);
        await p.drain("nope", 10_000);
    });

    test("a removed replica takes no new request and is disposed after its last one", () => {
        const { p, upstreams } = pool(1);
        p.setReplicas(replicas("a", "b"));
        const onA = p.tryAcquire()!;
        const onB = p.tryAcquire()!;
        p.setReplicas(replicas("b", "c"));
        const a = upstreams.find((u) => u.id === "a")!;
        assert.equal(a.disposed, false, "in-flight request keeps its transport");
        assert.equal(p.tryAcquire()?.id, "c");
        p.release(onA);
        assert.equal(a.disposed, true);
        p.release(onB);
        assert.equal(p.load().inFlight, 1);
        assert.throws(() => p.release(onA), /released twice/);
    });

    test("picks idle victims first, then the least busy", () => {
        const { p } = pool(3);
        p.setReplicas(replicas("a", "b", "c"));
        const taken = Array.from({ length: 9 }, () => p.tryAcquire()!);
        assert.deepEqual(
            p.replicas().map((r) => r.inFlight),
            [3, 3, 3],
        );
        const on = (id: string) => taken.filter((r) => r.id === id);
        for (const r of on("c")) p.release(r); // c: 0
        p.release(on("b")[0]); // b: 2
        assert.deepEqual(p.pickVictims(3), ["c", "b", "a"]);
        assert.deepEqual(p.pickVictims(1), ["c"]);
        assert.deepEqual(p.pickVictims(0), []);
        p.drain("c", 10);
        assert.deepEqual(
            p.pickVictims(3),
            ["b", "a"],
            "a draining replica is no longer a candidate",
        );
    });
});
