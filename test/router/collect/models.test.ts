/**
 * How a service's model list reaches the router, which names model data folders after it:
 * `AksWebservice` renders the `amlaks.io/models` annotation from its model layout, the
 * Kubernetes backend reads it back into `ServiceDefinition.models`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { planAppLayout } from "../../../components/webservice/app-layer";
import {
    MODELS_ANNOTATION,
    MODELS_ANNOTATION_MAX_BYTES,
    parseModelsAnnotation,
    renderModelsAnnotation,
} from "../../../components/webservice/contract";
import { renderDeployment } from "../../../components/webservice/render";
import { translateDeployment } from "../../../router/backends/kubernetes/translate";
import { modelOf } from "../../../router/collect/layout";
import { validateK8sObject } from "../../cluster/k8s-validate";
import { modelServiceInput } from "../../support/model-service";

const KEYS = {
    primaryKey: "p".repeat(20) + "0123456789abcdef",
    secondaryKey: "s".repeat(20) + "0123456789abcdef",
};

describe("model list: AksWebservice → annotation → router", () => {
    test("the rendered Deployment names its models in order; the router reads them back", () => {
        const layout = planAppLayout("score.py", ["/m/ridge.pkl", "/m/lasso.pkl", "/n/forest"]);
        const input = modelServiceInput({ collectModelData: true }, KEYS, {
            layout: { ...layout },
        });
        const d = renderDeployment(input) as Parameters<typeof translateDeployment>[0] & object;
        validateK8sObject(d);
        assert.equal(
            d.metadata?.annotations?.[MODELS_ANNOTATION],
            '[{"name":"ridge","version":"1"},{"name":"lasso","version":"1"},{"name":"forest","version":"1"}]',
        );
        const t = translateDeployment(
            { ...d, metadata: { ...d.metadata, namespace: "azureml-services" } },
            undefined,
        );
        assert.ok(t.ok);
        assert.deepEqual(t.definition.models, [
            { name: "ridge", version: "1" },
            { name: "lasso", version: "1" },
            { name: "forest", version: "1" },
        ]);
        assert.deepEqual(modelOf(t.definition), { name: "ridge", version: "1" });
        assert.equal(t.definition.settings.collectModelData, true);
    });

    test("no models: no annotation, and the router's list is empty", () => {
        const d = renderDeployment(modelServiceInput({}, KEYS)) as Parameters<
            typeof translateDeployment
        >[0];
        assert.equal(d.metadata?.annotations?.[MODELS_ANNOTATION], undefined);
        const t = translateDeployment(d, undefined);
        assert.ok(t.ok);
        assert.deepEqual(t.definition.models, []);
    });

    test("the annotation stays within its size bound, keeping the leading models", () => {
        const many = Array.from({ length: 1000 }, (_, i) => ({
            name: `model-${i}-${"x".repeat(200)}`,
            version: String(i + 1),
        }));
        const text = renderModelsAnnotation(many);
        assert.ok(text.length <= MODELS_ANNOTATION_MAX_BYTES, `${text.length} bytes`);
        const back = parseModelsAnnotation(text);
        assert.deepEqual(back.problems, []);
        assert.ok(back.models.length > 100);
        assert.deepEqual(back.models, many.slice(0, back.models.length));
    });

    test("an edited annotation: bad entries are ignored with a warning, never used as paths", () => {
        const d = renderDeployment(
            modelServiceInput({}, KEYS, {
                layout: { ...planAppLayout("score.py", ["/m/ridge.pkl"]) },
            }),
        ) as Parameters<typeof translateDeployment>[0];
        const edited = {
            ...d,
            metadata: {
                ...d.metadata,
                annotations: {
                    ...d.metadata?.annotations,
                    [MODELS_ANNOTATION]:
                        '[{"name":"../../etc","version":"1"},{"name":"ok","version":"2"},7]',
                },
            },
        };
        const t = translateDeployment(edited, undefined);
        assert.ok(t.ok);
        assert.deepEqual(t.definition.models, [{ name: "ok", version: "2" }]);
        assert.equal(t.warnings.filter((w) => w.includes(MODELS_ANNOTATION)).length, 2);
        assert.deepEqual(parseModelsAnnotation("{").models, []);
        assert.match(parseModelsAnnotation("{").problems[0], /not valid JSON/);
    });
});
