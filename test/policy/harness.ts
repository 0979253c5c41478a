/**
 * Runs one policy of the pack on hand-built resources, the way CrossGuard's analyzer calls it
 * (the pattern of compliance-policies' `createResourceValidationArgs`): properties behind
 * @pulumi/policy's own unknown-checking proxy, config reconciled with the policy's schema
 * defaults, `notApplicable` recorded. Stack resources get parents and dependencies as objects.
 */
import type {
    Policy,
    PolicyPackConfig,
    PolicyResource,
    ResourceValidationPolicy,
    StackValidationPolicy,
} from "@pulumi/policy";
import { reconcileConfig } from "../../policy/lib/config";
import { UNKNOWN_SENTINELS } from "../../policy/lib/values";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { unknownCheckingProxy } = require("@pulumi/policy/proxy") as {
    unknownCheckingProxy<T>(v: T): T;
};

/** The engine's "unknown string" value (a preview that cannot know it yet). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
if (!UNKNOWN_SENTINELS.has(UNKNOWN)) throw new Error("sentinel list out of date");

/** A resource for a test: `parent`, `dependsOn` and `propertyDependencies` name other resources. */
export interface FakeResource {
    readonly type: string;
    readonly name: string;
    readonly props: Record<string, unknown>;
    readonly parent?: string;
    readonly dependsOn?: readonly string[];
    readonly propertyDependencies?: Readonly<Record<string, readonly string[]>>;
    /** Name of a provider resource of the list (a `pulumi:providers:*` FakeResource). */
    readonly provider?: string;
}

/** What one policy run produced. */
export interface PolicyRun {
    readonly violations: { message: string; urn?: string }[];
    readonly notApplicable?: string;
}

export function urnOf(r: Pick<FakeResource, "type" | "name">): string {
    return `urn:pulumi:test::amlaks::${r.type}::${r.name}`;
}

const OPTS = {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
};

class NotApplicable extends Error {}

function configFor(policy: Policy, config: PolicyPackConfig | undefined) {
    const policies = [policy];
    const resolved = reconcileConfig(policies, "advisory", config)!.get(policy.name)!;
    return <T extends object>() => structuredClone(resolved.properties) as T;
}

async function capture(
    fn: (report: (m: string, urn?: string) => void, na: (r?: string) => never) => unknown,
) {
    const violations: PolicyRun["violations"] = [];
    let notApplicable: string | undefined;
    try {
        await fn(
            (message, urn) => violations.push(urn ? { message, urn } : { message }),
            (reason) => {
                throw new NotApplicable(reason ?? "");
            },
        );
    } catch (e) {
        if (!(e instanceof NotApplicable)) throw e;
        notApplicable = e.message;
    }
    return notApplicable === undefined ? { violations } : { violations, notApplicable };
}

/** Runs a resource policy on one resource (its inputs). */
export async function runResourcePolicy(
    policy: ResourceValidationPolicy,
    resource: FakeResource,
    config?: PolicyPackConfig,
    provider?: FakeResource,
): Promise<PolicyRun> {
    const getConfig = configFor(policy, config);
    const validate = policy.validateResource as NonNullable<
        ResourceValidationPolicy["validateResource"]
    >;
    const validations = Array.isArray(validate) ? validate : [validate];
    return capture(async (report, notApplicable) => {
        for (const v of validations) {
            await v(
                {
                    type: resource.type,
                    props: unknownCheckingProxy(structuredClone(resource.props)),
                    urn: urnOf(resource),
                    name: resource.name,
                    opts: OPTS,
                    provider: provider
                        ? {
                              type: provider.type,
                              props: unknownCheckingProxy(structuredClone(provider.props)),
                              urn: urnOf(provider),
                              name: provider.name,
                          }
                        : undefined,
                    stackTags: new Map(),
                    isType: () => false,
                    asType: () => undefined,
                    getConfig,
                    notApplicable,
                },
                report,
            );
        }
    });
}

/** Runs a stack policy on a list of resources (their outputs). */
export async function runStackPolicy(
    policy: StackValidationPolicy,
    resources: readonly FakeResource[],
    config?: PolicyPackConfig,
): Promise<PolicyRun> {
    const byName = new Map<string, PolicyResource>();
    for (const r of resources) {
        if (byName.has(r.name)) throw new Error(`duplicate fake resource name ${r.name}`);
        byName.set(r.name, {
            type: r.type,
            props: unknownCheckingProxy(structuredClone(r.props)),
            urn: urnOf(r),
            name: r.name,
            opts: OPTS,
            dependencies: [],
            propertyDependencies: {},
            isType: () => false,
            asType: () => undefined,
        });
    }
    const get = (name: string) => {
        const r = byName.get(name);
        if (!r) throw new Error(`unknown fake resource ${name}`);
        return r;
    };
    for (const r of resources) {
        const pr = byName.get(r.name)! as {
            -readonly [K in keyof PolicyResource]: PolicyResource[K];
        };
        if (r.parent) pr.parent = get(r.parent);
        pr.dependencies = (r.dependsOn ?? []).map(get);
        pr.propertyDependencies = Object.fromEntries(
            Object.entries(r.propertyDependencies ?? {}).map(([k, v]) => [k, v.map(get)]),
        );
        if (r.provider) {
            const p = resources.find((x) => x.name === r.provider)!;
            pr.provider = {
                type: p.type,
                props: unknownCheckingProxy(structuredClone(p.props)),
                urn: urnOf(p),
                name: p.name,
            };
        }
    }
    const getConfig = configFor(policy, config);
    return capture((report, notApplicable) =>
        policy.validateStack(
            { resources: [...byName.values()], stackTags: new Map(), getConfig, notApplicable },
            report,
        ),
    );
}

/** Messages of a run. */
export function messages(run: PolicyRun): string[] {
    return run.violations.map((v) => v.message);
}
