"""Entry script of the multi-model example: several models behind one service (R27).

With several models, Azure ML v1 sets AZUREML_MODEL_DIR to the folder that holds one
`<model name>/<version>/` folder per model (the model files keep their names). `init()` loads
the newest version of every model found there; `run()` scores with the model the request names,
or with every model when it names none:

    {"model": "lasso", "data": [[10 numbers], ...]}  ->  {"lasso": [prediction, ...]}
    {"data": [[10 numbers], ...]}                    ->  {"lasso": [...], "linear": [...], "ridge": [...]}

Standard library only (the models are linear regressions exported as JSON by ../train.py).
`input_sample` / `output_sample` are read by the local harness to publish /swagger.json.
"""

import json
import os

input_sample = {"model": "ridge", "data": [[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]}
output_sample = {"ridge": [3830.0435194872957]}

models = {}


def _version_key(version):
    # AML versions are integers; anything else sorts after them, by name.
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _load(path):
    with open(path, encoding="utf-8") as f:
        model = json.load(f)
    if len(model["coefficients"]) != len(model["featureNames"]):
        raise ValueError(f"{path}: coefficients and featureNames differ in length")
    return model


def init():
    root = os.environ["AZUREML_MODEL_DIR"]
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        versions = sorted(os.listdir(folder), key=_version_key)
        files = [f for f in sorted(os.listdir(os.path.join(folder, versions[-1]))) if f.endswith(".json")]
        if len(files) != 1:
            raise ValueError(f"{name}/{versions[-1]}: expected one .json model file, found {files}")
        models[name] = _load(os.path.join(folder, versions[-1], files[0]))
    if len(models) < 2:
        raise RuntimeError(
            f"AZUREML_MODEL_DIR={root} holds {len(models)} model(s); this script serves several "
            "(with one model AZUREML_MODEL_DIR is that model's own folder)"
        )
    print(f"loaded {len(models)} models: {', '.join(models)}")


def _predict(model, rows):
    coefficients = model["coefficients"]
    intercept = model["intercept"]
    width = len(coefficients)
    predictions = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise ValueError(f"data[{i}] must be a list of {width} numbers")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise ValueError(f"data[{i}] must contain numbers only")
        predictions.append(sum(c * v for c, v in zip(coefficients, row)) + intercept)
    return predictions


def run(raw_data):
    payload = json.loads(raw_data)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ValueError('expected a JSON object {"model": "<name>", "data": [[10 numbers], ...]}')
    wanted = payload.get("model")
    if wanted is None:
        return {name: _predict(model, payload["data"]) for name, model in models.items()}
    if wanted not in models:
        raise ValueError(f"unknown model {wanted!r}; this service has {sorted(models)}")
    return {wanted: _predict(models[wanted], payload["data"])}
