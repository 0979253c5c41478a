/**
 * `npm run cluster:up` / `npm run cluster:down` / `npm run cluster:env`: a real control plane on
 * 127.0.0.1 for a person, left running between commands (its processes are detached and recorded
 * by PID in the state folder).
 *
 *   npm run cluster:up               # prints the kubeconfig path
 *   npm run cluster:env              # eval "$(npm run -s cluster:env)" -> KUBECONFIG, PATH, PULUMI_*
 *   npm run cluster:down             # stops everything cluster:up started, removes the state
 *
 * State folder: $AMLAKS_CLUSTER_DIR (default .amlaks/cluster, git-ignored). It also holds a Pulumi
 * home and file backend (cluster:env points the CLI there), so no Pulumi account is needed.
 */
import { existsSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { startCluster } from "./control-plane";
import { readPids, stopAll } from "./processes";
import { createEngine, pulumiEnvironment } from "../pulumi/engine";

const stateDir = resolve(process.env.AMLAKS_CLUSTER_DIR ?? ".amlaks/cluster");

async function up(): Promise<void> {
    if (readPids(stateDir).length > 0) {
        console.error(
            `a cluster is already recorded in ${stateDir}; run \`npm run cluster:down\` first`,
        );
        process.exit(2);
    }
    const t0 = Date.now();
    const c = await startCluster({ stateDir, attached: false });
    // An offline Pulumi home and file backend beside it, with the built provider installed.
    await createEngine(resolve(stateDir, "pulumi"));
    console.log(
        `Kubernetes ${c.version} ready at ${c.server} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    console.log(`kubeconfig: ${c.kubeconfigPath}`);
    console.log(`processes: ${c.processes.map((p) => `${p.name}(${p.pid})`).join(" ")}`);
    console.log(
        'environment for the Pulumi CLI and kubeconfig tools: eval "$(npm run -s cluster:env)"',
    );
}

async function down(): Promise<void> {
    const n = readPids(stateDir).length;
    await stopAll(stateDir);
    if (existsSync(stateDir)) rmSync(stateDir, { recursive: true, force: true });
    console.log(`stopped ${n} process(es); removed ${stateDir}`);
}

function env(): void {
    const vars = {
        KUBECONFIG: resolve(stateDir, "kubeconfig"),
        ...pulumiEnvironment(resolve(stateDir, "pulumi")),
    };
    for (const [k, v] of Object.entries(vars))
        console.log(`export ${k}='${v.replace(/'/g, "'\\''")}'`);
}

const cmd = process.argv[2];
const run: Record<string, () => void | Promise<void>> = { up, down, env };
const fn = cmd ? run[cmd] : undefined;
if (!fn) {
    console.error("usage: cli.ts up|down|env");
    process.exit(2);
}
Promise.resolve(fn()).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
});
