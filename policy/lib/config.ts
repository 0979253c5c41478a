/**
 * Policy pack config the way the Pulumi engine reconciles it (pkg/resource/analyzer/config.go),
 * for `evaluatePolicyPack`: each policy starts at its own level and schema defaults, `all` sets
 * every level, per-policy entries (a level, or `{ enforcementLevel, ...properties }`) override,
 * and the result is checked against each policy's config schema. Pure.
 */
import type { EnforcementLevel, Policy, PolicyPackConfig } from "@pulumi/policy/policy";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import { isObject, type JsonObject } from "./values";

/** Levels a config may name. */
export const ENFORCEMENT_LEVELS: readonly EnforcementLevel[] = [
    "advisory",
    "mandatory",
    "remediate",
    "disabled",
];

/** The reconciled config of one policy. */
export interface ResolvedPolicyConfig {
    readonly enforcementLevel: EnforcementLevel;
    readonly properties: JsonObject;
}

function levelOf(v: unknown, where: string): EnforcementLevel | undefined {
    if (v === undefined) return undefined;
    if (typeof v === "string" && (ENFORCEMENT_LEVELS as readonly string[]).includes(v)) {
        return v as EnforcementLevel;
    }
    throw new Error(
        `policy config ${where}: ${JSON.stringify(v)} is not an enforcement level (${ENFORCEMENT_LEVELS.join(", ")})`,
    );
}

const TYPE_CHECKS: Record<string, (v: unknown) => boolean> = {
    string: (v) => typeof v === "string",
    number: (v) => typeof v === "number" && Number.isFinite(v),
    integer: (v) => Number.isInteger(v),
    boolean: (v) => typeof v === "boolean",
    object: (v) => isObject(v),
    array: (v) => Array.isArray(v),
    null: (v) => v === null,
};

/** Problems of `value` against the subset of JSON Schema the pack's policies use. */
export function schemaProblems(
    schema: PolicyConfigJSONSchema,
    value: unknown,
    path: string,
): string[] {
    const s = schema as PolicyConfigJSONSchema & { anyOf?: PolicyConfigJSONSchema[] };
    if (s.anyOf) {
        const ok = s.anyOf.some((alt) => schemaProblems(alt, value, path).length === 0);
        return ok ? [] : [`${path}: matches none of the allowed forms`];
    }
    const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
    if (types.length > 0 && !types.some((t) => TYPE_CHECKS[t]?.(value))) {
        return [`${path}: must be ${types.join(" or ")}`];
    }
    const out: string[] = [];
    if (typeof value === "string" && s.minLength !== undefined && value.length < s.minLength) {
        out.push(`${path}: must have at least ${s.minLength} character(s)`);
    }
    if (typeof value === "number") {
        if (s.minimum !== undefined && value < s.minimum)
            out.push(`${path}: must be >= ${s.minimum}`);
        if (s.maximum !== undefined && value > s.maximum)
            out.push(`${path}: must be <= ${s.maximum}`);
    }
    if (s.enum && !s.enum.some((e) => e === value))
        out.push(`${path}: must be one of ${JSON.stringify(s.enum)}`);
    if (Array.isArray(value) && s.items && typeof s.items === "object" && !Array.isArray(s.items)) {
        value.forEach((v, i) =>
            out.push(...schemaProblems(s.items as PolicyConfigJSONSchema, v, `${path}[${i}]`)),
        );
    }
    if (isObject(value)) {
        for (const r of s.required ?? []) if (!(r in value)) out.push(`${path}.${r}: is required`);
        for (const [k, v] of Object.entries(value)) {
            const prop = s.properties?.[k];
            if (prop !== undefined) {
                if (typeof prop === "object") out.push(...schemaProblems(prop, v, `${path}.${k}`));
            } else if (s.additionalProperties === false) {
                out.push(`${path}.${k}: is not allowed`);
            } else if (typeof s.additionalProperties === "object") {
                out.push(...schemaProblems(s.additionalProperties, v, `${path}.${k}`));
            }
        }
    }
    return out;
}

/**
 * Reconciles `given` (a `--policy-pack-config` document) with the policies' defaults. Throws on
 * unknown policy names, invalid levels and properties that break a policy's schema.
 */
export function reconcileConfig(
    policies: readonly Policy[],
    packLevel: EnforcementLevel,
    given: PolicyPackConfig = {},
): Map<string, ResolvedPolicyConfig> {
    const names = new Set(policies.map((p) => p.name));
    for (const key of Object.keys(given)) {
        if (key !== "all" && !names.has(key)) {
            throw new Error(`policy config names "${key}", which is not a policy of this pack`);
        }
    }
    const all = given.all === undefined ? undefined : levelOf(given.all, '"all"');
    const out = new Map<string, ResolvedPolicyConfig>();
    const problems: string[] = [];
    for (const p of policies) {
        const properties: JsonObject = {};
        for (const [k, s] of Object.entries(p.configSchema?.properties ?? {})) {
            if (typeof s === "object" && s.default !== undefined) {
                properties[k] = structuredClone(s.default);
            }
        }
        let level = all ?? p.enforcementLevel ?? packLevel;
        const entry = given[p.name];
        if (typeof entry === "string") level = levelOf(entry, `"${p.name}"`)!;
        else if (isObject(entry)) {
            const { enforcementLevel, ...rest } = entry;
            level = levelOf(enforcementLevel, `"${p.name}".enforcementLevel`) ?? level;
            Object.assign(properties, rest);
        } else if (entry !== undefined) {
            throw new Error(`policy config "${p.name}": must be a level or an object`);
        }
        if (p.configSchema) {
            problems.push(
                ...schemaProblems(
                    {
                        type: "object",
                        properties: p.configSchema.properties,
                        required: p.configSchema.required,
                    },
                    properties,
                    p.name,
                ),
            );
        }
        out.set(p.name, { enforcementLevel: level, properties });
    }
    if (problems.length > 0) throw new Error(`invalid policy config:\n  ${problems.join("\n  ")}`);
    return out;
}
