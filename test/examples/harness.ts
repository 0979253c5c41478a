/**
 * Runs an example program as `pulumi up` would, under Pulumi mocks: its own folder as working
 * directory, its stack config, a fresh load of its index.ts, and the amlaks policy pack evaluated
 * over everything it registered (`evaluatePolicyPackDetailed`, the helper the README offers for
 * users' own stacks). Azure answers come from the helper's default mocks, plus what an example
 * needs on top (a registry login server on 127.0.0.1, a router load balancer address).
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import {
    evaluatePolicyPackDetailed,
    type EvaluatePolicyPackOptions,
    type PolicyPackEvaluation,
} from "../../policy/testing";
import { defaultCall, defaultResourceState } from "../../policy/lib/mock-state";

// Recorded inputs and states are untyped JSON.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = any;

export const EXAMPLES = path.resolve(__dirname, "..", "..", "examples");

/** The address the router's LoadBalancer Service reports (TEST-NET-3: never contacted). */
export const LB_IP = "203.0.113.7";

/** One registered resource: what the program asked for and what the mocks answered. */
export interface Registered {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, Any>;
    readonly state: Record<string, Any>;
}

export interface ExampleRun {
    readonly resources: Registered[];
    /** The program's exports, resolved (secret values included). */
    readonly outputs: Record<string, unknown>;
    /** Names of the exports that are Pulumi secrets. */
    readonly secretOutputs: string[];
    readonly evaluation: PolicyPackEvaluation;
}

export interface RunOptions {
    /** Stack config of the program's project (`<project>:<key>`), e.g. `{ routerImage: "..." }`. */
    readonly config?: Record<string, string>;
    /** Secret stack config (`pulumi config set --secret`). */
    readonly secrets?: Record<string, string>;
    /** Config of other namespaces, full keys, e.g. `{ "azure-native:location": "westeurope" }`. */
    readonly providerConfig?: Record<string, string>;
    /** Login server the workspace registry reports (a registry on 127.0.0.1). */
    readonly registryServer?: string;
    /** Answers for invokes, asked before the defaults (e.g. an existing AKS cluster). */
    readonly call?: (args: pulumi.runtime.MockCallArgs) => Record<string, unknown> | undefined;
    /** Changes the state a resource reports (asked after the defaults). */
    readonly state?: (r: Registered) => Record<string, Any> | undefined;
    /** Run as a first `pulumi preview`: computed outputs unknown. @default false */
    readonly preview?: boolean;
    /** Policy pack config, as `--policy-pack-config`. @default { all: "mandatory" } */
    readonly policyConfig?: EvaluatePolicyPackOptions["config"];
}

