/**
 * The render input of one model service as `AksWebservice` builds it (the diabetes sample in the
 * AML layout, key auth, router in `azureml`), for tests that put a real model service on an API
 * server or feed its objects to the router's Kubernetes backend.
 */
import {
    validateWebserviceSettings,
    type WebserviceSettingsInput,
} from "../../components/settings";
import type { WebserviceRenderInput } from "../../components/webservice/render";

/** A model image reference pinned by digest (never pulled: kwok and the test kubelet run no images). */
export const TEST_MODEL_IMAGE = `registry.e2e.invalid/amlaks-apps/diabetes@sha256:${"b".repeat(64)}`;

export function modelServiceInput(
    settings: Partial<WebserviceSettingsInput>,
    keys: { readonly primaryKey: string; readonly secondaryKey: string },
    extra: Partial<WebserviceRenderInput> = {},
): WebserviceRenderInput {
    return {
        settings: validateWebserviceSettings({ name: "diabetes", ...settings }),
        image: TEST_MODEL_IMAGE,
        layout: {
            appRoot: "/var/azureml-app",
            sourceDirectory: "/var/azureml-app",
            entryScript: "score.py",
            modelDir: "/var/azureml-app/azureml-models/diabetes/1",
        },
        routerNamespace: "azureml",
        keys,
        ...extra,
    };
}
