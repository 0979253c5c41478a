/** What every cluster check reads and writes (knative's `Validate()` + `Also`, flattened). */
import type { ArgBag, Problems } from "../../common/validation";

/** The three ways to get a cluster. */
export type ClusterMode = "create" | "attach" | "kubeconfig";

export interface CheckContext {
    /** The args, read by field name (values may be Outputs). */
    readonly a: ArgBag;
    /** Every broken rule, thrown together once all checks ran. */
    readonly p: Problems;
    /** Things that work but deserve the user's attention; logged at preview. */
    readonly warnings: string[];
    readonly mode: ClusterMode;
}
