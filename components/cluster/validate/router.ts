/** The router: its image (given, or built by the component), namespace and watched namespaces. */
import {
    ArgBag,
    checkNamespaceList,
    isSet,
    named,
    NAME_RULES,
    NameRule,
    Problems,
} from "../../common/validation";
import { imageReferenceRule, isImageReference } from "../../image/hash";
import { CLUSTER_DEFAULTS } from "../defaults";
import type { CheckContext } from "./context";

/** A Docker image reference, with an example in the rule. */
export function imageRule(example: string): NameRule {
    return {
        pattern: { test: isImageReference },
        rule: imageReferenceRule(example),
    };
}

/** Args of the image build, pointless when `routerImage` is given. */
const BUILD_ARGS = [
    "routerImageRegistry",
    "routerImageRegistryUsername",
    "routerImageRegistryPassword",
    "routerBaseImage",
] as const;

export interface RouterChoice {
    readonly namespace: string;
    /** Namespaces of model services: `routerWatchNamespaces`, else the default one. */
    readonly serviceNamespaces: readonly string[];
    /** The component creates the default service namespace (routerWatchNamespaces not given). */
    readonly createServiceNamespace: boolean;
}

export function checkRouter({ p, a }: CheckContext): RouterChoice {
    named(p, "routerImage", a.routerImage, imageRule("myacr.azurecr.io/amlaks-router:0.1.0"));
    // Without routerImage the component builds the router image and pushes it (router-image.ts).
    if (!isSet(a.routerImage) && !isSet(a.routerImageRegistry) && !isSet(a.acrLoginServer)) {
        p.add(
            "routerImage",
            undefined,
            "is needed when there is no registry to build the router image into: give routerImage, or routerImageRegistry (or acrLoginServer) to have the component build and push it",
        );
    }
    named(
        p,
        "routerBaseImage",
        a.routerBaseImage,
        imageRule("gcr.io/distroless/nodejs22-debian12:nonroot"),
    );
    if (isSet(a.routerImage)) {
        for (const f of BUILD_ARGS) {
            if (isSet(a[f])) {
                p.add(
                    f,
                    "(set)",
                    "only applies when the component builds the router image: remove routerImage or this field",
                );
            }
        }
    }
    const namespace = named(p, "routerNamespace", a.routerNamespace, NAME_RULES.namespace)
        ? (a.routerNamespace as string)
        : CLUSTER_DEFAULTS.routerNamespace;
    const watched = checkWatchNamespaces(p, a, namespace);
    return {
        namespace,
        serviceNamespaces: watched ?? [CLUSTER_DEFAULTS.serviceNamespace],
        createServiceNamespace: watched === undefined,
    };
}

/**
 * `routerWatchNamespaces` (R21, least privilege): a plain, non-empty list of distinct namespace
 * names, without the router's own namespace. Plain because the component creates one Role per
 * namespace. Returns the list, or undefined when not given or invalid.
 */
function checkWatchNamespaces(
    p: Problems,
    a: ArgBag,
    routerNamespace: string,
): string[] | undefined {
    return checkNamespaceList(
        p,
        "routerWatchNamespaces",
        a.routerWatchNamespaces,
        "the component creates one Role in each",
        "the default namespace",
        (name) =>
            name === routerNamespace
                ? "is the router's own namespace: model services need a namespace of their own (the router can read every Secret of a watched namespace)"
                : undefined,
    );
}
