/**
 * How the pack's policies are written: each policy is a pure check over plain resource views
 * ({@link ResourceView}) that records findings in a {@link CheckContext}. {@link resourcePolicy}
 * and {@link stackPolicy} turn such a definition into the plain CrossGuard policy object the
 * `PolicyPack` (and `evaluatePolicyPack`) runs, adding what every policy shares: waivers with a
 * reason, values unknown during preview turned into "skipped, with a reason", and the common
 * config (`waivers`).
 */
import type {
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy/policy";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import { isObject, type JsonObject, unproxy } from "./values";
import { type ConfigWaiver, findWaiver, readConfigWaivers } from "./waivers";

/** A provider as policies see it. */
export interface ProviderView {
    readonly type: string;
    readonly urn: string;
    readonly name: string;
    readonly props: JsonObject;
}

/**
 * A resource as the checks see it: plain properties (inputs for resource policies, outputs for
 * stack policies) in which unknown values are the engine's sentinel strings (see values.ts).
 * Resource policies see no parent and no dependencies.
 */
export interface ResourceView {
    readonly type: string;
    readonly urn: string;
    readonly name: string;
    readonly props: JsonObject;
    readonly parent?: ResourceView;
    readonly dependencies: readonly ResourceView[];
    readonly propertyDependencies: Readonly<Record<string, readonly ResourceView[]>>;
    readonly provider?: ProviderView;
}

/** Where a check records what it found. */
export interface CheckContext<C> {
    /** The policy's config (defaults applied). */
    readonly config: C;
    /** A finding about `resource` (its waivers are honoured). */
    violation(resource: ResourceView, message: string): void;
    /** The check could not run on something (e.g. a value unknown during preview). */
    skip(reason: string): void;
}

/** What every policy declares. */
export interface PolicyMeta<C> {
    /** Unique kebab-case name. */
    readonly name: string;
    readonly description: string;
    readonly severity: Severity;
    /** Default level: "mandatory" where the seed states a hard rule, else "advisory". */
    readonly enforcementLevel: "advisory" | "mandatory";
    readonly remediationSteps: string;
    /** Config properties of this policy (the shared `waivers` property is added). */
    readonly config?: Record<string, PolicyConfigJSONSchema>;
    /** Typed config from the raw config (defaults already applied by the engine). */
    readonly readConfig?: (raw: JsonObject) => C;
}

/** A policy that looks at one resource at a time (its inputs). */
export interface ResourcePolicyDefinition<C> extends PolicyMeta<C> {
    /** Resource types the check applies to. */
    readonly appliesTo: (type: string) => boolean;
    readonly check: (resource: ResourceView, ctx: CheckContext<C>) => void;
}

/** A policy that looks at the whole stack (outputs, parents, dependencies). */
export interface StackPolicyDefinition<C> extends PolicyMeta<C> {
    readonly check: (resources: readonly ResourceView[], ctx: CheckContext<C>) => void;
}

/** Config schema of the `waivers` property every policy accepts. */
export const WAIVERS_SCHEMA: PolicyConfigJSONSchema = {
    type: "array",
    description:
        "Waivers: findings on these resources are not reported. `resource` is a URN, a Pulumi logical name or (Kubernetes) `<namespace>/<name>`; `reason` is required.",
    items: {
        type: "object",
        properties: {
            resource: { type: "string", minLength: 1 },
            reason: { type: "string", minLength: 1 },
        },
        required: ["resource", "reason"],
        additionalProperties: false,
    },
    default: [],
};

function configSchema(meta: PolicyMeta<unknown>): PolicyConfigSchema {
    return { properties: { ...(meta.config ?? {}), waivers: WAIVERS_SCHEMA } };
}

/** Findings of one check run. */
interface Findings {
    readonly violations: { resource: ResourceView; message: string }[];
    readonly skipped: string[];
}

function run<C>(
    meta: PolicyMeta<C>,
    raw: JsonObject,
    body: (ctx: CheckContext<C>) => void,
): { findings: Findings; waivers: ConfigWaiver[] } {
    const findings: Findings = { violations: [], skipped: [] };
    const config = meta.readConfig ? meta.readConfig(raw) : (raw as C);
    body({
        config,
        violation: (resource, message) => findings.violations.push({ resource, message }),
        skip: (reason) => findings.skipped.push(reason),
    });
    return { findings, waivers: readConfigWaivers(raw.waivers) };
}

/**
 * Reports the violations that no waiver covers. When nothing was reported, the skips and waivers
 * become the policy's "not applicable" reason (the engine records it; nothing fails).
 */
function settle(
    policy: string,
    { findings, waivers }: { findings: Findings; waivers: ConfigWaiver[] },
    report: ReportViolation,
    notApplicable: (reason: string) => never,
): void {
    const notes = [...findings.skipped];
    let reported = 0;
    for (const v of findings.violations) {
        const w = findWaiver(policy, v.resource, waivers);
        if (w.status === "waived") {
            notes.push(`waived for ${v.resource.urn} by ${w.source}: ${w.reason}`);
            continue;
        }
        const message =
            w.status === "no-reason"
                ? `${v.message} (${w.source} is ignored: a waiver needs a reason)`
                : v.message;
        report(message, v.resource.urn);
        reported++;
    }
    if (reported === 0 && notes.length > 0) notApplicable(notes.join("; "));
}

function providerView(p: ResourceValidationArgs["provider"]): ProviderView | undefined {
    if (!p) return undefined;
    const props = unproxy(p.props);
    return { type: p.type, urn: p.urn, name: p.name, props: isObject(props) ? props : {} };
}

/** The "not applicable" reason of a resource policy for a type it does not look at. */
export function notForType(policy: string, type: string): string {
    return `${policy} does not look at ${type}`;
}

/** The fields every CrossGuard policy built from a definition carries. */
function policyFields(def: PolicyMeta<unknown>) {
    return {
        name: def.name,
        description: def.description,
        severity: def.severity,
        enforcementLevel: def.enforcementLevel as EnforcementLevel,
        remediationSteps: def.remediationSteps,
        configSchema: configSchema(def),
    };
}

/** Builds the plain CrossGuard resource policy of a definition. */
export function resourcePolicy<C>(def: ResourcePolicyDefinition<C>): ResourceValidationPolicy {
    return {
        ...policyFields(def),
        validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
            if (!def.appliesTo(args.type)) args.notApplicable(notForType(def.name, args.type));
            const props = unproxy(args.props);
            const view: ResourceView = {
                type: args.type,
                urn: args.urn,
                name: args.name,
                props: isObject(props) ? props : {},
                dependencies: [],
                propertyDependencies: {},
                provider: providerView(args.provider),
            };
            const result = run(def, args.getConfig<JsonObject>(), (ctx) => def.check(view, ctx));
            settle(def.name, result, report, (r) => args.notApplicable(r));
        },
    };
}

