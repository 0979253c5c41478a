/**
 * Environment image identity (R13, aml-v1-spec §6). The hash of base image + custom Docker steps +
 * conda YAML (+ pip packages) names the image `azureml/azureml_<hash>`: equal inputs give the same
 * image on every machine, so a registry lookup can reuse an image built elsewhere (R14).
 *
 * Algorithm (version 1, pinned by a known-answer test):
 *   hash = first 32 hex chars of SHA-256( canonicalJson(document) )
 *   document = { amlaksEnvironment: 1, baseImage, conda, dockerSteps, pipPackages
 *                [, installEnvironment: false][, platform (when not linux/amd64)] }
 * AML computes its own hash server-side and never published it (aml-v1-spec §6), so this one is
 * ours; we keep AML's shape (32 hex, the truncated SHA-256 that azureml-core uses client-side).
 *
 * Pure: no I/O, no clock, no locale; the same inputs give the same hash on any machine.
 */
import { createHash } from "node:crypto";
import { LineCounter, parseDocument } from "yaml";
import { BOOLEAN_RULE, NameRule, Problems, ValidationError } from "../common/validation";

/**
 * Bump when the generated environment Dockerfile (context.ts) changes what a built image contains,
 * so images built by an older template are not reused under the new one.
 */
export const ENVIRONMENT_HASH_VERSION = 1;

/** Repository prefix AML uses for environment images in the workspace registry. */
export const ENVIRONMENT_REPOSITORY_PREFIX = "azureml/azureml_";

/** What defines an environment image. */
export interface EnvironmentSpec {
    /** Base image reference, hashed as written (trimmed): `x` and `x:latest` differ. */
    readonly baseImage: string;
    /** Extra Dockerfile instructions run right after `FROM` (no `FROM` of their own). */
    readonly dockerSteps?: string;
    /** Conda environment file content (YAML). */
    readonly condaYaml?: string;
    /** Extra pip requirement lines, installed after the conda environment, in this order. */
    readonly pipPackages?: readonly string[];
    /**
     * Whether the image installs the conda/pip environment. `false` builds an image without that
     * step (offline tests); it is part of the hash so such an image is never reused as a real one.
     * @default true
     */
    readonly installEnvironment?: boolean;
    /**
     * Target platform `os/arch[/variant]`. Part of the hash only when it is not the default, so
     * an arm64 image is never reused for amd64 nodes.
     * @default "linux/amd64"
     */
    readonly platform?: string;
}

/** Platform AKS nodes (and AML images) use unless told otherwise. */
export const DEFAULT_PLATFORM = "linux/amd64";

/** {@link EnvironmentSpec} after validation and canonicalisation: what the hash covers. */
export interface CanonicalEnvironment {
    readonly baseImage: string;
    /** Normalised steps, or null when there are none. */
    readonly dockerSteps: string | null;
    /** The parsed conda YAML with mapping keys sorted (see {@link canonicalJson}), or null. */
    readonly conda: unknown;
    readonly pipPackages: readonly string[];
    readonly installEnvironment: boolean;
    readonly platform: string;
}

// Docker reference grammar (distribution/reference), with the name length checked separately.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const NAME = `(?:(${DOMAIN})/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
/** Docker platform `os/arch[/variant]`. */
export const PLATFORM_RULE = {
    pattern: /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/,
    rule: "must be os/arch[/variant] in lowercase, e.g. linux/amd64 or linux/arm64",
} satisfies NameRule;
const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);

/** The rule of an image reference arg, with an example when given. */
export function imageReferenceRule(example?: string): string {
    const rule =
        "must be a Docker image reference ([registry/]path[:tag][@digest], lowercase path)";
    return example ? `${rule}, e.g. ${example}` : rule;
}

/** True when `ref` is a valid Docker image reference (`[registry/]path[:tag][@digest]`). */
export function isImageReference(ref: string): boolean {
    const m = REFERENCE_RE.exec(ref);
    if (m === null || m[1].length > 255) return false;
    // As Docker: the first component is a registry only with a "." or ":" or as "localhost";
    // otherwise it is a (lowercase) path component.
    const domain = m[2];
    return (
        domain === undefined ||
        domain.includes(".") ||
        domain.includes(":") ||
        domain === "localhost" ||
        new RegExp(`^${PATH_COMPONENT}$`).test(domain)
    );
}

/**
 * Normalises Docker steps: CRLF/CR → LF, trailing spaces/tabs removed from each line, blank lines
 * at the start and end removed. Nothing else (indentation, inner blank lines, case) is touched,
 * because anything more could change what Docker runs. Returns null when no steps remain.
 */
export function normalizeDockerSteps(steps: string | undefined): string | null {
    if (steps === undefined) return null;
    const lines = steps
        .replace(/\r\n?/g, "\n")
        .split("\n")
        .map((l) => l.replace(/[ \t]+$/, ""));
    while (lines.length > 0 && lines[0] === "") lines.shift();
    while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    return lines.length === 0 ? null : lines.join("\n");
}

