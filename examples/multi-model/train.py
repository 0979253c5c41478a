"""Fits the three models of the multi-model example and writes the files it serves and tests with.

Three regressions on scikit-learn's diabetes data set (442 rows, 10 standardised features), each
exported as plain coefficients + intercept (JSON, the sample's `amlaks-linear-regression/v1`
format) so that `src/score.py` needs only the Python standard library:

    models/ridge.json    Ridge(alpha=1.0)   the v1 sample's model (examples/sample)
    models/lasso.json    Lasso(alpha=0.1)   sparse: some coefficients are exactly 0
    models/linear.json   LinearRegression() ordinary least squares

Run once (Debian: `apt-get install python3-sklearn`), outputs are committed:
    /usr/bin/python3 examples/multi-model/train.py
    npx prettier --write examples/multi-model/models examples/multi-model/reference-predictions.json
"""

import json
import os

import sklearn
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, LinearRegression, Ridge

MODELS = {
    "ridge": (Ridge(alpha=1.0), "Ridge(alpha=1.0)"),
    "lasso": (Lasso(alpha=0.1), "Lasso(alpha=0.1)"),
    "linear": (LinearRegression(), "LinearRegression()"),
}
REFERENCE_ROWS = [0, 1, 2, 100, 200, 441]  # the rows examples/sample uses

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    data = load_diabetes()
    x, y = data.data, data.target
    rows = x[REFERENCE_ROWS]
    predictions = {}
    os.makedirs(os.path.join(HERE, "models"), exist_ok=True)
    for name, (estimator, label) in MODELS.items():
        model = estimator.fit(x, y)
        exported = {
            "format": "amlaks-linear-regression/v1",
            "description": f"{label} on scikit-learn's diabetes data set",
            "trainedWith": f"scikit-learn {sklearn.__version__}, {label}, {len(y)} rows",
            "featureNames": list(data.feature_names),
            # repr() round-trips a float exactly, and json writes floats with repr.
            "coefficients": [float(c) for c in model.coef_],
            "intercept": float(model.intercept_),
        }
        with open(os.path.join(HERE, "models", f"{name}.json"), "w") as f:
            json.dump(exported, f, indent=2)
            f.write("\n")
        predictions[name] = model.predict(rows).tolist()

    reference = {
        "description": "Rows of the diabetes data set and scikit-learn's predictions of each model",
        "rows": REFERENCE_ROWS,
        "input": {"data": rows.tolist()},
        "predictions": predictions,
    }
    with open(os.path.join(HERE, "reference-predictions.json"), "w") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    print("wrote models/{ridge,lasso,linear}.json and reference-predictions.json")


if __name__ == "__main__":
    main()
