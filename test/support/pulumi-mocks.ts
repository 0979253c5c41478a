/**
 * Pulumi mocks shared by the component tests: record every `newResource` (type, name, inputs,
 * provider) and, through a wrapper around the mock monitor, what mocks do not show (parent,
 * dependencies, ignoreChanges, additionalSecretOutputs, which inputs were secret). Each suite's
 * `mocks.ts` adds the states and invokes of its cloud resources. One install per test file (each
 * file runs in its own process).
 */
import * as pulumi from "@pulumi/pulumi";

/** Recorded inputs are untyped JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = any;

/** External IP the mocked cloud gives every LoadBalancer Service. */
export const LB_IP = "20.1.2.3";

/** One `newResource` call. */
export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, Any>;
    provider?: string;
    custom?: boolean;
}

/** What the engine received for a resource (from the RegisterResourceRequest). */
export interface Registration {
    type: string;
    name: string;
    /** URN of the parent. */
    parent: string;
    ignoreChanges: string[];
    additionalSecretOutputs: string[];
    /** Top-level input names whose value contains a secret. */
    secretInputs: string[];
    /** URNs of the resources it depends on. */
    dependencies: string[];
}

/** Pulumi's wire marker of a secret value; mock inputs keep it, so tests can see secrets. */
const SECRET_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** True when a recorded input value was a Pulumi secret. */
export function isSecretInput(v: unknown): boolean {
    return (
        typeof v === "object" &&
        v !== null &&
        (v as Record<string, unknown>)[SECRET_KEY] === SECRET_SIG
    );
}

/** Recorded input with secret markers removed (deeply). */
export function reveal<T = Any>(v: unknown): T {
    if (isSecretInput(v)) return reveal((v as { value: unknown }).value);
    if (Array.isArray(v)) return v.map((x) => reveal(x)) as T;
    if (typeof v === "object" && v !== null) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)])) as T;
    }
    return v as T;
}

function containsSecret(v: unknown): boolean {
    return JSON.stringify(v ?? null).includes(SECRET_SIG);
}

/** The state a suite's cloud gives a new resource, and its answers to invokes. */
export interface MockCloud {
    state(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, Any> };
    call(args: pulumi.runtime.MockCallArgs): Record<string, Any>;
    /** Record inputs with secret markers removed (else kept, see {@link isSecretInput}). */
    readonly revealInputs?: boolean;
}

/** What the installed mocks record, live. */
export interface MockRecords {
    resources: Recorded[];
    registrations: Registration[];
    calls: { token: string; inputs: Any; provider?: string }[];
}

/** Installs the mocks (stack `test` of project `amlaks`, not a preview). */
export function installMocks(cloud: MockCloud): MockRecords {
    const records: MockRecords = { resources: [], registrations: [], calls: [] };
    void pulumi.runtime.setMocks(
        {
            newResource(args) {
                const inputs = cloud.revealInputs ? reveal(args.inputs) : args.inputs;
                records.resources.push({
                    type: args.type,
                    name: args.name,
                    inputs,
                    provider: args.provider,
                    custom: args.custom,
                });
                return cloud.state({ ...args, inputs });
            },
            call(args) {
                records.calls.push({
                    token: args.token,
                    inputs: args.inputs,
                    provider: args.provider,
                });
                return cloud.call(args);
            },
        },
        "amlaks",
        "test",
        false,
    );
    const monitor = pulumi.runtime.getMonitor() as Any;
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: Any, callback: Any) => {
        const object = req.getObject()?.toJavaScript() ?? {};
        records.registrations.push({
            type: req.getType(),
            name: req.getName(),
            parent: req.getParent(),
            ignoreChanges: req.getIgnorechangesList(),
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
            secretInputs: Object.keys(object).filter((k) => containsSecret(object[k])),
            dependencies: req.getDependenciesList(),
        });
        return original(req, callback);
    };
    return records;
}

/** Resolves an Output's value. */
export function unwrap<T>(o: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Waits until no new resources have been registered for a few event-loop turns. */
export async function settle(list: unknown[]): Promise<void> {
    let last = -1;
    let stable = 0;
    while (stable < 5) {
        await new Promise((r) => setTimeout(r, 10));
        if (list.length === last) stable++;
        else {
            stable = 0;
            last = list.length;
        }
    }
}

/** The one entry of `type` (and `name` when given); throws when not exactly one. */
export function one<T extends { type: string; name: string }>(
    list: T[],
    type: string,
    name?: string,
): T {
    const found = list.filter((r) => r.type === type && (name === undefined || r.name === name));
    if (found.length !== 1) {
        throw new Error(
            `expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${list.map((r) => `${r.type}/${r.name}`).join(", ")}`,
        );
    }
    return found[0];
}
