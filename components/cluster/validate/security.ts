/** Access, Defender, monitoring and policy add-ons of a new cluster (R22, R39). */
import { checkArmId } from "../../common/arm-id";
import {
    checkBoolean,
    GUID,
    isSet,
    mustBePlain,
    onlyWithRule,
    oneOf,
    plainValue,
    shownValue,
} from "../../common/validation";
import { CLUSTER_DEFAULTS } from "../defaults";
import { KUBELOGIN_MODES } from "../kubeconfig";
import type { CheckContext } from "./context";

export interface SecurityChoice {
    readonly disableLocalAccounts: boolean;
    readonly defenderEnabled: boolean;
    readonly containerInsightsEnabled: boolean;
    readonly azurePolicyEnabled: boolean;
    readonly grantDeployerClusterAdmin: boolean;
    readonly kubeloginMode: string;
}

export function checkSecurity({ p, a, mode }: CheckContext): SecurityChoice {
    const flag = (field: keyof typeof CLUSTER_DEFAULTS & keyof SecurityChoice): boolean =>
        checkBoolean(p, field, a[field], CLUSTER_DEFAULTS[field] as boolean);
    const disableLocalAccounts = flag("disableLocalAccounts");
    const defenderEnabled = flag("defenderEnabled");
    const containerInsightsEnabled = flag("containerInsightsEnabled");
    const azurePolicyEnabled = flag("azurePolicyEnabled");
    const grantDeployerClusterAdmin = flag("grantDeployerClusterAdmin");
    const kubeloginMode =
        oneOf(p, "kubeloginMode", a.kubeloginMode, KUBELOGIN_MODES) ??
        CLUSTER_DEFAULTS.kubeloginMode;
    mustBePlain(p, "kubeloginMode", a.kubeloginMode, "it is written into the kubeconfig as given");
    if (mode === "create" && !disableLocalAccounts && isSet(a.kubeloginMode)) {
        p.add(
            "kubeloginMode",
            shownValue(a.kubeloginMode),
            onlyWithRule(
                "disableLocalAccounts true",
                "with local accounts the admin kubeconfig is used",
            ),
        );
    }
    checkArmId(p, "logAnalyticsWorkspaceId", a.logAnalyticsWorkspaceId, "logAnalyticsWorkspace");
    const groups = plainValue<unknown>(a.adminGroupObjectIds);
    if (groups !== undefined) {
        if (!Array.isArray(groups)) {
            p.add(
                "adminGroupObjectIds",
                groups,
                "must be a list of Entra ID group object ids (GUIDs)",
            );
        } else {
            groups.forEach((g, i) => {
                const v = plainValue<unknown>(g);
                if (v !== undefined && (typeof v !== "string" || !GUID.test(v))) {
                    p.add(
                        `adminGroupObjectIds[${i}]`,
                        v,
                        "must be an Entra ID group object id (GUID)",
                    );
                }
            });
        }
    }
    return {
        disableLocalAccounts,
        defenderEnabled,
        containerInsightsEnabled,
        azurePolicyEnabled,
        grantDeployerClusterAdmin,
        kubeloginMode,
    };
}
