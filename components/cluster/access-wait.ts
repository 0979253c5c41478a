/**
 * A bounded wait until the Kubernetes API grants the deployer what the router install needs
 * (issue 11 item 4, "ordering on a fresh subscription").
 *
 * On a new AKS cluster with Azure RBAC, nobody has Kubernetes rights until the
 * "Azure Kubernetes Service RBAC Cluster Admin" assignment this component makes for the deployer
 * reaches AKS's authorizer, which takes from seconds to several minutes. The first Kubernetes
 * object created before that fails with 403 and leaves a half-installed stack. So the kubeconfig
 * the Kubernetes provider receives is only released once SelfSubjectAccessReview says the rights
 * are there: every Kubernetes object of the component (and of web services using its provider)
 * waits for it. This checks the permission itself, it is not a sleep.
 *
 * Not a dynamic provider (they break multi-language use): the check runs in an `apply` during
 * `pulumi up` only; previews and programs under Pulumi mocks make no call.
 */
import * as pulumi from "@pulumi/pulumi";

/** One permission the install needs, as SelfSubjectAccessReview asks it. */
export interface AccessCheck {
    readonly verb: string;
    /** API group; "" for the core group. */
    readonly group: string;
    readonly resource: string;
    /** Absent for cluster-scoped resources. */
    readonly namespace?: string;
}

/** How long and how often to ask. */
export interface AccessWaitPlan {
    /** Give up after this long; 0 asks once. */
    readonly timeoutMs: number;
    readonly initialDelayMs: number;
    readonly maxDelayMs: number;
}

/**
 * Create mode: AKS documents that Azure RBAC changes "can take up to five minutes" to reach the
 * cluster; twice that is the bound before the up fails with what is still denied.
 */
export const CREATE_ACCESS_WAIT: AccessWaitPlan = {
    timeoutMs: 10 * 60_000,
    initialDelayMs: 2_000,
    maxDelayMs: 15_000,
};

/** Attach and kubeconfig modes: nothing was just granted, so ask once and fail clearly. */
export const EXISTING_ACCESS_WAIT: AccessWaitPlan = {
    timeoutMs: 0,
    initialDelayMs: 0,
    maxDelayMs: 0,
};

/**
 * What the router install creates (router-install.ts): its namespace (and the default service
 * namespace), and in the router and service namespaces the Roles, RoleBindings, Deployments and Secrets it renders. The
 * Roles are the strongest need (RBAC escalation checks require holding what a Role grants), so a
 * deployer who passes these can create the rest.
 */
export function installAccessChecks(
    routerNamespace: string,
    serviceNamespaces: readonly string[],
): AccessCheck[] {
    const checks: AccessCheck[] = [{ verb: "create", group: "", resource: "namespaces" }];
    for (const namespace of [routerNamespace, ...serviceNamespaces]) {
        checks.push(
            { verb: "create", group: "rbac.authorization.k8s.io", resource: "roles", namespace },
            {
                verb: "create",
                group: "rbac.authorization.k8s.io",
                resource: "rolebindings",
                namespace,
            },
        );
    }
    checks.push(
        { verb: "create", group: "apps", resource: "deployments", namespace: routerNamespace },
        { verb: "create", group: "", resource: "secrets", namespace: routerNamespace },
    );
    return checks;
}

/** Delay before the next attempt: doubling from the initial delay up to the maximum. */
export function nextAccessDelay(attempt: number, plan: AccessWaitPlan): number {
    return Math.min(plan.maxDelayMs, plan.initialDelayMs * 2 ** Math.max(0, attempt - 1));
}

/** `create roles (rbac.authorization.k8s.io) in azureml-fe` */
export function describeCheck(c: AccessCheck): string {
    const what = c.group ? `${c.resource} (${c.group})` : c.resource;
    return `${c.verb} ${what}${c.namespace ? ` in ${c.namespace}` : " (cluster-wide)"}`;
}

/** Asks the API server; returns the checks that are denied. Throws when it cannot ask. */
export type AccessReviewer = (checks: readonly AccessCheck[]) => Promise<AccessCheck[]>;

export interface Clock {
    now(): number;
    sleep(ms: number): Promise<void>;
}

