/**
 * `evaluatePolicyPack`: runs a Pulumi program under mocks (no CLI, no cloud) and evaluates the
 * amlaks policy pack on every resource it registered, as `pulumi preview --policy-pack` would:
 * resource policies on each resource's inputs, stack policies on the whole stack (outputs,
 * parents, dependencies), the same policy objects, config reconciled as the engine does.
 *
 * Calls are serialised (the Pulumi runtime state is process-wide) and each one starts from fresh
 * mocks, so resources of one call never show up in another.
 */
import type {
    EnforcementLevel,
    Policy,
    PolicyPackConfig,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationPolicy,
} from "@pulumi/policy/policy";
import * as pulumi from "@pulumi/pulumi";
import { type ResolvedPolicyConfig, reconcileConfig } from "./lib/config";
import { notForType } from "./lib/core";
import { defaultCall, defaultResourceState } from "./lib/mock-state";
import { AMLAKS_POLICIES } from "./policies";

/** Runtime internals the helper uses, loaded on first use (importing the package stays cheap). */
interface Internals {
    /** @pulumi/policy's deserialisation, so the policies see what the engine's analyzer hands them. */
    deserializeProperties(struct: Struct, proxySecrets: boolean): Record<string, unknown>;
    /** @pulumi/policy's unknown-checking proxy around properties. */
    unknownCheckingProxy<T>(v: T): T;
    UnknownValueError: new (...args: never[]) => Error;
    /** Forgets the runtime's record of unsettled promises (reset by every setMocks). */
    leakedPromises(): [Set<unknown>, string];
}
let internals: Internals | undefined;
function runtimeInternals(): Internals {
    /* eslint-disable @typescript-eslint/no-require-imports */
    internals ??= {
        ...(require("@pulumi/policy/deserialize") as Pick<Internals, "deserializeProperties">),
        ...(require("@pulumi/policy/proxy") as Pick<
            Internals,
            "unknownCheckingProxy" | "UnknownValueError"
        >),
        ...(require("@pulumi/pulumi/runtime/debuggable") as Pick<Internals, "leakedPromises">),
    };
    /* eslint-enable @typescript-eslint/no-require-imports */
    return internals;
}

/** A protobuf Struct as the mock monitor passes them. */
interface Struct {
    toJavaScript(): Record<string, unknown>;
}

/** One policy violation. */
export interface PolicyViolation {
    /** Policy name, e.g. `no-hpa-on-model-deployments`. */
    readonly policy: string;
    /** What is wrong and how to fix it. */
    readonly message: string;
    /** URN of the resource the violation is about. */
    readonly urn: string;
    /** `advisory` or `mandatory` (a mandatory violation fails `pulumi preview`/`up`). */
    readonly enforcementLevel: EnforcementLevel;
}

/** A policy that did not apply to a resource (or the stack), with the reason it gave. */
export interface PolicyNotApplicable {
    readonly policy: string;
    /** The resource (resource policies); absent for stack policies. */
    readonly urn?: string;
    readonly reason: string;
}

/** Options of {@link evaluatePolicyPack}. */
export interface EvaluatePolicyPackOptions {
    /**
     * Policy pack config, as in a `--policy-pack-config` file: `{ "all": "mandatory" }` raises
     * every policy; `{ "<policy>": "<level>" | { enforcementLevel?, ...properties } }` sets one.
     * @default {} (each policy's own level and defaults)
     */
    readonly config?: PolicyPackConfig;
    /** Project name. @default "project" */
    readonly project?: string;
    /** Stack name. @default "stack" */
    readonly stack?: string;
    /**
     * Run as a preview: computed outputs (ARM ids, FQDNs, digests) are unknown, as in
     * `pulumi preview` before the first `up`.
     * @default false
     */
    readonly preview?: boolean;
    /**
     * Your own answers for resources and invokes, asked first; return `undefined` to fall back to
     * the defaults (inputs echoed, plus the outputs the components read).
     * @default - the defaults only
     */
    readonly mocks?: {
        readonly newResource?: (
            args: pulumi.runtime.MockResourceArgs,
        ) => { id: string | undefined; state: Record<string, unknown> } | undefined;
        readonly call?: (args: pulumi.runtime.MockCallArgs) => Record<string, unknown> | undefined;
    };
}

/** A resource the program registered, as the policies saw it. */
export interface EvaluatedResource {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    readonly parent?: string;
}

/** Everything {@link evaluatePolicyPackDetailed} found. */
export interface PolicyPackEvaluation {
    readonly violations: PolicyViolation[];
    readonly notApplicable: PolicyNotApplicable[];
    readonly resources: EvaluatedResource[];
}

