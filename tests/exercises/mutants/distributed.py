"""Realistic wrong answers to distributed (see tests/exercises/mutation.py), and right ones."""

from mutation import Mutant, edit

A, S, R, F = "aggregate", "sync_round", "ring_allreduce_time", "optimal_fraction"


def agg(body):
    return f"def aggregate(grads, sizes):\n    return {body}\n"


SYNC = """
def sync_round(X, y, w, shards, lr):
    local = np.array([lsq_grad(X[s], y[s], w) for s in shards])
    g = aggregate(local, np.array([len(s) for s in shards]))
    return w - lr * g, g
"""


def ring(body):
    return f"def ring_allreduce_time(n_bytes, p, latency, bandwidth):\n    return {body}\n"


FRACTION = """
def optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                     result_bytes=0.0, latency=0.0):
    a = work / local_rate
    b = data_bytes / link_rate + work / remote_rate
    c = 2 * latency + result_bytes / link_rate
    if c >= a:
        return 1.0
    return (b + c) / (a + b)
"""


MUTANTS = [
    Mutant("aggregate: plain mean", A, agg("grads.mean(axis=0)")),
    Mutant("aggregate: not normalised", A, agg("np.asarray(sizes, dtype=float) @ grads")),
    Mutant("aggregate: divides by p", A, agg("np.asarray(sizes) @ grads / len(sizes)")),
    Mutant("aggregate: mean of the non-empty shards", A, agg("grads[sizes > 0].mean(axis=0)")),
    Mutant(
        "aggregate: weights over the wrong axis", A, agg("np.average(grads, axis=1, weights=sizes)")
    ),
    Mutant("aggregate: shape (1, d)", A, agg("np.asarray(sizes)[None] @ grads / np.sum(sizes)")),
    Mutant("aggregate: integer division", A, agg("np.asarray(sizes) @ grads // np.sum(sizes)")),
    Mutant(
        "sync: plain mean of the workers",
        S,
        edit(SYNC, "aggregate(local, np.array([len(s) for s in shards]))", "local.mean(axis=0)"),
    ),
    Mutant(
        "sync: w changed in place",
        S,
        edit(SYNC, "    return w - lr * g, g\n", "    w -= lr * g\n    return w, g\n"),
    ),
    Mutant("sync: wrong sign", S, edit(SYNC, "w - lr * g, g", "w + lr * g, g")),
    Mutant(
        "sync: all rows instead of the shards",
        S,
        edit(SYNC, "lsq_grad(X[s], y[s], w)", "lsq_grad(X, y, w)"),
    ),
    Mutant(
        "sync: equal weights",
        S,
        edit(SYNC, "np.array([len(s) for s in shards])", "np.ones(len(shards))"),
    ),
    Mutant(
        "sync: returns (g, w_new)", S, edit(SYNC, "return w - lr * g, g", "return g, w - lr * g")
    ),
    Mutant("sync: ignores lr", S, edit(SYNC, "w - lr * g, g", "w - 0.1 * g, g")),
    Mutant(
        "ring: latency counted once",
        R,
        ring("(p - 1) * latency + 2 * (p - 1) / p * n_bytes / bandwidth"),
    ),
    Mutant(
        "ring: without 1/p", R, ring("2 * (p - 1) * latency + 2 * (p - 1) * n_bytes / bandwidth")
    ),
    Mutant(
        "ring: the central node's time", R, ring("2 * (p - 1) * (latency + n_bytes / bandwidth)")
    ),
    Mutant(
        "ring: reduce-scatter only",
        R,
        ring("(p - 1) * latency + (p - 1) / p * n_bytes / bandwidth"),
    ),
    Mutant(
        "ring: bandwidth in bits",
        R,
        ring("2 * (p - 1) * latency + 2 * (p - 1) / p * 8 * n_bytes / bandwidth"),
    ),
    Mutant(
        "ring: p - 1 chunks of N / (p - 1)",
        R,
        ring("2 * (p - 1) * latency + (2 * n_bytes / bandwidth if p > 1 else 0.0)"),
    ),
    Mutant("fraction: no cap at 1", F, edit(FRACTION, "    if c >= a:\n        return 1.0\n", "")),
    Mutant(
        "fraction: (a + c) / (a + b)", F, edit(FRACTION, "(b + c) / (a + b)", "(a + c) / (a + b)")
    ),
    Mutant("fraction: latency counted once", F, edit(FRACTION, "c = 2 * latency", "c = latency")),
    Mutant("fraction: data not sent", F, edit(FRACTION, "b = data_bytes / link_rate + ", "b = ")),
    Mutant(
        "fraction: the helper at the local rate",
        F,
        edit(FRACTION, "work / remote_rate", "work / local_rate"),
    ),
    Mutant(
        "fraction: the offloaded fraction",
        F,
        edit(FRACTION, "return (b + c) / (a + b)", "return 1 - (b + c) / (a + b)"),
    ),
    Mutant(
        "fraction: ignores result_bytes",
        F,
        edit(FRACTION, "c = 2 * latency + result_bytes / link_rate", "c = 2 * latency"),
    ),
]

CORRECT = [
    Mutant(
        "aggregate: np.average with weights", A, agg("np.average(grads, axis=0, weights=sizes)")
    ),
    Mutant(
        "aggregate: a loop over the workers",
        A,
        """
def aggregate(grads, sizes):
    total = np.zeros(grads.shape[1])
    for g, n in zip(grads, sizes):
        total += n * g
    return total / sum(sizes)
""",
    ),
    Mutant(
        "sync: sums of the shards, divided once",
        S,
        """
def sync_round(X, y, w, shards, lr):
    rows = np.concatenate(shards)
    g = sum(len(s) * lsq_grad(X[s], y[s], w) for s in shards) / len(rows)
    return w - lr * g, g
""",
    ),
    Mutant(
        "fraction: min(..., 1)",
        F,
        """
def optimal_fraction(work, local_rate, remote_rate, link_rate, data_bytes=0.0,
                     result_bytes=0.0, latency=0.0):
    a = work / local_rate
    b = data_bytes / link_rate + work / remote_rate
    c = 2 * latency + result_bytes / link_rate
    return min(1.0, (b + c) / (a + b))
""",
    ),
]