const realClock: Clock = {
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface AccessWaitResult {
    readonly attempts: number;
    readonly waitedMs: number;
}

/** Thrown when the bound passes with rights still missing; names each and the way out. */
export class AccessWaitError extends Error {
    constructor(
        readonly denied: readonly AccessCheck[],
        readonly waitedMs: number,
        readonly lastError: string | undefined,
        hint: string,
    ) {
        const what =
            denied.length > 0
                ? `still denied: ${denied.map(describeCheck).join("; ")}`
                : `the access review could not be made${lastError ? ` (${lastError})` : ""}`;
        super(
            `The Kubernetes API did not grant the deployer what the router install needs after ${Math.round(
                waitedMs / 1000,
            )} s: ${what}. ${hint}`,
        );
        this.name = "AccessWaitError";
    }
}

/**
 * Asks until every check is allowed or the plan's bound passes. An error while asking (API server
 * not reachable yet, 401 while credentials propagate) counts as "not yet", like a denial.
 */
export async function waitForAccess(
    review: AccessReviewer,
    checks: readonly AccessCheck[],
    plan: AccessWaitPlan,
    hint: string,
    onWaiting?: (denied: readonly AccessCheck[]) => void,
    clock: Clock = realClock,
): Promise<AccessWaitResult> {
    const start = clock.now();
    let attempts = 0;
    let denied: readonly AccessCheck[] = checks;
    let lastError: string | undefined;
    for (;;) {
        attempts++;
        try {
            denied = await review(checks);
            lastError = undefined;
        } catch (err) {
            lastError = (err as Error).message;
        }
        if (lastError === undefined && denied.length === 0)
            return { attempts, waitedMs: clock.now() - start };
        const delay = nextAccessDelay(attempts, plan);
        const waited = clock.now() - start;
        if (delay <= 0 || waited + delay > plan.timeoutMs)
            throw new AccessWaitError(
                lastError === undefined ? denied : [],
                waited,
                lastError,
                hint,
            );
        if (attempts === 1) onWaiting?.(denied);
        await clock.sleep(delay);
    }
}

/** A reviewer speaking SelfSubjectAccessReview with the given kubeconfig (any auth it holds). */
export function kubernetesAccessReviewer(kubeconfig: string): AccessReviewer {
    return async (checks) => {
        // Loaded here: components that never wait do not pay for the client at import.
        const k8s = await import("@kubernetes/client-node");
        const kc = new k8s.KubeConfig();
        kc.loadFromString(kubeconfig);
        const api = kc.makeApiClient(k8s.AuthorizationV1Api);
        const results = await Promise.all(
            checks.map(async (c) => {
                const review = await api.createSelfSubjectAccessReview({
                    body: {
                        apiVersion: "authorization.k8s.io/v1",
                        kind: "SelfSubjectAccessReview",
                        spec: { resourceAttributes: { ...c } },
                    },
                });
                return review.status?.allowed === true ? undefined : c;
            }),
        );
        return results.filter((c): c is AccessCheck => c !== undefined);
    };
}

/**
 * Unit tests of programs using these components (ours and users') run under Pulumi mocks, where
 * there is no cluster to ask: the kubeconfig is fake, and the wait would only fail.
 */
function underMocks(): boolean {
    return pulumi.runtime.getMonitor()?.constructor?.name === "MockMonitor";
}

/**
 * The kubeconfig, released once the deployer holds the rights (`pulumi up` only). `after` are
 * resources whose creation must come first (the role assignment); their ids resolve only then.
 */
export function kubeconfigAfterAccess(
    kubeconfig: pulumi.Output<string>,
    after: readonly pulumi.CustomResource[],
    checks: readonly AccessCheck[],
    plan: AccessWaitPlan,
    hint: string,
    parent: pulumi.Resource,
): pulumi.Output<string> {
    return pulumi.all([kubeconfig, ...after.map((r) => r.id)]).apply(async ([kc]) => {
        if (pulumi.runtime.isDryRun() || underMocks()) return kc;
        await waitForAccess(kubernetesAccessReviewer(kc), checks, plan, hint, (denied) => {
            void pulumi.log.info(
                `waiting (up to ${plan.timeoutMs / 60_000} min) for Kubernetes rights to take effect: ${denied
                    .map(describeCheck)
                    .join("; ")}`,
                parent,
            );
        });
        return kc;
    });
}
