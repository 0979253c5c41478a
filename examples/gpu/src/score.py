"""Entry script of the GPU example: the diabetes regression of examples/sample, computed on the GPU.

The model (coefficients + intercept, examples/sample/model) is loaded into a float64 tensor on the
first CUDA device; each request is one matrix-vector product there. A replica without a GPU fails
in init() with a clear message instead of silently scoring on the CPU.

    {"data": [[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6], ...]}  ->  [prediction, ...]
"""

import json
import os

import torch

MODEL_FILE = "sklearn_regression_model.json"

weights = None
intercept = 0.0
device = None


def init():
    global weights, intercept, device
    if not torch.cuda.is_available():
        raise RuntimeError(
            "no CUDA device visible: this service needs gpuCores >= 1 on a cluster created with a "
            "GPU VM size (and the NVIDIA device plugin, which AksInferenceCluster installs)"
        )
    device = torch.device("cuda:0")
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], MODEL_FILE), encoding="utf-8") as f:
        model = json.load(f)
    weights = torch.tensor(model["coefficients"], dtype=torch.float64, device=device)
    intercept = float(model["intercept"])
    print(f"loaded {MODEL_FILE} on {torch.cuda.get_device_name(device)}")


def run(raw_data):
    payload = json.loads(raw_data)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ValueError('expected a JSON object {"data": [[10 numbers], ...]}')
    rows = torch.tensor(payload["data"], dtype=torch.float64, device=device)
    if rows.ndim != 2 or rows.shape[1] != weights.shape[0]:
        raise ValueError(f"data must be a list of rows of {weights.shape[0]} numbers")
    return (rows @ weights + intercept).cpu().tolist()
