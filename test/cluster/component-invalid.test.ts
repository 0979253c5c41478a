/**
 * Invalid args throw synchronously, listing every problem, before ANY resource is registered
 * (not even the component itself): the mock monitor sees zero registrations.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ValidationError } from "../../components/common/validation";
import { settle, setupMocks } from "./mocks";
import { AksInferenceCluster } from "../../components/cluster";
import { AmlWorkspace } from "../../components/workspace";

const mocks = setupMocks();

describe("invalid args register nothing", () => {
    test("AksInferenceCluster", async () => {
        assert.throws(
            () =>
                new AksInferenceCluster("bad", {
                    location: "westeurope",
                    resourceGroupName: "rg",
                    routerImage: "myacr.azurecr.io/amlaks-router:1",
                    clusterPurpose: "FastProd",
                    agentCount: 1,
                    loadBalancerType: "InternalLoadBalancer",
                    leafDomainLabel: "scoring",
                    sslKeyPem: "-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----",
                    // Misspelt: JavaScript and config-driven callers get no compiler help.
                    agentcount: 3,
                } as never),
            (e: unknown) => {
                assert.ok(e instanceof ValidationError);
                assert.deepEqual(
                    e.problems.map((p) => p.field),
                    [
                        "agentcount",
                        "agentCount",
                        "leafDomainLabel",
                        "leafDomainLabel",
                        "sslCname",
                        "sslCertPem",
                    ],
                );
                assert.ok(!e.message.includes("TOPSECRET"));
                assert.match(
                    e.message,
                    /agentcount: "\(set\)" is not a known argument; did you mean "agentCount"\?/,
                );
                return true;
            },
        );
        await settle(mocks.resources);
        assert.equal(mocks.resources.length, 0);
        assert.equal(mocks.calls.length, 0);
    });

    test("AmlWorkspace", async () => {
        assert.throws(
            () =>
                new AmlWorkspace("bad", {
                    location: "westeurope",
                    storageAccountName: "Not_Valid",
                    keyVaultSoftDeleteRetentionDays: 3,
                    containerRegistrySKU: "Premium",
                } as never),
            (e: unknown) =>
                e instanceof ValidationError &&
                e.problems.length === 3 &&
                /containerRegistrySKU: "\(set\)" is not a known argument; did you mean "containerRegistrySku"\?/.test(
                    e.message,
                ),
        );
        await settle(mocks.resources);
        assert.equal(mocks.resources.length, 0);
        assert.equal(mocks.calls.length, 0);
    });
});