/** Top-level conda keys that `conda env create -p <prefix>` ignores, so they are not hashed. */
const CONDA_IGNORED_KEYS = ["name", "prefix"];

/**
 * Parses conda YAML into a canonical JSON value: comments, whitespace, quoting style and mapping
 * key order disappear; sequence order (dependencies, channels) stays, since conda resolves in that
 * order. Top-level `name` and `prefix` are dropped: the image always creates the environment at a
 * fixed prefix, so they do not change the image. Throws {@link ValidationError} naming `field`.
 */
export function canonicalCondaYaml(text: string, field = "condaYaml"): unknown {
    const problems = new Problems();
    const value = parseCondaYaml(text, field, problems);
    problems.throwIfAny("conda environment");
    return value;
}

function parseCondaYaml(text: string, field: string, problems: Problems): unknown {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, {
        intAsBigInt: true,
        uniqueKeys: true,
        prettyErrors: false,
        lineCounter,
    });
    if (doc.errors.length > 0) {
        const e = doc.errors[0];
        const pos = lineCounter.linePos(e.pos[0]);
        const where = ` (line ${pos.line}, column ${pos.col})`;
        problems.add(field, excerpt(text), `is not valid YAML: ${firstLine(e.message)}${where}`);
        return null;
    }
    let js: unknown;
    try {
        js = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
        problems.add(field, excerpt(text), `is not valid YAML: ${firstLine(String(e))}`);
        return null;
    }
    if (js === null || typeof js !== "object" || Array.isArray(js)) {
        problems.add(field, excerpt(text), "must be a YAML mapping (a conda environment file)");
        return null;
    }
    const env = { ...(js as Record<string, unknown>) };
    for (const key of CONDA_IGNORED_KEYS) delete env[key];
    for (const key of ["channels", "dependencies"]) {
        if (key in env && env[key] !== null && !Array.isArray(env[key])) {
            problems.add(`${field}.${key}`, env[key], "must be a YAML sequence");
        }
    }
    return canonicalValue(env);
}

/**
 * Converts a parsed YAML value to plain data with mapping keys sorted. Integers stay bigint (exact,
 * from `intAsBigInt`) and non-finite floats stay numbers; {@link canonicalJson} spells both.
 */
function canonicalValue(v: unknown): unknown {
    if (v === null || v === undefined) return null;
    if (typeof v === "bigint" || typeof v === "number") return v;
    if (typeof v === "string" || typeof v === "boolean") return v;
    if (Array.isArray(v)) return v.map(canonicalValue);
    if (v instanceof Map) {
        return canonicalValue(Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), x])));
    }
    if (v instanceof Set) return [...v].map(canonicalValue);
    if (typeof v === "object") {
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(v).sort()) {
            out[k] = canonicalValue((v as Record<string, unknown>)[k]);
        }
        return out;
    }
    return String(v);
}

/**
 * JSON with object keys sorted (UTF-16 order) at every level; arrays keep their order. Bigints are
 * written as their digits and non-finite numbers as bare `NaN` / `Infinity` / `-Infinity` (not
 * valid JSON, but unambiguous: this text is only hashed).
 */
