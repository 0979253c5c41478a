"""Entry script of the bundled sample: the Azure ML v1 diabetes regression, standard library only.

AML contract (init()/run()): `init()` runs once when the replica starts and loads the model from
AZUREML_MODEL_DIR; `run(raw_data)` gets the request body as a JSON string
`{"data": [[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6], ...]}` and returns one prediction per row.

`input_sample` / `output_sample` are read by the local harness to publish /swagger.json (the
stdlib replacement for inference-schema's @input_schema/@output_schema decorators).
"""

import json
import os

MODEL_FILE = "sklearn_regression_model.json"

input_sample = {"data": [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}
output_sample = [3830.0435194873]

model = None


def init():
    global model
    model_dir = os.environ.get("AZUREML_MODEL_DIR", "model")
    with open(os.path.join(model_dir, MODEL_FILE), encoding="utf-8") as f:
        model = json.load(f)
    if len(model["coefficients"]) != len(model["featureNames"]):
        raise ValueError(f"{MODEL_FILE}: coefficients and featureNames differ in length")
    print(f"loaded {MODEL_FILE}: {len(model['coefficients'])} features")


def predict(rows):
    coefficients = model["coefficients"]
    intercept = model["intercept"]
    width = len(coefficients)
    predictions = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise ValueError(f"data[{i}] must be a list of {width} numbers")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise ValueError(f"data[{i}] must contain numbers only")
        # Summation order may differ from numpy's dot in the last bits; tests allow 1e-9 relative.
        predictions.append(sum(c * v for c, v in zip(coefficients, row)) + intercept)
    return predictions


def run(raw_data):
    payload = json.loads(raw_data)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ValueError('expected a JSON object {"data": [[10 numbers], ...]}')
    return predict(payload["data"])
