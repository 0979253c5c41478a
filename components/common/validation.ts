/**
 * Shared shape of validation errors. Every validator in the library collects *all* problems
 * (field, offending value, rule) and throws one {@link ValidationError}, so a user fixes a
 * configuration in one round instead of one error at a time (DESIGN §3).
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

/** True for values Pulumi resolves later (Outputs, Promises); no Pulumi import, so the router can
 * load this module. */
export function isUnresolved(v: unknown): boolean {
    if (v === null || v === undefined) return false;
    if (typeof v !== "object" && typeof v !== "function") return false;
    const o = v as { __pulumiOutput?: unknown; then?: unknown };
    return o.__pulumiOutput === true || typeof o.then === "function";
}

/** The plain value of an arg, or `undefined` when it is unset (`undefined`/`null`) or unresolved. */
export function plainValue<T>(v: unknown): T | undefined {
    return v !== undefined && v !== null && !isUnresolved(v) ? (v as T) : undefined;
}

/** The value of an Input when it is already known (`null` included), else `undefined`. */
export function knownValue<T>(v: unknown): T | undefined {
    return v === undefined || isUnresolved(v) ? undefined : (v as T);
}