export function canonicalJson(value: unknown): string {
    if (typeof value === "bigint") return value.toString();
    if (typeof value === "number" && !Number.isFinite(value)) return String(value);
    if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
        .sort()
        .filter((k) => obj[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
        .join(",")}}`;
}

/**
 * Validates an environment spec and returns its canonical form. Collects every problem
 * (`baseImage`, `dockerSteps`, `condaYaml`, `pipPackages`) and throws one {@link ValidationError}.
 * `fieldPrefix` lets a component report its own argument names.
 */
export function canonicalEnvironment(
    spec: EnvironmentSpec,
    fields: Partial<Record<keyof EnvironmentSpec, string>> = {},
): CanonicalEnvironment {
    const problems = new Problems();
    const canonical = checkEnvironment(spec, problems, fields);
    problems.throwIfAny("environment");
    return canonical;
}

/** Adds the spec's problems to `problems` (for callers that validate more fields at once). */
export function checkEnvironment(
    spec: EnvironmentSpec,
    problems: Problems,
    fields: Partial<Record<keyof EnvironmentSpec, string>> = {},
): CanonicalEnvironment {
    const f = (k: keyof EnvironmentSpec) => fields[k] ?? k;
    const baseImage = typeof spec.baseImage === "string" ? spec.baseImage.trim() : "";
    if (typeof spec.baseImage !== "string" || baseImage === "") {
        problems.add(f("baseImage"), spec.baseImage, "is required: a Docker image reference");
    } else if (!isImageReference(baseImage)) {
        problems.add(f("baseImage"), spec.baseImage, imageReferenceRule());
    }

    let dockerSteps: string | null = null;
    if (spec.dockerSteps !== undefined) {
        if (typeof spec.dockerSteps !== "string") {
            problems.add(
                f("dockerSteps"),
                spec.dockerSteps,
                "must be a string of Dockerfile lines",
            );
        } else {
            dockerSteps = normalizeDockerSteps(spec.dockerSteps);
            const from = dockerSteps?.split("\n").find((l) => /^\s*FROM\s/i.test(l));
            if (from !== undefined) {
                problems.add(
                    f("dockerSteps"),
                    from.trim(),
                    "must not contain FROM: the base image is set by baseImage",
                );
            }
            if (dockerSteps?.includes("\0")) {
                problems.add(f("dockerSteps"), excerpt(dockerSteps), "must not contain NUL bytes");
            }
        }
    }

    let conda: unknown = null;
    if (spec.condaYaml !== undefined) {
        if (typeof spec.condaYaml !== "string") {
            problems.add(f("condaYaml"), spec.condaYaml, "must be a string of conda YAML");
        } else {
            conda = parseCondaYaml(spec.condaYaml, f("condaYaml"), problems);
        }
    }

    const pipPackages: string[] = [];
    if (spec.pipPackages !== undefined) {
        if (!Array.isArray(spec.pipPackages)) {
            problems.add(f("pipPackages"), spec.pipPackages, "must be an array of strings");
        } else {
            spec.pipPackages.forEach((p: unknown, i: number) => {
                const field = `${f("pipPackages")}[${i}]`;
                if (typeof p !== "string" || p.trim() === "") {
                    problems.add(field, p, "must be a non-empty pip requirement string");
                } else if (/[\r\n\0]/.test(p)) {
                    problems.add(field, p, "must be a single line");
                } else if (p.trim().startsWith("-")) {
                    problems.add(field, p, "must be a requirement, not a pip option");
                } else {
                    pipPackages.push(p.trim());
                }
            });
        }
    }

    let installEnvironment = true;
    if (spec.installEnvironment !== undefined) {
        if (typeof spec.installEnvironment !== "boolean") {
            problems.add(f("installEnvironment"), spec.installEnvironment, BOOLEAN_RULE);
        } else {
            installEnvironment = spec.installEnvironment;
        }
    }
    let platform = DEFAULT_PLATFORM;
    if (spec.platform !== undefined) {
        if (typeof spec.platform !== "string" || !PLATFORM_RULE.pattern.test(spec.platform)) {
            problems.add(f("platform"), spec.platform, PLATFORM_RULE.rule);
        } else {
            platform = spec.platform;
        }
    }
    return { baseImage, dockerSteps, conda, pipPackages, installEnvironment, platform };
}

/** The exact text that is hashed; exposed so a user can see why two hashes differ. */
export function environmentHashDocument(env: CanonicalEnvironment): string {
    return canonicalJson({
        amlaksEnvironment: ENVIRONMENT_HASH_VERSION,
        baseImage: env.baseImage,
        conda: env.conda,
        dockerSteps: env.dockerSteps,
        // Only written when false, so the default case reads like AML's three inputs.
        installEnvironment: env.installEnvironment ? undefined : false,
        pipPackages: env.pipPackages,
        platform: env.platform === DEFAULT_PLATFORM ? undefined : env.platform,
    });
}

/**
 * The environment hash: 32 lowercase hex chars, the first 128 bits of the SHA-256 of
 * {@link environmentHashDocument}. Throws {@link ValidationError} on invalid input.
 */
export function environmentHash(spec: EnvironmentSpec): string {
    return hashCanonicalEnvironment(canonicalEnvironment(spec));
}

/** {@link environmentHash} for an already canonical environment. */
export function hashCanonicalEnvironment(env: CanonicalEnvironment): string {
    return createHash("sha256")
        .update(environmentHashDocument(env), "utf8")
        .digest("hex")
        .slice(0, 32);
}

function assertHash(hash: string): void {
    if (!/^[0-9a-f]{32}$/.test(hash)) {
        throw new ValidationError("environment hash", [
            { field: "hash", value: hash, rule: "must be 32 lowercase hex characters" },
        ]);
    }
}

/** Repository of an environment image: `azureml/azureml_<hash>`. */
export function imageRepository(hash: string): string {
    assertHash(hash);
    return `${ENVIRONMENT_REPOSITORY_PREFIX}${hash}`;
}

/** Tag an environment image is pushed and looked up with: the hash itself (immutable). */
export function imageTag(hash: string): string {
    assertHash(hash);
    return hash;
}

/** `<registry>/azureml/azureml_<hash>:<hash>`: the reference a build pushes. */
export function imageReference(registry: string, hash: string): string {
    return `${registry}/${imageRepository(hash)}:${imageTag(hash)}`;
}

function firstLine(s: string): string {
    return s.split("\n")[0].trim();
}

/** A short, single-line excerpt of user text for error messages. */
export function excerpt(text: string, max = 60): string {
    const oneLine = text.replace(/\s+/g, " ").trim();
    return oneLine.length > max ? `${oneLine.slice(0, max - 3)}...` : oneLine;
}
