// Runs every test/**/*.test.ts with node's built-in runner (TypeScript through tsx).
// `npm test -- test/router` limits the run to files under the given paths.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function collect(path, out) {
    if (statSync(path).isDirectory()) {
        for (const entry of readdirSync(path).sort()) {
            if (entry === "node_modules" || entry === "fixtures") continue;
            collect(join(path, entry), out);
        }
    } else if (path.endsWith(".test.ts")) {
        out.push(path);
    }
    return out;
}

const roots = process.argv.slice(2);
const files = (roots.length > 0 ? roots : ["test"]).flatMap((r) => collect(r, []));
if (files.length === 0) {
    console.error(`no test files under ${roots.join(", ")}`);
    process.exit(1);
}
const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "--test", "--test-concurrency=2", "--test-reporter=spec", ...files],
    { stdio: "inherit" },
);
process.exit(result.status ?? 1);
