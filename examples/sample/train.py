"""Fits the sample model once and writes the files the sample serves and the tests compare with.

The classic Azure ML v1 sample ("register a model and deploy it", MachineLearningNotebooks
`model-register-and-deploy.ipynb`) trained `Ridge()` — scikit-learn's default alpha of 1.0 — on the
full diabetes data set (442 rows, 10 standardised features) and pickled it. We fit the same model
but export it as plain coefficients + intercept (JSON), so `score.py` and the local runtime need only
the Python standard library. scikit-learn is needed here only, never at serving or test time.

Run (Debian: `apt-get install python3-sklearn`):
    /usr/bin/python3 examples/sample/train.py
then `npx prettier --write examples/sample/reference-predictions.json` (the repository's JSON style).
Outputs (committed):
    model/sklearn_regression_model.json   coefficients, intercept, feature names
    reference-predictions.json            a few data-set rows and sklearn's predictions for them
"""

import json
import os

import sklearn
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

ALPHA = 1.0  # Ridge() default, as in the v1 notebook
REFERENCE_ROWS = [0, 1, 2, 100, 200, 441]  # a spread of rows, first and last included

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    data = load_diabetes()
    x, y = data.data, data.target
    model = Ridge(alpha=ALPHA).fit(x, y)

    exported = {
        "format": "amlaks-linear-regression/v1",
        "description": "Ridge regression on scikit-learn's diabetes data set (the Azure ML v1 sample)",
        "trainedWith": f"scikit-learn {sklearn.__version__}, Ridge(alpha={ALPHA}), {len(y)} rows",
        "featureNames": list(data.feature_names),
        # repr() round-trips a float exactly, and json writes floats with repr.
        "coefficients": [float(c) for c in model.coef_],
        "intercept": float(model.intercept_),
    }
    os.makedirs(os.path.join(HERE, "model"), exist_ok=True)
    with open(os.path.join(HERE, "model", "sklearn_regression_model.json"), "w") as f:
        json.dump(exported, f, indent=2)
        f.write("\n")

    rows = x[REFERENCE_ROWS]
    reference = {
        "description": "Rows of the diabetes data set and scikit-learn's Ridge predictions for them",
        "rows": REFERENCE_ROWS,
        "input": {"data": rows.tolist()},
        "predictions": model.predict(rows).tolist(),
    }
    with open(os.path.join(HERE, "reference-predictions.json"), "w") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    print("wrote model/sklearn_regression_model.json and reference-predictions.json")


if __name__ == "__main__":
    main()