/** What the mock monitor was asked and answered for one resource. */
interface Captured {
    urn: string;
    type: string;
    name: string;
    custom: boolean;
    parent: string;
    provider: string;
    dependencies: string[];
    propertyDependencies: Record<string, string[]>;
    inputs: Struct | undefined;
    outputs: Struct | undefined;
    opts: ResourceValidationArgs["opts"];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/**
 * The URN the engine gives: the mock monitor puts the root stack's type in the type chain of its
 * children (`pulumi:pulumi:Stack$kubernetes:...`), the engine does not.
 */
function engineUrn(urn: string): string {
    return urn.replace("::pulumi:pulumi:Stack$", "::");
}

/** Collects registrations by wrapping the mock monitor's RPC methods. */
function captureRegistrations(monitor: Any, captured: Map<string, Captured>): void {
    const wrap = (method: "registerResource" | "readResource", custom: (req: Any) => boolean) => {
        const original = monitor[method].bind(monitor);
        monitor[method] = (req: Any, callback: Any) =>
            original(req, (err: unknown, resp: Any) => {
                if (!err && resp) {
                    const urn = engineUrn(resp.getUrn());
                    const isRegister = method === "registerResource";
                    const propertyDependencies: Record<string, string[]> = {};
                    if (isRegister) {
                        for (const [k, v] of req.getPropertydependenciesMap().entries()) {
                            propertyDependencies[k] = v.getUrnsList().map(engineUrn);
                        }
                    }
                    const timeouts = isRegister ? req.getCustomtimeouts() : undefined;
                    captured.set(urn, {
                        urn,
                        type: req.getType(),
                        name: req.getName(),
                        custom: custom(req),
                        parent: engineUrn(req.getParent()),
                        provider: engineUrn(req.getProvider()),
                        dependencies: isRegister ? req.getDependenciesList().map(engineUrn) : [],
                        propertyDependencies,
                        inputs: isRegister ? req.getObject() : req.getProperties(),
                        outputs: custom(req)
                            ? (resp.getObject?.() ?? resp.getProperties?.())
                            : undefined,
                        opts: {
                            protect: isRegister ? req.getProtect() : false,
                            ignoreChanges: isRegister ? req.getIgnorechangesList() : [],
                            aliases: isRegister ? req.getAliasurnsList() : [],
                            customTimeouts: {
                                createSeconds: Number(timeouts?.getCreate?.() || 0),
                                updateSeconds: Number(timeouts?.getUpdate?.() || 0),
                                deleteSeconds: Number(timeouts?.getDelete?.() || 0),
                            },
                            additionalSecretOutputs: isRegister
                                ? req.getAdditionalsecretoutputsList()
                                : [],
                            parent: engineUrn(req.getParent()) || undefined,
                        },
                    });
                }
                callback(err, resp);
            });
    };
    wrap("registerResource", (req) => req.getCustom());
    wrap("readResource", () => true);
    const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
    monitor.registerResourceOutputs = (req: Any, callback: Any) => {
        const c = captured.get(engineUrn(req.getUrn()));
        if (c && !c.custom) c.outputs = req.getOutputs();
        return registerOutputs(req, callback);
    };
}

/** Signature of a serialised resource reference. */
const RESOURCE_REFERENCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

/**
 * Resource references become their id (custom resources) or URN (components), as the engine
 * marshals properties for analyzers, which do not take references.
 */
function downgradeReferences(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(downgradeReferences);
    if (v !== null && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[SIG_KEY] === RESOURCE_REFERENCE_SIG) {
            return typeof o.id === "string" && o.id !== "" ? o.id : engineUrn(String(o.urn));
        }
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, downgradeReferences(x)]));
    }
    return v;
}

function props(s: Struct | undefined): Record<string, unknown> {
    const { deserializeProperties, unknownCheckingProxy } = runtimeInternals();
    if (!s) return unknownCheckingProxy({});
    const plain = downgradeReferences(s.toJavaScript()) as Record<string, unknown>;
    return unknownCheckingProxy(deserializeProperties({ toJavaScript: () => plain }, false));
}

/** The `urn` part of a `urn::id` provider reference. */
function providerUrn(ref: string): string {
    const i = ref.lastIndexOf("::");
    return i > 0 ? ref.slice(0, i) : ref;
}

class NotApplicable extends Error {
    constructor(readonly reason: string) {
        super(reason);
    }
}
const throwNotApplicable = (reason?: string): never => {
    throw new NotApplicable(reason ?? "");
};

function isTypeOf(type: string, cls: unknown): boolean {
    return (cls as { __pulumiType?: string })?.__pulumiType === type;
}

