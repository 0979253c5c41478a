/**
 * The documentation users follow names only what exists: the migration guide's argument columns
 * against the components' argument lists, and the README's example table against the examples,
 * their tests and the real-engine suite.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { AKS_INFERENCE_CLUSTER_ARG_NAMES } from "../../components/cluster/args";
import { WEBSERVICE_SETTING_FIELDS } from "../../components/settings";
import { AML_WORKSPACE_ARG_NAMES } from "../../components/workspace/validate";
import { EXAMPLES } from "./harness";

const ROOT = path.resolve(__dirname, "..", "..");

/** v1's `AksWebservice.deploy_configuration` parameters (azureml-core, aml-v1-spec §1.1). */
const DEPLOY_CONFIGURATION_PARAMETERS = [
    "autoscale_enabled",
    "autoscale_min_replicas",
    "autoscale_max_replicas",
    "autoscale_refresh_seconds",
    "autoscale_target_utilization",
    "collect_model_data",
    "auth_enabled",
    "cpu_cores",
    "memory_gb",
    "cpu_cores_limit",
    "memory_gb_limit",
    "gpu_cores",
    "enable_app_insights",
    "scoring_timeout_ms",
    "replica_max_concurrent_requests",
    "max_request_wait_time",
    "num_replicas",
    "primary_key",
    "secondary_key",
    "tags",
    "properties",
    "description",
    "period_seconds",
    "initial_delay_seconds",
    "timeout_seconds",
    "success_threshold",
    "failure_threshold",
    "namespace",
    "token_auth_enabled",
    "compute_target_name",
    "blobfuse_enabled",
];
const GUIDE = readFileSync(path.join(ROOT, "docs", "migration-from-v1.md"), "utf8");
const README = readFileSync(path.join(ROOT, "README.md"), "utf8");

