/**
 * The real Pulumi CLI, offline: a local file backend, its own PULUMI_HOME, no update checks and no
 * plugin downloads; the Kubernetes provider and the Node.js language host come from the tools
 * folder (`scripts/tools/build.sh`).
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { PULUMI_TOOLS, requireTools, toolsDir } from "../cluster/tools";

/** Passphrase of the e2e stacks' secrets provider: a test value, the state stays on this machine. */
export const E2E_PASSPHRASE = "amlaks-e2e-passphrase";

/**
 * Environment for running the CLI with everything under `dir`. `ambient`: also use plugins found on
 * PATH (the built provider answers a program whatever @pulumi/kubernetes 4.x it asks for, with a
 * warning); the tests turn it off so only the installed, exactly pinned provider is used.
 */
export function pulumiEnvironment(dir: string, ambient = true): Record<string, string> {
    return {
        ...(ambient ? {} : { PULUMI_IGNORE_AMBIENT_PLUGINS: "true" }),
        PULUMI_HOME: join(dir, "home"),
        PULUMI_BACKEND_URL: `file://${join(dir, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: E2E_PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
        // Programs are TypeScript; type checking is `npm run typecheck`'s job.
        PULUMI_NODEJS_TRANSPILE_ONLY: "true",
        PATH: [join(toolsDir(), "bin"), dirname(process.execPath), process.env.PATH ?? ""].join(
            ":",
        ),
    };
}

export interface RunResult {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

export interface Engine {
    readonly dir: string;
    readonly env: NodeJS.ProcessEnv;
    /** Runs `pulumi <args>` in `cwd`; never throws on a non-zero exit. */
    run(args: readonly string[], cwd: string, input?: string): Promise<RunResult>;
    /** Like run, but throws with the output when the exit code is not 0. */
    ok(args: readonly string[], cwd: string, input?: string): Promise<RunResult>;
}

/** Sets up a PULUMI_HOME and a file backend under `dir`, with the provider plugin installed. */
export async function createEngine(dir: string): Promise<Engine> {
    const tools = requireTools(PULUMI_TOOLS);
    const penv = pulumiEnvironment(dir, false);
    mkdirSync(penv.PULUMI_HOME!, { recursive: true });
    mkdirSync(join(dir, "state"), { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, ...penv };
    // Keys of the caller's own Pulumi setup must not leak into the test stacks.
    delete env.PULUMI_ACCESS_TOKEN;
    delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
    const run = (args: readonly string[], cwd: string, input?: string): Promise<RunResult> =>
        new Promise((resolve, reject) => {
            const child = spawn(tools.pulumi, [...args, "--non-interactive"], { cwd, env });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            child.on("error", reject);
            child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
            child.stdin.end(input ?? "");
        });
    const ok = async (args: readonly string[], cwd: string, input?: string): Promise<RunResult> => {
        const r = await run(args, cwd, input);
        if (r.code !== 0) {
            throw new Error(
                `pulumi ${args.join(" ")} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
            );
        }
        return r;
    };
    const version = kubernetesProviderVersion();
    await ok(
        [
            "plugin",
            "install",
            "resource",
            "kubernetes",
            version,
            "--file",
            tools.pulumiResourceKubernetes,
        ],
        dir,
    );
    return { dir, env, run, ok };
}

/** The provider version the npm SDK asks for (pinned with tools/pulumi-kubernetes/VERSION). */
export function kubernetesProviderVersion(): string {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("@pulumi/kubernetes/package.json") as { version: string }).version;
}
