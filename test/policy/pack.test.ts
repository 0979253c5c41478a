/**
 * The pack as a whole: the policies the issue names, their metadata (description, severity,
 * remediation, config schema with waivers), default levels, the manifests the Pulumi CLI reads,
 * the pack entry in the repository and in the installed package, and the constants the pack keeps
 * equal to the components'. (index.ts itself starts a gRPC server: never imported here.)
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { AZURE_DNS_LABEL, AZURE_LB_INTERNAL } from "../../components/cluster/router-install";
import { AKS_WEBSERVICE_TYPE } from "../../components/webservice";
import {
    AKS_INFERENCE_CLUSTER_TOKEN,
    AKS_WEBSERVICE_TOKEN,
    AML_WORKSPACE_TOKEN,
    AZURE_DNS_LABEL as PACK_DNS_LABEL,
    AZURE_LB_INTERNAL as PACK_LB_INTERNAL,
} from "../../policy/lib/k8s";
import { AMLAKS_POLICIES, POLICY_PACK_NAME } from "../../policy/policies";

const REPO = join(__dirname, "..", "..");
const read = (p: string) => readFileSync(join(REPO, p), "utf8");

const NAMES = [
    "no-hpa-on-model-deployments",
    "cni-egress-allows-required-hosts",
    "custom-dns-resolves-required-hosts",
    "prod-cluster-minimum-size",
    "gpu-service-on-gpu-cluster",
    "token-auth-same-region",
    "webservice-auth-required",
    "public-endpoint-tls",
    "network-policy-enforced",
    "defender-for-containers",
    "container-insights",
    "max-models-per-deployment",
];

describe("the amlaks policy pack", () => {
    test("holds exactly the policies of the issue, each with its metadata", () => {
        assert.equal(POLICY_PACK_NAME, "amlaks");
        assert.deepEqual(
            AMLAKS_POLICIES.map((p) => p.name),
            NAMES,
        );
        for (const p of AMLAKS_POLICIES) {
            assert.match(p.name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
            assert.ok(p.description.length > 20, `${p.name}: description`);
            assert.ok(
                ["low", "medium", "high", "critical"].includes(p.severity!),
                `${p.name}: severity`,
            );
            assert.ok((p.remediationSteps ?? "").length > 20, `${p.name}: remediation`);
            assert.ok(p.configSchema?.properties.waivers, `${p.name}: waivers config`);
            assert.match(p.description, /R\d+/, `${p.name}: cites its requirement`);
        }
    });

    test("advisory by default, mandatory where the seed states a hard rule", () => {
        const mandatory = AMLAKS_POLICIES.filter((p) => p.enforcementLevel === "mandatory").map(
            (p) => p.name,
        );
        assert.deepEqual(mandatory, [
            "no-hpa-on-model-deployments",
            "cni-egress-allows-required-hosts",
            "gpu-service-on-gpu-cluster",
            "max-models-per-deployment",
        ]);
        assert.ok(
            AMLAKS_POLICIES.every(
                (p) => p.enforcementLevel === "mandatory" || p.enforcementLevel === "advisory",
            ),
        );
    });

    test("the manifests the CLI reads: PulumiPolicy.yaml and a versioned package.json", () => {
        const manifest = parse(read("policy/PulumiPolicy.yaml")) as { runtime: string };
        assert.equal(manifest.runtime, "nodejs");
        const pack = JSON.parse(read("policy/package.json")) as { version: string; main: string };
        const lib = JSON.parse(read("package.json")) as { version: string; files: string[] };
        assert.equal(pack.version, lib.version, "the pack version follows the library's");
        assert.equal(pack.main, "entry.js");
        for (const f of ["policy/PulumiPolicy.yaml", "policy/package.json", "policy/entry.js"]) {
            assert.ok(lib.files.includes(f), `package.json files ships ${f}`);
        }
        assert.ok(lib.files.includes("dist"), "the compiled pack ships in dist/policy");
    });

    test("entry.js runs the sources in the repository and dist/policy in the installed package", () => {
        const root = mkdtempSync(join(tmpdir(), "amlaks-pack-entry-"));
        try {
            const pack = join(root, "policy");
            mkdirSync(join(root, "dist", "policy"), { recursive: true });
            mkdirSync(pack);
            for (const f of ["entry.js", "package.json", "PulumiPolicy.yaml"]) {
                copyFileSync(join(REPO, "policy", f), join(pack, f));
            }
            const report = `console.log(JSON.stringify({ from: __filename, cwd: process.cwd() }))`;
            writeFileSync(join(root, "dist", "policy", "index.js"), report);
            const run = () =>
                JSON.parse(
                    execFileSync(
                        process.execPath,
                        ["--import", "tsx", "-e", `require(${JSON.stringify(pack)})`],
                        {
                            cwd: REPO,
                            encoding: "utf8",
                        },
                    ),
                ) as { from: string; cwd: string };
            // Installed package: no sources next to entry.js.
            assert.deepEqual(run(), { from: join(root, "dist", "policy", "index.js"), cwd: pack });
            // Repository: the TypeScript sources.
            writeFileSync(join(pack, "index.ts"), report);
            assert.deepEqual(run(), { from: join(pack, "index.ts"), cwd: pack });
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });

    test("constants kept as literals equal the components' (the pack does not load provider SDKs)", () => {
        assert.equal(AKS_WEBSERVICE_TOKEN, AKS_WEBSERVICE_TYPE);
        assert.ok(read("components/cluster/index.ts").includes(`"${AKS_INFERENCE_CLUSTER_TOKEN}"`));
        assert.ok(read("components/workspace/index.ts").includes(`"${AML_WORKSPACE_TOKEN}"`));
        assert.equal(PACK_DNS_LABEL, AZURE_DNS_LABEL);
        assert.equal(PACK_LB_INTERNAL, AZURE_LB_INTERNAL);
    });

    test("docs/policy.md documents every policy", () => {
        const doc = read("docs/policy.md");
        for (const name of NAMES) assert.ok(doc.includes(`\`${name}\``), `docs/policy.md: ${name}`);
    });
});
