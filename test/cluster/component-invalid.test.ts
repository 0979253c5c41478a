/**
 * Invalid args throw synchronously, listing every problem, before ANY resource is registered
 * (not even the component itself): the mock monitor sees zero registrations.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ValidationError } from "../../components/common/validation";
import { settle, setupMocks } from "./mocks";
import { AksInferenceCluster } from "../../components/cluster";
import { AmlWorkspace } from "../../components/workspace";

const mocks = setupMocks();

describe("invalid args register nothing", () => {
    it("AksInferenceCluster", async () => {
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
                }),
            (e: unknown) => {
                assert.ok(e instanceof ValidationError);
                assert.deepEqual(
                    e.problems.map((p) => p.field),
                    [
                        "agentCount",
                        "vmSize",
                        "leafDomainLabel",
                        "leafDomainLabel",
                        "sslCname",
                        "sslCertPem",
                    ],
                );
                assert.ok(!e.message.includes("TOPSECRET"));
                return true;
            },
        );
        await settle(mocks.resources);
        assert.equal(mocks.resources.length, 0);
        assert.equal(mocks.calls.length, 0);
    });

    it("AmlWorkspace", async () => {
        assert.throws(
            () =>
                new AmlWorkspace("bad", {
                    location: "westeurope",
                    storageAccountName: "Not_Valid",
                    keyVaultSoftDeleteRetentionDays: 3,
                }),
            (e: unknown) => e instanceof ValidationError && e.problems.length === 2,
        );
        await settle(mocks.resources);
        assert.equal(mocks.resources.length, 0);
        assert.equal(mocks.calls.length, 0);
    });
});
