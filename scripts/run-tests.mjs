// Runs every test/**/*.test.ts with node's built-in runner (TypeScript through tsx).
// `npm test -- test/router` limits the run to files under the given paths.
// `--e2e` runs test/e2e/**/*.e2e.ts instead, one file at a time (each starts a control plane and
// drives the real Pulumi CLI; see README "Testing against a real Kubernetes API and Pulumi engine").
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const e2e = process.argv.includes("--e2e");
const suffix = e2e ? ".e2e.ts" : ".test.ts";

function collect(path, out) {
    if (statSync(path).isDirectory()) {
        for (const entry of readdirSync(path).sort()) {
            if (entry === "node_modules" || entry === "fixtures") continue;
            collect(join(path, entry), out);
        }
    } else if (path.endsWith(suffix)) {
        out.push(path);
    }
    return out;
}

const roots = process.argv.slice(2).filter((a) => a !== "--e2e");
const files = (roots.length > 0 ? roots : [e2e ? "test/e2e" : "test"]).flatMap((r) =>
    collect(r, []),
);
if (files.length === 0) {
    console.error(`no ${suffix} files under ${roots.join(", ")}`);
    process.exit(1);
}
const result = spawnSync(
    process.execPath,
    [
        "--import",
        "tsx",
        "--test",
        `--test-concurrency=${e2e ? 1 : 2}`,
        "--test-reporter=spec",
        ...(e2e ? ["--test-timeout=900000"] : []),
        ...files,
    ],
    { stdio: "inherit" },
);
process.exit(result.status ?? 1);
