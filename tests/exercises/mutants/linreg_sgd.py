"""Realistic wrong answers to linreg_sgd (see tests/exercises/mutation.py), and right ones."""

from mutation import Mutant

G, E, D, S, N = "lsq_grad", "epoch_batches", "step_decay", "minibatch_sgd", "normal_equations"
CRASHES = "the student's own SGD loop calls it with a wrong shape and raises"


def grad(body):
    return f"def lsq_grad(X, y, w):\n    return {body}\n"


def batches(body):
    return f"def epoch_batches(n, batch_size, rng):\n{body}"


def decay(body):
    return f"def step_decay(lr0, t, drop=0.5, every=100):\n    return {body}\n"


def normal(body):
    return f"def normal_equations(X, y):\n    return {body}\n"


SGD = """
def minibatch_sgd(X, y, w0, lr, batch_size, epochs, seed=0, drop=1.0, every=100):
    gen = np.random.default_rng(seed)
    w = np.array(w0, dtype=float)
    path = [w]
    t = 0
    for _ in range(epochs):
        for idx in epoch_batches(X.shape[0], batch_size, gen):
            w = w - step_decay(lr, t, drop, every) * lsq_grad(X[idx], y[idx], w)
            path.append(w)
            t += 1
    return np.array(path)
"""


def sgd(old, new):
    assert old in SGD, old
    return SGD.replace(old, new)


MUTANTS = [
    Mutant("grad: missing 1/n", G, grad("X.T @ (X @ w - y)")),
    Mutant("grad: wrong sign", G, grad("X.T @ (y - X @ w) / X.shape[0]")),
    Mutant("grad: divides by d", G, grad("X.T @ (X @ w - y) / X.shape[1]")),
    Mutant("grad: 1/(2n) kept from the loss", G, grad("X.T @ (X @ w - y) / (2 * X.shape[0])")),
    Mutant(
        "grad: mean over the wrong axis",
        G,
        grad("(X * (X @ w - y)[:, None]).mean(axis=1)"),
        also=(f"test_{S}",),
        why=CRASHES,
    ),
    Mutant(
        "grad: no transpose (square X only)",
        G,
        grad("X @ (X @ w - y) / X.shape[0]"),
        also=(f"test_{S}",),
        why=CRASHES,
    ),
    Mutant(
        "grad: column vector",
        G,
        grad("(X.T @ (X @ w - y) / X.shape[0])[:, None]"),
        also=(f"test_{S}",),
        why=CRASHES,
    ),
    Mutant(
        "batches: drops the short last batch",
        E,
        batches(
            "    order = rng.permutation(n)\n"
            "    return [order[s:s + batch_size] for s in range(0, n - batch_size + 1, "
            "batch_size)]\n"
        ),
    ),
    Mutant(
        "batches: no shuffle",
        E,
        batches(
            "    order = np.arange(n)\n"
            "    return [order[s:s + batch_size] for s in range(0, n, batch_size)]\n"
        ),
    ),
    Mutant(
        "batches: a new generator instead of rng",
        E,
        batches(
            "    order = np.random.default_rng(0).permutation(n)\n"
            "    return [order[s:s + batch_size] for s in range(0, n, batch_size)]\n"
        ),
    ),
    Mutant(
        "batches: draws with replacement",
        E,
        batches(
            "    order = rng.choice(n, size=n)\n"
            "    return [order[s:s + batch_size] for s in range(0, n, batch_size)]\n"
        ),
    ),
    Mutant(
        "batches: np.array_split into n // batch_size pieces",
        E,
        batches("    return list(np.array_split(rng.permutation(n), max(1, n // batch_size)))\n"),
    ),
    Mutant(
        "batches: reshape (batch_size must divide n)",
        E,
        batches(
            "    order = rng.permutation(n)\n"
            "    return list(order[: n // batch_size * batch_size].reshape(-1, batch_size))\n"
        ),
    ),
    Mutant(
        "batches: an empty batch when batch_size divides n",
        E,
        batches(
            "    order = rng.permutation(n)\n"
            "    return [order[s:s + batch_size] for s in range(0, n + 1, batch_size)]\n"
        ),
        also=(f"test_{S}",),
        why="the student's loop steps on an empty batch: a NaN mean",
    ),
    Mutant("decay: float division t / every", D, decay("lr0 * drop ** (t / every)")),
    Mutant("decay: off by one in the exponent", D, decay("lr0 * drop ** (t // every + 1)")),
    Mutant("decay: drops one step early", D, decay("lr0 * drop ** ((t + 1) // every)")),
    Mutant(
        "decay: drop times instead of to the power",
        D,
        decay("lr0 * drop * (t // every) if t >= every else lr0"),
    ),
    Mutant("decay: ignores drop", D, decay("lr0 * 0.5 ** (t // every)")),
    Mutant(
        "sgd: a new generator every epoch",
        S,
        sgd(
            "    for _ in range(epochs):\n",
            "    for _ in range(epochs):\n        gen = np.random.default_rng(seed)\n",
        ),
    ),
    Mutant(
        "sgd: step counter reset every epoch",
        S,
        sgd("    for _ in range(epochs):\n", "    for _ in range(epochs):\n        t = 0\n"),
    ),
    Mutant(
        "sgd: decays by epoch, not by step",
        S,
        sgd("    for _ in range(epochs):\n", "    for epoch in range(epochs):\n").replace(
            "step_decay(lr, t, drop, every)", "step_decay(lr, epoch, drop, every)"
        ),
    ),
    Mutant(
        "sgd: changes w0 in place",
        S,
        sgd(
            "    w = np.array(w0, dtype=float)\n    path = [w]\n",
            "    w = w0\n    path = [w.copy()]\n",
        )
        .replace("            w = w - step_decay", "            w -= step_decay")
        .replace("            path.append(w)\n", "            path.append(w.copy())\n"),
    ),
    Mutant(
        "sgd: full gradient instead of the batch's",
        S,
        sgd("lsq_grad(X[idx], y[idx], w)", "lsq_grad(X, y, w)"),
    ),
    Mutant("sgd: ignores seed", S, sgd("default_rng(seed)", "default_rng(0)")),
    Mutant(
        "sgd: counts t from 1",
        S,
        sgd(
            "            w = w - step_decay", "            t += 1\n            w = w - step_decay"
        ).replace(
            "            path.append(w)\n            t += 1\n", "            path.append(w)\n"
        ),
    ),
    Mutant(
        "sgd: ignores drop and every", S, sgd("step_decay(lr, t, drop, every)", "step_decay(lr, t)")
    ),
    Mutant(
        "sgd: one row per epoch",
        S,
        sgd(
            "            path.append(w)\n            t += 1\n",
            "            t += 1\n        path.append(w)\n",
        ),
    ),
    Mutant(
        "normal: ridge term",
        N,
        normal("np.linalg.solve(X.T @ X + 1e-3 * np.eye(X.shape[1]), X.T @ y)"),
    ),
    Mutant("normal: solves X w = y (square X only)", N, normal("np.linalg.solve(X, y)")),
    Mutant("normal: column vector", N, normal("np.linalg.solve(X.T @ X, (X.T @ y)[:, None])")),
    Mutant(
        "normal: a stray n / (n + 1) factor",
        N,
        normal("np.linalg.solve(X.T @ X, X.T @ y) * X.shape[0] / (X.shape[0] + 1)"),
    ),
]