/** Runs the pack's policies over the captured resources. */
async function analyze(
    captured: readonly Captured[],
    policies: readonly (ResourceValidationPolicy | StackValidationPolicy)[],
    config: Map<string, ResolvedPolicyConfig>,
): Promise<Pick<PolicyPackEvaluation, "violations" | "notApplicable">> {
    const violations: PolicyViolation[] = [];
    const notApplicable: PolicyNotApplicable[] = [];
    const byUrn = new Map(captured.map((c) => [c.urn, c]));
    const providerOf = (c: Captured) => {
        const p = c.provider ? byUrn.get(providerUrn(c.provider)) : undefined;
        return p ? { type: p.type, props: props(p.inputs), urn: p.urn, name: p.name } : undefined;
    };

    // Stack view: outputs, with parents and dependencies as objects (as the engine builds it).
    const stackResources = new Map<string, PolicyResource>();
    for (const c of captured) {
        const outputs = props(c.outputs ?? c.inputs);
        stackResources.set(c.urn, {
            type: c.type,
            props: outputs,
            urn: c.urn,
            name: c.name,
            opts: c.opts,
            provider: providerOf(c),
            dependencies: [],
            propertyDependencies: {},
            isType: (cls) => isTypeOf(c.type, cls),
            asType: (cls) => (isTypeOf(c.type, cls) ? (outputs as Any) : undefined),
        });
    }
    const resolve = (urns: readonly string[]) =>
        urns.flatMap((u) => (stackResources.has(u) ? [stackResources.get(u)!] : []));
    for (const c of captured) {
        const r = stackResources.get(c.urn)! as Any;
        if (c.parent && stackResources.has(c.parent)) r.parent = stackResources.get(c.parent);
        r.dependencies = resolve(c.dependencies);
        r.propertyDependencies = Object.fromEntries(
            Object.entries(c.propertyDependencies).map(([k, v]) => [k, resolve(v)]),
        );
    }

    for (const policy of policies) {
        const cfg = config.get(policy.name)!;
        if (cfg.enforcementLevel === "disabled") continue;
        const level: EnforcementLevel =
            cfg.enforcementLevel === "remediate" ? "mandatory" : cfg.enforcementLevel;
        const getConfig = <T extends object>() => structuredClone(cfg.properties) as T;
        const onError = (e: unknown, urn: string | undefined) => {
            if (e instanceof NotApplicable) {
                notApplicable.push({
                    policy: policy.name,
                    ...(urn ? { urn } : {}),
                    reason: e.reason,
                });
            } else if (e instanceof runtimeInternals().UnknownValueError) {
                // What the engine does with a policy that reads an unknown value.
                violations.push({
                    policy: policy.name,
                    message: `can't run policy '${policy.name}' during preview: ${(e as Error).message}`,
                    urn: urn ?? "",
                    enforcementLevel: "advisory",
                });
            } else {
                throw e;
            }
        };
        if ("validateStack" in policy) {
            const report: ReportViolation = (message, urn) =>
                violations.push({
                    policy: policy.name,
                    message,
                    urn: urn ?? "",
                    enforcementLevel: level,
                });
            try {
                await policy.validateStack(
                    {
                        resources: [...stackResources.values()],
                        stackTags: new Map(),
                        getConfig,
                        notApplicable: throwNotApplicable,
                    },
                    report,
                );
            } catch (e) {
                onError(e, undefined);
            }
            continue;
        }
        const validations = policy.validateResource
            ? Array.isArray(policy.validateResource)
                ? policy.validateResource
                : [policy.validateResource]
            : [];
        for (const c of captured) {
            const inputs = props(c.inputs);
            const report: ReportViolation = (message, urn) =>
                violations.push({
                    policy: policy.name,
                    message,
                    urn: urn ?? c.urn,
                    enforcementLevel: level,
                });
            for (const validate of validations) {
                try {
                    await validate(
                        {
                            type: c.type,
                            props: inputs,
                            urn: c.urn,
                            name: c.name,
                            opts: c.opts,
                            provider: providerOf(c),
                            stackTags: new Map(),
                            isType: (cls) => isTypeOf(c.type, cls),
                            asType: (cls) => (isTypeOf(c.type, cls) ? (inputs as Any) : undefined),
                            getConfig,
                            notApplicable: throwNotApplicable,
                        },
                        report,
                    );
                } catch (e) {
                    if (
                        e instanceof NotApplicable &&
                        e.reason === notForType(policy.name, c.type)
                    ) {
                        continue;
                    }
                    onError(e, c.urn);
                }
            }
        }
    }
    return { violations, notApplicable };
}

let queue: Promise<unknown> = Promise.resolve();

/** Runs `fn` after every earlier call has finished (the Pulumi runtime state is global). */
function serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Longest wait for a program's registrations to finish. */
const SETTLE_TIMEOUT_MS = 60_000;

/**
 * Waits until the runtime has no RPC in flight and no registration or failure has arrived for a
 * few turns (resources created inside apply callbacks register after the program returns). After
 * a failure the runtime never drains (the failed registrations keep it busy), so quiet is enough.
 */