/** The rows of the markdown table under `heading` (up to the next heading), as cells. */
function table(doc: string, heading: string): string[][] {
    const start = doc.indexOf(`\n${heading}\n`);
    assert.ok(start >= 0, `heading ${heading}`);
    const rest = doc.slice(start + heading.length + 2);
    const end = rest.search(/\n#{2,3} /);
    return (end >= 0 ? rest.slice(0, end) : rest)
        .split("\n")
        .filter((l) => l.startsWith("| ") && !l.startsWith("| ---"))
        .slice(1) // header row
        .map((l) => l.slice(2, -2).split(" | "));
}

/** camelCase identifiers in backticks in a cell (`cpuCores`, not `"DevTest"` or `a.b`). */
function identifiers(cell: string): string[] {
    return [...cell.matchAll(/`([a-z][A-Za-z0-9]*)`/g)].map((m) => m[1]!);
}

describe("docs/migration-from-v1.md", () => {
    test("every deploy_configuration row maps to a web-service setting (or cluster), and every setting has a row", () => {
        const rows = table(GUIDE, "## `AksWebservice.deploy_configuration`");
        const named = rows.flatMap((r) => identifiers(r[2] ?? ""));
        for (const n of named) {
            assert.ok(WEBSERVICE_SETTING_FIELDS.includes(n) || n === "cluster", `unknown arg ${n}`);
        }
        // aml-v1-spec §1.1: every parameter of AksWebservice.deploy_configuration.
        const v1 = rows.flatMap((r) => [...r[0]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!));
        assert.deepEqual(v1.sort(), [...DEPLOY_CONFIGURATION_PARAMETERS].sort());
        for (const f of WEBSERVICE_SETTING_FIELDS) {
            if (["name", "models"].includes(f)) continue;
            assert.ok(GUIDE.includes(`\`${f}\``), `the guide names setting ${f}`);
        }
    });

    test("every provisioning_configuration and attach_configuration row names cluster args that exist", () => {
        for (const heading of [
            "## `AksCompute.provisioning_configuration`",
            "## `AksCompute.attach_configuration`",
        ]) {
            const rows = table(GUIDE, heading);
            assert.ok(rows.length >= 5, heading);
            for (const n of rows.flatMap((r) => identifiers(r[1] ?? ""))) {
                assert.ok(
                    AKS_INFERENCE_CLUSTER_ARG_NAMES.includes(n),
                    `${heading}: unknown arg ${n}`,
                );
            }
        }
        // v1's provisioning parameters, each with a row.
        const provisioning = table(GUIDE, "## `AksCompute.provisioning_configuration`")
            .map((r) => r[0])
            .join(" ");
        for (const p of [
            "agent_count",
            "vm_size",
            "location",
            "cluster_purpose",
            "load_balancer_type",
            "load_balancer_subnet",
            "vnet_resourcegroup_name",
            "vnet_name",
            "subnet_name",
            "service_cidr",
            "dns_service_ip",
            "docker_bridge_cidr",
            "ssl_cname",
            "ssl_cert_pem_file",
            "ssl_key_pem_file",
        ]) {
            assert.ok(provisioning.includes(`\`${p}\``), p);
        }
        const attach = table(GUIDE, "## `AksCompute.attach_configuration`")
            .map((r) => r[0])
            .join(" ");
        for (const p of ["resource_id", "resource_group", "cluster_name", "cluster_purpose"]) {
            assert.ok(attach.includes(`\`${p}\``), p);
        }
    });

    test("the workspace rows name AmlWorkspace args (or, for an existing workspace, cluster args) that exist", () => {
        const rows = table(GUIDE, "## Workspace");
        for (const n of rows.flatMap((r) => identifiers(r[1] ?? ""))) {
            assert.ok(
                AML_WORKSPACE_ARG_NAMES.includes(n) || AKS_INFERENCE_CLUSTER_ARG_NAMES.includes(n),
                `unknown arg ${n}`,
            );
        }
    });
});

describe("README examples table", () => {
    const rows = table(README, "## Examples");
    const listed = rows.map((r) => /\[([a-z-]+)\]\(examples\/\1\/README\.md\)/.exec(r[0]!)?.[1]);
    const e2e = readFileSync(path.join(ROOT, "test", "e2e", "examples.e2e.ts"), "utf8");

    test("lists every example, each a program with its README and its test", () => {
        const dirs = readdirSync(EXAMPLES, { withFileTypes: true })
            .filter((d) => d.isDirectory())
            .map((d) => d.name)
            .sort();
        assert.deepEqual([...listed].sort(), dirs);
        for (const dir of dirs.filter((d) => d !== "sample")) {
            const pkg = JSON.parse(readFileSync(path.join(EXAMPLES, dir, "package.json"), "utf8"));
            assert.equal(pkg.main, "index.ts", dir);
            for (const f of ["Pulumi.yaml", "index.ts", "README.md"]) {
                assert.ok(existsSync(path.join(EXAMPLES, dir, f)), `${dir}/${f}`);
            }
            assert.ok(
                existsSync(path.join(__dirname, `${dir}.test.ts`)),
                `test/examples/${dir}.test.ts`,
            );
        }
    });

    test("the examples marked for the real engine are the ones test/e2e/examples.e2e.ts runs", () => {
        rows.forEach((r, i) => {
            const name = listed[i]!;
            const runs = e2e.includes(`describe("examples/${name}"`);
            assert.equal(r[2] === "yes", runs, `${name}: "${r[2]}"`);
        });
    });
});

/** GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
    return heading
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-");
}

describe("relative links in the README, the migration guide and the examples' READMEs", () => {
    const docs = [
        "README.md",
        "docs/migration-from-v1.md",
        ...readdirSync(EXAMPLES)
            .filter((d) => existsSync(path.join(EXAMPLES, d, "README.md")))
            .map((d) => `examples/${d}/README.md`),
    ];
    for (const doc of docs) {
        test(`${doc}: every file exists and every #anchor is a heading`, () => {
            const text = readFileSync(path.join(ROOT, doc), "utf8");
            for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
                if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
                const [file, anchor] = target!.split("#") as [string, string | undefined];
                const resolved = file
                    ? path.resolve(path.dirname(path.join(ROOT, doc)), file)
                    : path.join(ROOT, doc);
                assert.ok(existsSync(resolved), `${doc}: ${target} does not exist`);
                if (anchor === undefined) continue;
                const headings = readFileSync(resolved, "utf8")
                    .split("\n")
                    .filter((l) => /^#{1,6} /.test(l))
                    .map((l) => slug(l.replace(/^#+ /, "")));
                assert.ok(
                    headings.includes(anchor),
                    `${doc}: #${anchor} is not a heading of ${file || doc}`,
                );
            }
        });
    }
});