CORRECT = [
    Mutant(
        "grad: a loop over samples",
        G,
        """
def lsq_grad(X, y, w):
    g = np.zeros(X.shape[1])
    for xi, yi in zip(X, y):
        g += (xi @ w - yi) * xi
    return g / len(y)
""",
    ),
    Mutant(
        "batches: rng.permutation then np.split",
        E,
        batches(
            "    order = rng.permutation(n)\n"
            "    return np.split(order, np.arange(batch_size, n, batch_size))\n"
        ),
    ),
    Mutant(
        "decay: a loop",
        D,
        """
def step_decay(lr0, t, drop=0.5, every=100):
    lr = lr0
    for _ in range(t // every):
        lr *= drop
    return lr
""",
    ),
    Mutant(
        "sgd: inline gradient and schedule",
        S,
        """
def minibatch_sgd(X, y, w0, lr, batch_size, epochs, seed=0, drop=1.0, every=100):
    rng = np.random.default_rng(seed)
    n = len(y)
    path = [np.asarray(w0, dtype=float).copy()]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            t = len(path) - 1
            w = path[-1]
            g = X[idx].T @ (X[idx] @ w - y[idx]) / len(idx)
            path.append(w - lr * drop ** (t // every) * g)
    return np.vstack(path)
""",
    ),
    Mutant("normal: lstsq", N, normal("np.linalg.lstsq(X, y, rcond=None)[0]")),
]
