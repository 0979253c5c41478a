/**
 * createPlannedObjects: a component's Kubernetes children are exactly its render plan, with the
 * plan's dependencies and options.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
    createPlannedObjects,
    plannedChild,
    type PlannedObject,
} from "../../components/common/k8s-plan";
import { installMocks, type Registration, settle } from "../support/pulumi-mocks";

const mocks = installMocks({
    state: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
    call: (args) => args.inputs,
});

class Parent extends pulumi.ComponentResource {
    constructor(name: string) {
        super("test:index:Parent", name);
    }
}

const meta = (name: string) => ({ metadata: { name, namespace: "ns" } });
const PLAN: PlannedObject[] = [
    { suffix: "ns", kind: "Namespace", object: { metadata: { name: "ns" } } },
    { suffix: "key", kind: "Secret", object: meta("key"), dependsOn: ["ns"] },
    {
        suffix: "app",
        kind: "Deployment",
        // A spec, as every real Deployment has: newer SDKs refuse a Deployment without one.
        object: {
            ...meta("app"),
            spec: {
                selector: { matchLabels: { app: "app" } },
                template: {
                    metadata: { labels: { app: "app" } },
                    spec: { containers: [{ name: "app", image: "app:1" }] },
                },
            },
        },
        dependsOn: ["ns", "key"],
        ignoreChanges: ["spec.replicas"],
    },
    {
        suffix: "monitor",
        kind: "ServiceMonitor",
        object: { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", ...meta("m") },
    },
];

/** Names (after `::`) of the URNs a registration depends on. */
function deps(r: Registration): string[] {
    return r.dependencies.map((u) => u.slice(u.lastIndexOf("::") + 2)).sort();
}

describe("createPlannedObjects", () => {
    let regs: Registration[];
    let created: Map<string, pulumi.CustomResource>;

    before(async () => {
        const parent = new Parent("c");
        const provider = new k8s.Provider("c-k8s", { kubeconfig: "{}" }, { parent });
        const gate = new k8s.core.v1.ConfigMap("c-gate", {}, { parent, provider });
        created = createPlannedObjects("c", PLAN, { parent, provider, dependsOn: [gate] });
        await settle(mocks.registrations);
        regs = mocks.registrations.filter((r) => PLAN.some((o) => r.name === `c-${o.suffix}`));
    });

    test("creates one child per planned object, named <component>-<suffix>, of the planned kind", () => {
        assert.deepEqual(
            regs.map((r) => [r.name, r.type.slice(r.type.lastIndexOf(":") + 1)]).sort(),
            PLAN.map((o) => [`c-${o.suffix}`, o.kind]).sort(),
        );
        assert.ok(regs.find((r) => r.name === "c-monitor")?.type.includes("monitoring.coreos.com"));
    });

    test("every child waits for the component's dependencies and for the siblings it lists", () => {
        const of = (name: string) => deps(regs.find((r) => r.name === name)!);
        assert.deepEqual(of("c-ns"), ["c-gate"]);
        assert.deepEqual(of("c-key"), ["c-gate", "c-ns"]);
        assert.deepEqual(of("c-app"), ["c-gate", "c-key", "c-ns"]);
    });

    test("passes the planned ignoreChanges, and only those", () => {
        assert.deepEqual(regs.find((r) => r.name === "c-app")!.ignoreChanges, ["spec.replicas"]);
        assert.deepEqual(regs.find((r) => r.name === "c-ns")!.ignoreChanges, []);
    });

    test("returns the children by suffix, and refuses unknown suffixes and forward dependencies", () => {
        assert.ok(
            plannedChild<k8s.apps.v1.Deployment>(created, "app") instanceof k8s.apps.v1.Deployment,
        );
        assert.throws(() => plannedChild(created, "nope"), /no object "nope"/);
        const parent = new Parent("bad");
        const provider = new k8s.Provider("bad-k8s", { kubeconfig: "{}" }, { parent });
        assert.throws(
            () =>
                createPlannedObjects(
                    "bad",
                    [{ suffix: "a", kind: "Namespace", object: {}, dependsOn: ["b"] }],
                    { parent, provider },
                ),
            /"a" depends on "b", not before it/,
        );
    });
});
