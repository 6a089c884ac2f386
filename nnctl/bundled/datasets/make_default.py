"""Write datasets/default.csv: the bundled default dataset for the 3-3-2-1 network.

1,000 points drawn uniformly from the cube [-1, 1]^3 with numpy's default_rng(2026);
label 1 where x1 * x2 > 0 (the first and third quadrants), else 0. x3 carries no signal.
No linear model does better than chance on it; a 3-3-2-1 network learns it.
Run from the repository root: python datasets/make_default.py
"""

from pathlib import Path

import numpy as np

rng = np.random.default_rng(2026)
X = rng.uniform(-1, 1, size=(1000, 3))
label = (X[:, 0] * X[:, 1] > 0).astype(int)
out = Path(__file__).with_name("default.csv")
with out.open("w") as f:
    f.write("x1,x2,x3,label\n")
    for row, y in zip(X, label):
        f.write(f"{row[0]:.4f},{row[1]:.4f},{row[2]:.4f},{y}\n")
