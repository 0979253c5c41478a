/**
 * Rejects argument names a component does not know (issue 11 item 7). JavaScript callers and
 * config-driven programs get no compiler help, and a misspelt optional arg (`agentcount`) would
 * otherwise be ignored silently and its default used.
 */
import { Problems } from "./validation";

/** Edit distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let prev = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const cur = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
            prev = cur;
        }
    }
    return row[b.length];
}

/** The known name closest to `name` (case-insensitive), when it is plausibly a typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
    let best: string | undefined;
    let bestD = Infinity;
    for (const k of known) {
        const d = distance(name.toLowerCase(), k.toLowerCase());
        if (d < bestD) {
            best = k;
            bestD = d;
        }
    }
    return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4))
        ? best
        : undefined;
}

/** Adds one problem per own key of `args` that is not in `known` (undefined values included). */
export function checkKnownArgs(p: Problems, args: unknown, known: readonly string[]): void {
    if (args === null || typeof args !== "object") return;
    for (const k of Object.keys(args)) {
        if (known.includes(k)) continue;
        const hint = closestName(k, known);
        p.add(
            k,
            "(set)",
            `is not a known argument${hint ? `; did you mean "${hint}"?` : " (names are case-sensitive)"}`,
        );
    }
}

/**
 * The names of an args interface as a runtime list. The `satisfies` at the call site makes the
 * compiler keep the list complete and free of extra names.
 */
export function argNames<T>(names: { readonly [K in keyof Required<T>]: true }): readonly string[] {
    return Object.keys(names);
}
