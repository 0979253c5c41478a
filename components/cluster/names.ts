/**
 * Names derived from the component name when the user gives none (pure, deterministic: the same
 * program always produces the same names, so nothing is replaced between runs).
 */

function clean(text: string, allowed: RegExp): string {
    return [...text].filter((c) => allowed.test(c)).join("");
}

/** AKS cluster name: 1–63 letters, digits, `-`, `_`, starting and ending alphanumeric. */
export function deriveAksClusterName(componentName: string): string {
    let n = clean(componentName.replace(/[^A-Za-z0-9_-]/g, "-"), /[A-Za-z0-9_-]/).slice(0, 63);
    n = n.replace(/^[-_]+|[-_]+$/g, "");
    return n.length > 0 ? n : "aks";
}

/** AKS DNS prefix: 1–54 letters, digits and dashes, starting and ending alphanumeric. */
export function deriveDnsPrefix(clusterName: string): string {
    let n = clusterName
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, "-")
        .slice(0, 54);
    n = n.replace(/^-+|-+$/g, "");
    return n.length > 0 ? n : "aks";
}

/** Workspace compute name: 3–24 letters, digits and dashes, start with a letter, end alphanumeric. */
export function deriveComputeName(componentName: string): string {
    let n = componentName.replace(/[^A-Za-z0-9-]/g, "-");
    if (!/^[A-Za-z]/.test(n)) n = `aks-${n}`;
    n = n.slice(0, 24).replace(/-+$/g, "");
    while (n.length < 3) n += "0";
    return n;
}