/** The project name in an example's Pulumi.yaml (the config namespace of `new pulumi.Config()`). */
export function projectOf(example: string): string {
    const doc = parse(readFileSync(path.join(EXAMPLES, example, "Pulumi.yaml"), "utf8")) as {
        name: string;
    };
    return doc.name;
}

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Inputs as the provider would receive them: secret markers replaced by their values. */
function unwrapSecrets(v: unknown): Any {
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (v !== null && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[SIG_KEY] === SECRET_SIG) return unwrapSecrets(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

function value<T>(o: unknown): Promise<T> {
    return pulumi.Output.isInstance(o)
        ? (o as unknown as { promise(): Promise<T> }).promise()
        : Promise.resolve(o as T);
}

function isSecret(o: unknown): Promise<boolean> {
    return pulumi.Output.isInstance(o)
        ? (o as unknown as { isSecret: Promise<boolean> }).isSecret
        : Promise.resolve(false);
}

/** Runs `examples/<example>/index.ts` under mocks and evaluates the policy pack over it. */
export async function runExample(example: string, opts: RunOptions = {}): Promise<ExampleRun> {
    const project = projectOf(example);
    const dir = path.join(EXAMPLES, example);
    const config: Record<string, string> = { ...(opts.providerConfig ?? {}) };
    for (const [k, v] of Object.entries({ ...opts.config, ...opts.secrets })) {
        config[`${project}:${k}`] = v;
    }
    pulumi.runtime.setAllConfig(
        config,
        Object.keys(opts.secrets ?? {}).map((k) => `${project}:${k}`),
    );

    const resources: Registered[] = [];
    const outputs: Record<string, unknown> = {};
    const secretOutputs: string[] = [];
    const cwd = process.cwd();
    try {
        const evaluation = await evaluatePolicyPackDetailed(
            async () => {
                // `pulumi up` runs the program in its folder, once per run.
                process.chdir(dir);
                const file = require.resolve(dir);
                delete require.cache[file];
                // eslint-disable-next-line @typescript-eslint/no-require-imports
                const exported = require(file) as Record<string, unknown>;
                for (const [k, v] of Object.entries(exported)) {
                    outputs[k] = await value(v);
                    if (await isSecret(v)) secretOutputs.push(k);
                }
            },
            {
                project,
                stack: "dev",
                preview: opts.preview ?? false,
                config: opts.policyConfig ?? { all: "mandatory" },
                mocks: {
                    newResource: (args) => {
                        const { id, state } = defaultResourceState(args, opts.preview ?? false);
                        const r: Registered = {
                            type: args.type,
                            name: args.name,
                            inputs: unwrapSecrets(args.inputs),
                            state,
                        };
                        if (
                            args.type === "azure-native:containerregistry:Registry" &&
                            opts.registryServer
                        ) {
                            state.loginServer = opts.registryServer;
                        }
                        if (
                            args.type === "kubernetes:core/v1:Service" &&
                            (state.spec as { type?: string } | undefined)?.type === "LoadBalancer"
                        ) {
                            state.status = { loadBalancer: { ingress: [{ ip: LB_IP }] } };
                        }
                        Object.assign(state, opts.state?.(r) ?? {});
                        resources.push(r);
                        return { id, state };
                    },
                    call: (args) => opts.call?.(args) ?? defaultCall(args),
                },
            },
        );
        return { resources, outputs, secretOutputs, evaluation };
    } finally {
        process.chdir(cwd);
    }
}

/** The resources of one type. */
export function ofType(run: ExampleRun, type: string): Registered[] {
    return run.resources.filter((r) => r.type === type);
}

/** The one resource of a type (and name suffix), or a failed assertion naming what exists. */
export function one(run: ExampleRun, type: string, nameEndsWith = ""): Registered {
    const found = ofType(run, type).filter((r) => r.name.endsWith(nameEndsWith));
    if (found.length !== 1) {
        throw new Error(
            `expected one ${type} named *${nameEndsWith}, found ${found.map((r) => r.name).join(", ") || "none"}`,
        );
    }
    return found[0]!;
}

/**
 * Validates every Kubernetes object a run registered against the Kubernetes OpenAPI schema
 * (kubernetes-models), by its apiVersion and kind.
 */
export function validateKubernetesObjects(run: ExampleRun): number {
    let n = 0;
    for (const r of run.resources) {
        if (!r.type.startsWith("kubernetes:") || r.type.startsWith("kubernetes:yaml")) continue;
        const { apiVersion, kind } = r.inputs as { apiVersion: string; kind: string };
        const modulePath = `kubernetes-models/${apiVersion.includes("/") ? apiVersion : `v1`}/${kind}`;
        type ModelClass = new (d: unknown) => { validate(): void };
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const models = require(modulePath) as Record<string, ModelClass>;
        const Model = models[kind]!;
        try {
            new Model(JSON.parse(JSON.stringify(r.inputs))).validate();
        } catch (e) {
            throw new Error(`${r.type} ${r.name}: ${(e as Error).message}`);
        }
        n++;
    }
    return n;
}

/** The model Deployment's only container. */
export function modelContainer(run: ExampleRun, service: string): Any {
    const d = one(run, "kubernetes:apps/v1:Deployment", `${service}-deployment`);
    return d.inputs.spec.template.spec.containers[0];
}

/** `name=value` of a container's environment. */
export function envOf(container: Any): Record<string, string> {
    return Object.fromEntries(
        ((container.env ?? []) as { name: string; value?: string }[]).map((e) => [
            e.name,
            e.value ?? "",
        ]),
    );
}
