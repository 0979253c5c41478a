/**
 * Resource-id checks shared by the validators, and the parse of ids that are only known at
 * deploy time.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { armIdRule, checkArmId, requireArmId } from "../../components/common/arm-id";
import { Problems, ValidationError } from "../../components/common/validation";

const SUB = "00000000-0000-0000-0000-000000000001";
const AKS = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1`;

function problemsOf(check: (p: Problems) => void): [string, unknown, string][] {
    const p = new Problems();
    check(p);
    try {
        p.throwIfAny("test");
    } catch (e) {
        assert.ok(e instanceof ValidationError);
        return e.problems.map((x) => [x.field, x.value, x.rule]);
    }
    return [];
}

describe("checkArmId", () => {
    test("accepts an id of the kind, case-insensitively, and skips unset or unresolved values", () => {
        assert.deepEqual(
            problemsOf((p) => {
                assert.equal(checkArmId(p, "id", AKS.toLowerCase(), "managedCluster"), true);
                assert.equal(checkArmId(p, "id", undefined, "managedCluster"), false);
                assert.equal(checkArmId(p, "id", Promise.resolve("x"), "managedCluster"), false);
            }),
            [],
        );
    });

    test("names the field, the value and the expected shape for another kind or a nested id", () => {
        const nested = `${AKS}/agentPools/system`;
        assert.deepEqual(
            problemsOf((p) => {
                checkArmId(p, "resourceId", nested, "managedCluster", true);
                checkArmId(p, "vnetSubnetId", AKS, "subnet");
            }),
            [
                ["resourceId", nested, armIdRule("managedCluster")],
                ["vnetSubnetId", AKS, armIdRule("subnet")],
            ],
        );
        assert.equal(
            armIdRule("subnet"),
            "must be a subnet resource id: /subscriptions/<subscription-id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
        );
    });
});

describe("requireArmId", () => {
    test("parses a valid id and throws an error naming the field for anything else", () => {
        assert.equal(requireArmId(AKS, "resourceId").name, "aks1");
        assert.throws(
            () => requireArmId("aks1", "resourceId"),
            /^Error: resourceId: "aks1" is not an Azure resource id$/,
        );
    });
});
