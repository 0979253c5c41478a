/**
 * The workspace, registry and storage args (R8). v1 programs name the workspace to register the
 * cluster as an `AKS` compute; that API is retired (needs local accounts, makes Azure install a
 * second router): the names are still checked so v1 settings keep working, but nothing is
 * registered (issue 11 item 2).
 */
import { checkArmId } from "../../common/arm-id";
import {
    ArgBag,
    isSet,
    named,
    NAME_RULES,
    NameRule,
    onlyWithRule,
    Problems,
    requiredRule,
    shownValue,
} from "../../common/validation";
import { isWorkspaceLike, WORKSPACE_MEMBERS } from "../workspace-link";
import type { CheckContext } from "./context";

/** Workspace compute names (aml-v1-spec §2.4). */
export const COMPUTE_NAME = {
    pattern: /^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/,
    rule: "must be 3-24 characters of letters, digits and dashes, start with a letter and end with a letter or digit",
} satisfies NameRule;

/** The `workspace` shorthand must be an AmlWorkspace-like object. */
export function checkWorkspaceObject(p: Problems, a: ArgBag): void {
    if (isSet(a.workspace) && !isWorkspaceLike(a.workspace)) {
        p.add(
            "workspace",
            "(object)",
            `must be an AmlWorkspace (an object with ${WORKSPACE_MEMBERS.join(", ")})`,
        );
    }
}

export function checkWorkspace({ p, a, mode, warnings }: CheckContext): void {
    const wsName = isSet(a.workspaceName);
    if (wsName || isSet(a.computeName)) {
        warnings.push(
            "workspaceName/computeName no longer register the cluster as a v1 AKS compute of the " +
                "workspace (a retired API that needs local accounts and installs a second router); " +
                "deploy services with AksWebservice, which needs no workspace compute.",
        );
    }
    const wsRg = isSet(a.workspaceResourceGroupName);
    if (mode !== "kubeconfig") {
        const why = "the compute is attached to that workspace";
        if (wsName && !wsRg) {
            p.add(
                "workspaceResourceGroupName",
                undefined,
                requiredRule(`with workspaceName (${why})`),
            );
        }
        if (wsRg && !wsName) {
            p.add(
                "workspaceName",
                undefined,
                requiredRule(`with workspaceResourceGroupName (${why})`),
            );
        }
        if (isSet(a.computeName) && !wsName) {
            p.add("computeName", shownValue(a.computeName), onlyWithRule("workspaceName"));
        }
    }
    named(p, "workspaceName", a.workspaceName, NAME_RULES.workspaceName);
    named(p, "computeName", a.computeName, COMPUTE_NAME);
    checkArmId(p, "containerRegistryId", a.containerRegistryId, "containerRegistry");
    named(p, "acrName", a.acrName, NAME_RULES.containerRegistryName);
    named(p, "storageAccountName", a.storageAccountName, NAME_RULES.storageAccountName);
}