async function settle(captured: Map<string, unknown>, failures: unknown[]): Promise<void> {
    const waitForRPCs = (pulumi.runtime as Any).waitForRPCs as () => Promise<void>;
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    let stable = 0;
    let last = "";
    for (;;) {
        const idle = await Promise.race([
            waitForRPCs().then(() => true),
            sleep(50).then(() => false),
        ]);
        await sleep(5);
        const now = `${captured.size}/${failures.length}`;
        if (now === last) stable++;
        else {
            stable = 0;
            last = now;
        }
        if (stable >= 3 && (idle || failures.length > 0)) return;
        if (Date.now() > deadline) {
            throw new Error(
                `the program's resources did not finish registering within ${SETTLE_TIMEOUT_MS / 1000} s`,
            );
        }
    }
}

/** Runs the program under fresh mocks and returns every registration, once nothing moves. */
async function runProgram(
    program: () => unknown,
    options: EvaluatePolicyPackOptions,
): Promise<Captured[]> {
    const preview = options.preview ?? false;
    const mocks: pulumi.runtime.Mocks = {
        newResource: (args) => {
            const own = options.mocks?.newResource?.(args);
            if (own) return { id: own.id, state: own.state };
            return defaultResourceState(args, preview);
        },
        call: (args) => options.mocks?.call?.(args) ?? defaultCall(args),
    };
    await pulumi.runtime.setMocks(
        mocks,
        options.project ?? "project",
        options.stack ?? "stack",
        preview,
    );
    const captured = new Map<string, Captured>();
    captureRegistrations(pulumi.runtime.getMonitor(), captured);

    // Errors the program raises asynchronously (a ResourceError inside an apply, a registration
    // that fails) surface as unhandled rejections: they belong to this run, so this run takes
    // them (other listeners are set aside meanwhile) and reports the first.
    const failures: unknown[] = [];
    const onRejection = (reason: unknown) => failures.push(reason);
    const saved = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    process.on("unhandledRejection", onRejection);
    try {
        // The root stack first, then the program as its child: an error the program throws (a
        // component's argument validation) is caught here rather than rejected through the
        // stack resource's promises.
        await pulumi.runtime.runInPulumiStack(async () => undefined);
        try {
            await program();
        } catch (e) {
            failures.push(e);
        }
        await settle(captured, failures);
    } finally {
        process.off("unhandledRejection", onRejection);
        for (const l of saved) process.on("unhandledRejection", l);
    }
    if (failures.length > 0) {
        // The failed registrations never settle; forget them, or the runtime reports them as
        // leaked promises (and fails the process) at exit.
        runtimeInternals().leakedPromises();
        const first = failures[0];
        throw first instanceof Error ? first : new Error(String(first));
    }
    if (pulumi.log.hasErrors()) {
        throw new Error("the program logged errors (see the log above); no policy was evaluated");
    }
    return [...captured.values()];
}

/**
 * Runs `program` under Pulumi mocks and evaluates the amlaks policy pack on every resource it
 * registered (resource and stack policies). Resolves to everything the evaluation found: the
 * violations, the policies that did not apply (with their reasons: values unknown in a preview,
 * waivers) and the resources. Rejects when the program fails or the config is invalid.
 */
export function evaluatePolicyPackDetailed(
    program: () => unknown,
    options: EvaluatePolicyPackOptions = {},
): Promise<PolicyPackEvaluation> {
    return serialised(async () => {
        const policies = AMLAKS_POLICIES;
        const config = reconcileConfig(policies as readonly Policy[], "advisory", options.config);
        const captured = await runProgram(program, options);
        const result = await analyze(captured, policies, config);
        return {
            ...result,
            resources: captured.map((c) => ({
                urn: c.urn,
                type: c.type,
                name: c.name,
                custom: c.custom,
                ...(c.parent ? { parent: c.parent } : {}),
            })),
        };
    });
}

/**
 * Runs `program` under Pulumi mocks (no Pulumi CLI, no cloud) and evaluates the amlaks policy pack
 * on every resource it registered, resource and stack policies alike. Resolves to the violations
 * (`{ policy, message, urn, enforcementLevel }`); an empty list means the stack passes.
 *
 * ```ts
 * const violations = await evaluatePolicyPack(() => { new AksInferenceCluster("c", {...}); });
 * assert.deepEqual(violations.filter((v) => v.enforcementLevel === "mandatory"), []);
 * ```
 */
export async function evaluatePolicyPack(
    program: () => unknown,
    options: EvaluatePolicyPackOptions = {},
): Promise<PolicyViolation[]> {
    return (await evaluatePolicyPackDetailed(program, options)).violations;
}
