/**
 * Shared shape of validation errors. Every validator in the library collects *all* problems
 * (field, offending value, rule) and throws one {@link ValidationError}, so a user fixes a
 * configuration in one round instead of one error at a time (docs/design.md §3).
 */

/** One broken rule: which field, the value it had, and what is allowed. */
export interface ValidationProblem {
    readonly field: string;
    readonly value: unknown;
    readonly rule: string;
}

/** Thrown by every validator; `problems` lists every rule that was broken. */
export class ValidationError extends Error {
    readonly problems: readonly ValidationProblem[];

    constructor(subject: string, problems: readonly ValidationProblem[]) {
        super(
            `Invalid ${subject}:\n` +
                problems.map((p) => `  - ${p.field}: ${formatValue(p.value)} ${p.rule}`).join("\n"),
        );
        this.name = "ValidationError";
        this.problems = problems;
    }
}

/** Renders a value for an error message without ever echoing secrets in full. */
export function formatValue(value: unknown): string {
    if (value === undefined) return "(unset)";
    if (typeof value === "string") return JSON.stringify(value);
    if (typeof value === "number" || typeof value === "boolean" || value === null) {
        return String(value);
    }
    try {
        const text = JSON.stringify(value);
        return text.length > 80 ? `${text.slice(0, 77)}...` : text;
    } catch {
        return Object.prototype.toString.call(value);
    }
}

/** Collects problems, then throws them together. */
export class Problems {
    private readonly list: ValidationProblem[] = [];

    add(field: string, value: unknown, rule: string): void {
        this.list.push({ field, value, rule });
    }

    get count(): number {
        return this.list.length;
    }

    throwIfAny(subject: string): void {
        if (this.list.length > 0) throw new ValidationError(subject, this.list);
    }
}

/** Marks a value as a secret in messages: shows only that it was set. */
export const REDACTED = "(redacted)";
/** Shown for a value that is set but only known at deploy time (an Output or Promise). */
export const UNRESOLVED = "(unresolved Output)";

/** An args object as validators read it: by field name, values of any type. */
export type ArgBag = Readonly<Record<string, unknown>>;

/** The args object as an {@link ArgBag} (`{}` when the caller passed nothing). */
export function argBag(args: unknown): ArgBag {
    return (args ?? {}) as ArgBag;
}

/** True for values Pulumi resolves later (Outputs, Promises); no Pulumi import, so the router can
 * load this module. */
export function isUnresolved(v: unknown): boolean {
    if (v === null || v === undefined) return false;
    if (typeof v !== "object" && typeof v !== "function") return false;
    const o = v as { __pulumiOutput?: unknown; then?: unknown };
    return o.__pulumiOutput === true || typeof o.then === "function";
}

/** An arg is set when it is neither `undefined` nor `null` (Outputs count as set). */
export function isSet(v: unknown): boolean {
    return v !== undefined && v !== null;
}

/** The plain value of an arg, or `undefined` when it is unset (`undefined`/`null`) or unresolved. */
export function plainValue<T>(v: unknown): T | undefined {
    return v !== undefined && v !== null && !isUnresolved(v) ? (v as T) : undefined;
}

/** The value of an Input when it is already known (`null` included), else `undefined`. */
export function knownValue<T>(v: unknown): T | undefined {
    return v === undefined || isUnresolved(v) ? undefined : (v as T);
}

/** How a set arg appears in a message: its plain value, or {@link UNRESOLVED}. */
export function shownValue(v: unknown): unknown {
    return plainValue(v) ?? UNRESOLVED;
}

// ---- Rule wordings: one definition per rule, used by every validator ----------------------------

/** `is required <when>`, e.g. `requiredRule("when creating a cluster")`. */
export function requiredRule(when: string): string {
    return `is required ${when}`;
}

/** `and <other> are mutually exclusive: <advice>` (reported on the first of the two fields). */
export function exclusiveRule(other: string, advice: string): string {
    return `and ${other} are mutually exclusive: ${advice}`;
}

/** `is only used with <what>` and, when given, why in parentheses. */
export function onlyWithRule(what: string, why?: string): string {
    return `is only used with ${what}${why ? ` (${why})` : ""}`;
}

/** `must be one of "a", "b"`. */
export function oneOfRule(allowed: readonly string[]): string {
    return `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`;
}

/** `must be a plain value, not an Output: <why>`. */
export function plainRule(why: string): string {
    return `must be a plain value, not an Output: ${why}`;
}

export const BOOLEAN_RULE = "must be true or false";
export const POSITIVE_WHOLE_NUMBER_RULE = "must be a whole number > 0";
export const NON_NEGATIVE_WHOLE_NUMBER_RULE = "must be a whole number >= 0";

/** `must be a whole number from <min> to <max>`. */
export function wholeNumberRule(min: number, max: number): string {
    return `must be a whole number from ${min} to ${max}`;
}

// ---- Checks of one field ------------------------------------------------------------------------

