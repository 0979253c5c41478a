import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "yaml";
import {
    decodeKubeconfig,
    kubeconfigClusterIdentifier,
    kubeconfigServer,
    looksLikeKubeconfig,
    setKubeloginMode,
} from "../../components/cluster/kubeconfig";
import { aksExecKubeconfig, certKubeconfig, TENANT } from "./mocks";

describe("kubelogin kubeconfig (Entra ID, local accounts disabled)", () => {
    test("switches AKS' device-code login to the Azure CLI, non-interactive, without client id", () => {
        const out = parse(setKubeloginMode(aksExecKubeconfig(), "azurecli"));
        const exec = out.users[0].user.exec;
        assert.equal(exec.command, "kubelogin");
        assert.deepEqual(exec.args, [
            "get-token",
            "--environment",
            "AzurePublicCloud",
            "--server-id",
            "6dae42f8-4368-4678-94ff-3960e28e3630",
            "--tenant-id",
            TENANT,
            "--login",
            "azurecli",
        ]);
        assert.equal(exec.interactiveMode, "Never");
        // Everything else is kept.
        assert.equal(
            out.clusters[0].cluster.server,
            "https://aks-abc123.hcp.westeurope.azmk8s.io:443",
        );
        assert.equal(out["current-context"], "aks");
    });

    test("keeps the client id for device code and is deterministic", () => {
        const a = setKubeloginMode(aksExecKubeconfig(), "devicecode");
        assert.equal(a, setKubeloginMode(aksExecKubeconfig(), "devicecode"));
        const exec = parse(a).users[0].user.exec;
        assert.ok(exec.args.includes("--client-id"));
        assert.deepEqual(exec.args.slice(-2), ["--login", "devicecode"]);
        assert.equal(exec.interactiveMode, "IfAvailable");
    });

    test("leaves certificate kubeconfigs untouched", () => {
        assert.equal(setKubeloginMode(certKubeconfig(), "azurecli"), certKubeconfig());
    });

    test("reads the server, hashes it into a stable identifier, recognises kubeconfigs", () => {
        assert.equal(
            kubeconfigServer(certKubeconfig("https://10.0.0.1:6443")),
            "https://10.0.0.1:6443",
        );
        const id = kubeconfigClusterIdentifier(certKubeconfig("https://10.0.0.1:6443"));
        assert.match(id, /^kubeconfig-[0-9a-f]{16}$/);
        // Same server, different credentials: same identity (provider updated, not replaced).
        assert.equal(
            id,
            kubeconfigClusterIdentifier(
                certKubeconfig("https://10.0.0.1:6443").replace("S0VZ", "T1RIRVI="),
            ),
        );
        assert.notEqual(id, kubeconfigClusterIdentifier(certKubeconfig("https://10.0.0.2:6443")));
        assert.ok(looksLikeKubeconfig(certKubeconfig()));
        assert.ok(!looksLikeKubeconfig("not: [a kubeconfig"));
        assert.ok(!looksLikeKubeconfig("hello"));
        assert.equal(decodeKubeconfig(Buffer.from("abc").toString("base64")), "abc");
    });
});
