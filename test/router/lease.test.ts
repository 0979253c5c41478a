/**
 * The scaler Lease's election rule (client-go `tryAcquireOrRenew`), pure: a Lease held by another
 * pod expires only once its record stayed unchanged for a full duration on *this* pod's clock.
 * The elector against a real API server is in test/e2e/router-lease.e2e.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
    judgeLease,
    leaseRecord,
    type LeaseObservation,
    type LeaseRecord,
} from "../../router/backends/kubernetes/lease";

const ME = "router-a";
const held = (holder: string | undefined, rv: string, durationMs?: number): LeaseRecord => ({
    holder,
    resourceVersion: rv,
    durationMs,
});

describe("lease election rule", () => {
    test("absent → create; held by self → renew; released → take at once", () => {
        const base = { identity: ME, nowMs: 1000, leaseDurationMs: 15_000, observed: undefined };
        assert.deepEqual(judgeLease({ ...base, record: undefined }).verdict, { action: "create" });
        assert.deepEqual(judgeLease({ ...base, record: held(ME, "5") }).verdict, {
            action: "update",
            takeover: false,
        });
        assert.deepEqual(judgeLease({ ...base, record: held(undefined, "6", 1000) }).verdict, {
            action: "update",
            takeover: true,
        });
    });

    test("another holder expires a full duration after we first saw its record, not before", () => {
        const lease = held("router-b", "7", 15_000);
        let observed: LeaseObservation | undefined;
        const at = (nowMs: number) => {
            const r = judgeLease({
                record: lease,
                observed,
                identity: ME,
                nowMs,
                leaseDurationMs: 15_000,
            });
            observed = r.observed;
            return r.verdict;
        };
        // First sight: whatever renewTime says, the full duration starts now.
        assert.deepEqual(at(100_000), { action: "wait", holder: "router-b", expiresInMs: 15_000 });
        assert.deepEqual(at(114_999), { action: "wait", holder: "router-b", expiresInMs: 1 });
        assert.deepEqual(at(115_000), { action: "update", takeover: true });
    });

    test("every change of the record restarts the wait", () => {
        let observed: LeaseObservation | undefined;
        const judge = (rv: string, nowMs: number) => {
            const r = judgeLease({
                record: held("router-b", rv),
                observed,
                identity: ME,
                nowMs,
                leaseDurationMs: 3000,
            });
            observed = r.observed;
            return r.verdict;
        };
        judge("1", 0);
        assert.equal(judge("2", 2500).action, "wait", "renewed at 2.5 s");
        assert.deepEqual(judge("2", 5000), {
            action: "wait",
            holder: "router-b",
            expiresInMs: 500,
        });
        assert.deepEqual(judge("2", 5500), { action: "update", takeover: true });
    });

    test("the longer of our duration and the holder's declared one applies", () => {
        const r = judgeLease({
            record: held("router-b", "9", 60_000),
            observed: { resourceVersion: "9", atMs: 0 },
            identity: ME,
            nowMs: 20_000,
            leaseDurationMs: 15_000,
        });
        assert.deepEqual(r.verdict, { action: "wait", holder: "router-b", expiresInMs: 40_000 });
    });

    test("reads holder, declared duration and version from a Lease", () => {
        assert.deepEqual(
            leaseRecord({
                metadata: { name: "l", resourceVersion: "42" },
                spec: { holderIdentity: "router-b", leaseDurationSeconds: 15 },
            }),
            { holder: "router-b", durationMs: 15_000, resourceVersion: "42" },
        );
        // A released Lease (holder cleared) is free.
        assert.equal(
            leaseRecord({ metadata: { resourceVersion: "43" }, spec: { holderIdentity: "" } })
                .holder,
            undefined,
        );
    });
});
