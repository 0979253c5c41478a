/**
 * One stack of a program run by the real CLI. Its config lives in a file outside the program folder
 * (`--config-file`), so running the repository's own programs leaves nothing behind in it.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Engine, RunResult } from "./engine";

export interface StateResource {
    readonly urn: string;
    readonly type: string;
    readonly inputs?: Record<string, unknown>;
    readonly outputs?: Record<string, unknown>;
}

/** One step of `pulumi preview --json`. */
export interface PreviewStep {
    readonly op: string;
    readonly urn: string;
    readonly diffReasons?: string[];
}

export class Stack {
    readonly configFile: string;

    constructor(
        readonly engine: Engine,
        readonly programDir: string,
        readonly name: string,
    ) {
        this.configFile = join(engine.dir, `Pulumi.${name}.yaml`);
    }

    /** `--stack`, and `--config-file` for the commands that read or write config. */
    private withConfig(args: string[]): string[] {
        const readsConfig = ["config", "preview", "up", "refresh", "destroy"].includes(args[0]!);
        return [
            ...args,
            "--stack",
            this.name,
            ...(readsConfig ? ["--config-file", this.configFile] : []),
        ];
    }

    run(args: string[]): Promise<RunResult> {
        return this.engine.run(this.withConfig(args), this.programDir);
    }

    ok(args: string[]): Promise<RunResult> {
        return this.engine.ok(this.withConfig(args), this.programDir);
    }

    async init(
        config: Record<string, string>,
        secrets: Record<string, string> = {},
    ): Promise<void> {
        await this.engine.ok(["stack", "init", this.name], this.programDir);
        for (const [k, v] of Object.entries(config)) await this.setConfig(k, v);
        // Secret values go through stdin, never argv (visible in the process list).
        for (const [k, v] of Object.entries(secrets)) await this.setConfig(k, v, true);
    }

    async setConfig(key: string, value: string, secret = false): Promise<void> {
        const args = this.withConfig(["config", "set", key, ...(secret ? ["--secret"] : [])]);
        await this.engine.ok(args, this.programDir, value);
    }

    async removeConfig(key: string): Promise<void> {
        await this.ok(["config", "rm", key]);
    }

    /** `pulumi preview --json`: the planned steps (same/create/update/delete/replace...). */
    async previewSteps(): Promise<PreviewStep[]> {
        const r = await this.ok(["preview", "--json"]);
        return (JSON.parse(r.stdout) as { steps?: PreviewStep[] }).steps ?? [];
    }

    up(): Promise<RunResult> {
        return this.run(["up", "--yes", "--skip-preview"]);
    }

    async outputs(): Promise<Record<string, unknown>> {
        const r = await this.ok(["stack", "output", "--json", "--show-secrets"]);
        return JSON.parse(r.stdout) as Record<string, unknown>;
    }

    async resources(): Promise<StateResource[]> {
        const r = await this.ok(["stack", "export"]);
        const doc = JSON.parse(r.stdout) as { deployment?: { resources?: StateResource[] } };
        return doc.deployment?.resources ?? [];
    }

    /** The raw checkpoint files of this stack in the file backend (what sits on disk). */
    stateFiles(): string[] {
        const root = join(this.engine.dir, "state", ".pulumi", "stacks");
        const out: string[] = [];
        const walk = (d: string): void => {
            for (const e of readdirSync(d, { withFileTypes: true })) {
                const p = join(d, e.name);
                if (e.isDirectory()) walk(p);
                else if (e.name.startsWith(`${this.name}.json`)) out.push(p);
            }
        };
        walk(root);
        return out;
    }

    stateText(): string {
        return this.stateFiles()
            .map((f) => readFileSync(f, "utf8"))
            .join("\n");
    }
}

/** Steps that change something (everything but `same`, `read` and the stack itself). */
export function changes(steps: readonly PreviewStep[]): PreviewStep[] {
    return steps.filter(
        (s) => s.op !== "same" && s.op !== "read" && !s.urn.includes("::pulumi:pulumi:Stack::"),
    );
}

/** The `<type>::<name>` tail of a URN. */
export function urnTail(urn: string): string {
    const parts = urn.split("::");
    const type = parts[2]!.split("$").pop()!;
    return `${type}::${parts[3]}`;
}
