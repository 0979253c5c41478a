import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { providerArgsFor } from "../../components/cluster/subscription-provider";

describe("provider for an attached cluster's subscription", () => {
    test("repeats the stack's azure-native authentication settings, secrets kept secret", async () => {
        const cfg: Record<string, string> = {
            clientId: "app-id",
            clientSecret: "s3cret",
            tenantId: "tenant",
            useOidc: "true",
            location: "westeurope",
        };
        const args = providerArgsFor("sub-2", { get: (k: string) => cfg[k] }) as Record<
            string,
            unknown
        >;
        assert.equal(args.subscriptionId, "sub-2");
        assert.equal(args.clientId, "app-id");
        assert.equal(args.tenantId, "tenant");
        assert.equal(args.useOidc, true);
        assert.equal(args.location, undefined, "only authentication and cloud settings");
        assert.equal(await pulumi.isSecret(args.clientSecret as pulumi.Output<string>), true);
    });
});
