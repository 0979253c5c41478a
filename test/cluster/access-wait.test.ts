import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
    AccessWaitError,
    CREATE_ACCESS_WAIT,
    EXISTING_ACCESS_WAIT,
    describeCheck,
    installAccessChecks,
    nextAccessDelay,
    waitForAccess,
    type AccessCheck,
    type Clock,
} from "../../components/cluster/access-wait";

/** A clock whose sleep only moves time forward, so waits cost nothing in tests. */
function fakeClock(): Clock & { slept: number[] } {
    let now = 1_000_000;
    const slept: number[] = [];
    return {
        slept,
        now: () => now,
        sleep: (ms) => {
            slept.push(ms);
            now += ms;
            return Promise.resolve();
        },
    };
}

const NS_CREATE: AccessCheck = { verb: "create", group: "", resource: "namespaces" };

describe("installAccessChecks", () => {
    test("asks for namespaces, and Roles and RoleBindings in the router and every service namespace", () => {
        const checks = installAccessChecks("azureml-fe", ["team-a", "team-b"]);
        assert.deepEqual(checks[0], NS_CREATE);
        for (const ns of ["azureml-fe", "team-a", "team-b"]) {
            for (const resource of ["roles", "rolebindings"])
                assert.ok(
                    checks.some(
                        (c) =>
                            c.resource === resource &&
                            c.namespace === ns &&
                            c.group === "rbac.authorization.k8s.io",
                    ),
                    `${resource} in ${ns}`,
                );
        }
        assert.ok(checks.some((c) => c.resource === "deployments" && c.group === "apps"));
    });
});

describe("nextAccessDelay", () => {
    test("doubles from the initial delay and stops at the maximum", () => {
        const delays = [1, 2, 3, 4, 5, 6].map((a) => nextAccessDelay(a, CREATE_ACCESS_WAIT));
        assert.deepEqual(delays, [2000, 4000, 8000, 15000, 15000, 15000]);
    });
});

describe("waitForAccess", () => {
    test("returns at once when everything is allowed", async () => {
        const clock = fakeClock();
        const r = await waitForAccess(
            async () => [],
            [NS_CREATE],
            CREATE_ACCESS_WAIT,
            "",
            undefined,
            clock,
        );
        assert.deepEqual(r, { attempts: 1, waitedMs: 0 });
        assert.deepEqual(clock.slept, []);
    });

    test("keeps asking while denied and returns once the grant took effect", async () => {
        const clock = fakeClock();
        let calls = 0;
        let waitingFor: readonly AccessCheck[] = [];
        const r = await waitForAccess(
            async (checks) => (++calls < 4 ? [...checks] : []),
            [NS_CREATE],
            CREATE_ACCESS_WAIT,
            "",
            (denied) => (waitingFor = denied),
            clock,
        );
        assert.equal(r.attempts, 4);
        assert.equal(r.waitedMs, 2000 + 4000 + 8000);
        assert.deepEqual(waitingFor, [NS_CREATE]);
    });

    test("counts an API error as not yet, and succeeds when the API answers later", async () => {
        const clock = fakeClock();
        let calls = 0;
        const r = await waitForAccess(
            async () => {
                if (++calls === 1) throw new Error("connect ECONNREFUSED");
                return [];
            },
            [NS_CREATE],
            CREATE_ACCESS_WAIT,
            "",
            undefined,
            clock,
        );
        assert.equal(r.attempts, 2);
    });

    test("fails within the bound, naming what is still denied and the way out", async () => {
        const clock = fakeClock();
        await assert.rejects(
            waitForAccess(
                async (checks) => checks.filter((c) => c.resource === "namespaces"),
                installAccessChecks("azureml-fe", []),
                CREATE_ACCESS_WAIT,
                "Grant the deployer cluster admin.",
                undefined,
                clock,
            ),
            (err: unknown) => {
                assert.ok(err instanceof AccessWaitError);
                assert.deepEqual(err.denied, [NS_CREATE]);
                assert.ok(err.waitedMs <= CREATE_ACCESS_WAIT.timeoutMs);
                assert.match(err.message, /still denied: create namespaces \(cluster-wide\)\./);
                assert.match(err.message, /Grant the deployer cluster admin\.$/);
                return true;
            },
        );
        const total = clock.slept.reduce((a, b) => a + b, 0);
        assert.ok(total <= CREATE_ACCESS_WAIT.timeoutMs, `slept ${total} ms`);
        assert.ok(total > CREATE_ACCESS_WAIT.timeoutMs - CREATE_ACCESS_WAIT.maxDelayMs);
    });

    test("asks once for existing clusters and reports an unreachable API as such", async () => {
        const clock = fakeClock();
        await assert.rejects(
            waitForAccess(
                async () => {
                    throw new Error("getaddrinfo ENOTFOUND aks.example");
                },
                [NS_CREATE],
                EXISTING_ACCESS_WAIT,
                "",
                undefined,
                clock,
            ),
            /could not be made \(getaddrinfo ENOTFOUND aks\.example\)/,
        );
        assert.deepEqual(clock.slept, []);
    });
});

describe("describeCheck", () => {
    test("names verb, resource, group and namespace", () => {
        assert.equal(
            describeCheck({
                verb: "create",
                group: "rbac.authorization.k8s.io",
                resource: "roles",
                namespace: "azureml-fe",
            }),
            "create roles (rbac.authorization.k8s.io) in azureml-fe",
        );
    });
});