/** Adds a problem when `value` is unresolved: the component branches on it. */
export function mustBePlain(p: Problems, field: string, value: unknown, why: string): void {
    if (isUnresolved(value)) p.add(field, UNRESOLVED, plainRule(why));
}

/** The plain value when it is one of `allowed`; `undefined` when unset, unresolved or invalid. */
export function oneOf<T extends string>(
    p: Problems,
    field: string,
    value: unknown,
    allowed: readonly T[],
): T | undefined {
    const v = plainValue<unknown>(value);
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
        p.add(field, v, oneOfRule(allowed));
        return undefined;
    }
    return v as T;
}

/** The plain boolean, `dflt` when unset, unresolved or invalid (then reported). */
export function checkBoolean(p: Problems, field: string, value: unknown, dflt: boolean): boolean {
    const v = plainValue<unknown>(value);
    if (v === undefined) return dflt;
    if (typeof v !== "boolean") {
        p.add(field, v, BOOLEAN_RULE);
        return dflt;
    }
    return v;
}

/** Whole number in `[min, max]`; reports otherwise. Returns the plain value when valid. */
export function checkWholeNumber(
    p: Problems,
    field: string,
    value: unknown,
    min: number,
    max: number,
): number | undefined {
    const v = plainValue<unknown>(value);
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) {
        p.add(field, v, wholeNumberRule(min, max));
        return undefined;
    }
    return v as number;
}

/** A string format: what matches it and the words that tell a user what it allows. */
export interface NameRule {
    /** A RegExp, or any object with `test` (e.g. a parser). */
    readonly pattern: { test(text: string): boolean };
    /** The problem's rule, e.g. "must be 3-24 lowercase letters and digits". */
    readonly rule: string;
}

/** Adds a problem when the plain value is not a string matching `rule`; true when it matches. */
export function named(p: Problems, field: string, value: unknown, rule: NameRule): boolean {
    const v = plainValue<unknown>(value);
    if (v === undefined) return false;
    if (typeof v !== "string" || !rule.pattern.test(v)) {
        p.add(field, v, rule.rule);
        return false;
    }
    return true;
}

// ---- Names and formats shared by several components ---------------------------------------------

/** Kubernetes DNS-1123 label (namespaces; v1 `NAMESPACE_REGEX`). */
export const DNS1123_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Entra ID object ids, subscription ids. */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const NAME_RULES = {
    namespace: {
        pattern: DNS1123_LABEL,
        rule: "must be a Kubernetes namespace name (lowercase letters, digits and dashes, at most 63 characters)",
    },
    location: {
        pattern: /^[A-Za-z][A-Za-z0-9 ]*$/,
        rule: "must be an Azure region name such as westeurope",
    },
    resourceGroupName: {
        pattern: /^[-\w.()]{0,89}[-\w()]$/,
        rule: "must be 1-90 characters of letters, digits, '_', '-', '.', '(' and ')', not ending with '.'",
    },
    workspaceName: {
        pattern: /^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$/,
        rule: "must be 3-33 characters of letters, digits, underscores and dashes, starting with a letter or digit",
    },
    storageAccountName: {
        pattern: /^[a-z0-9]{3,24}$/,
        rule: "must be 3-24 lowercase letters and digits (a globally unique storage account name)",
    },
    containerRegistryName: {
        pattern: /^[A-Za-z0-9]{5,50}$/,
        rule: "must be 5-50 letters and digits (a globally unique container registry name, without .azurecr.io)",
    },
} as const satisfies Record<string, NameRule>;

/**
 * A plain, non-empty list of distinct namespace names (`routerWatchNamespaces`,
 * `routerMetricsNamespaces`). `why` says why it must be plain, `unsetMeans` what leaving it unset
 * does; `extra` returns a rule an item breaks beyond the name rule, if any.
 */
export function checkNamespaceList(
    p: Problems,
    field: string,
    value: unknown,
    why: string,
    unsetMeans: string,
    extra?: (name: string) => string | undefined,
): string[] | undefined {
    if (!isSet(value)) return undefined;
    if (isUnresolved(value)) {
        p.add(field, UNRESOLVED, `must be a plain list of namespace names: ${why}`);
        return undefined;
    }
    if (!Array.isArray(value) || value.length === 0) {
        p.add(
            field,
            value,
            `must be a non-empty list of namespace names (leave it unset for ${unsetMeans})`,
        );
        return undefined;
    }
    const seen = new Set<string>();
    let ok = true;
    value.forEach((v: unknown, i) => {
        const itemField = `${field}[${i}]`;
        const broken =
            typeof v !== "string" || !NAME_RULES.namespace.pattern.test(v)
                ? NAME_RULES.namespace.rule
                : seen.has(v)
                  ? "is listed twice"
                  : extra?.(v);
        if (broken !== undefined) {
            p.add(itemField, isUnresolved(v) ? UNRESOLVED : v, broken);
            ok = false;
        }
        if (typeof v === "string") seen.add(v);
    });
    return ok ? (value as string[]) : undefined;
}