/** Plain views of the engine's stack resources, parents and dependencies included. */
export function stackViews(resources: readonly PolicyResource[]): ResourceView[] {
    const views = new Map<PolicyResource, ResourceView>();
    for (const r of resources) {
        const props = unproxy(r.props);
        views.set(r, {
            type: r.type,
            urn: r.urn,
            name: r.name,
            props: isObject(props) ? props : {},
            dependencies: [],
            propertyDependencies: {},
            provider: providerView(r.provider),
        });
    }
    const of = (list: readonly PolicyResource[] | undefined): ResourceView[] =>
        (list ?? []).flatMap((d) => {
            const v = views.get(d);
            return v ? [v] : [];
        });
    for (const r of resources) {
        const v = views.get(r)! as {
            parent?: ResourceView;
            dependencies: readonly ResourceView[];
            propertyDependencies: Record<string, readonly ResourceView[]>;
        };
        if (r.parent) v.parent = views.get(r.parent);
        v.dependencies = of(r.dependencies);
        v.propertyDependencies = Object.fromEntries(
            Object.entries(r.propertyDependencies ?? {}).map(([k, list]) => [k, of(list)]),
        );
    }
    return resources.map((r) => views.get(r)!);
}

/** Builds the plain CrossGuard stack policy of a definition. */
export function stackPolicy<C>(def: StackPolicyDefinition<C>): StackValidationPolicy {
    return {
        ...policyFields(def),
        validateStack: (args: StackValidationArgs, report: ReportViolation) => {
            const views = stackViews(args.resources);
            const result = run(def, args.getConfig<JsonObject>(), (ctx) => def.check(views, ctx));
            settle(def.name, result, report, (r) => args.notApplicable(r));
        },
    };
}
