"""Hidden tests of distributed, judged in the grader's process (see autograder.hidden).

Never released: the student's kernel only receives each call's inputs, after all of the
notebook has run, and never the expected values, which come from coursekit here.
"""

import numpy as np

from autograder.hidden import Call, Case, HiddenTests, check_array, check_number
from coursekit.data import batch_indices
from coursekit.distributed.cost import allreduce_time
from coursekit.distributed.offload import optimal_fraction as ref_fraction
from coursekit.distributed.offload import step_time
from coursekit.distributed.simulate import simulate
from coursekit.objectives import LeastSquares, Logistic
from coursekit.optimize import gradient_descent

TESTS = HiddenTests()

# The course's Part 1, put in place of the student's while Part 2 is tested
# (autograder.hidden.Call's ``references``): a mistake is charged to its own part only.
REFERENCES = {"aggregate": "def aggregate(grads, sizes):\n"
                           "    import numpy as np\n"
                           "    weights = np.asarray(sizes, dtype=float)\n"
                           "    return weights @ grads / weights.sum()\n"}


@TESTS.cell("test_aggregate", seed=30501)
def aggregate_cases(rng):
    """Weighted means of shards' gradients are the gradient of the batch (two losses)."""
    for trial in range(8):
        n, d, p = int(rng.integers(2, 60)), int(rng.integers(1, 6)), int(rng.integers(1, 9))
        X = rng.standard_normal((n, d))
        if trial % 2:
            f = Logistic(X, rng.integers(0, 2, size=n).astype(float))
        else:
            f = LeastSquares(X, rng.standard_normal(n))
        w = rng.standard_normal(d)
        # Random, unequal shards of a random batch (some may be empty).
        batch = rng.permutation(n)[: int(rng.integers(1, n + 1))]
        cuts = np.sort(rng.integers(0, len(batch) + 1, size=p - 1))
        shards = np.split(batch, cuts)
        sizes = np.array([len(s) for s in shards])
        local = np.array([f.grad(w, s) if len(s) else np.zeros(d) for s in shards])
        expected = f.grad(w, batch)
        what = (f"aggregate (random test {trial}: {type(f).__name__}, shard sizes "
                f"{sizes.tolist()})")
        yield Case(what, Call("aggregate(grads, sizes)", grads=local, sizes=sizes),
                   lambda got, what=what, expected=expected:
                   check_array(what, got.value, expected))


@TESTS.cell("test_sync_round", seed=30502)
def sync_round_cases(rng):
    """The simulator's first synchronous step; shards covering all rows make a GD step."""
    for trial in range(5):
        n, d = int(rng.integers(8, 50)), int(rng.integers(1, 5))
        p = int(rng.integers(1, 6))
        bs = int(rng.integers(1, n // p + 1))
        X = rng.standard_normal((n, d))
        y = rng.standard_normal(n)
        f = LeastSquares(X, y)
        w = rng.standard_normal(d)
        lr = float(rng.uniform(0.01, 1.0)) / f.L
        seed = int(rng.integers(10_000))
        # The simulator's first step: batch p*b rows in the course's order, cut into p shards.
        hist = simulate(f, w, n_workers=p, strategy="sync", steps=1, lr=lr, batch_size=bs,
                        seed=seed)
        batch = next(batch_indices(n, p * bs, seed=seed))[1]
        what = f"sync_round (random test {trial}: n={n}, d={d}, p={p} workers of {bs} rows)"
        w_before = w.copy()

        def check(got, what=what, expected=hist.params[1], w0=w_before):
            result = got.value
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise AssertionError(f"{what}: sync_round must return a tuple (w_new, g)")
            check_array(f"{what}: w_new", result[0], expected, rtol=1e-6, atol=1e-10)
            if not np.array_equal(got.kept["w"], w0):
                raise AssertionError(f"{what} changed w in place")
        yield Case(what, Call("sync_round(X, y, w, shards, lr)", keep=["w"],
                              references=REFERENCES, X=X, y=y, w=w,
                              shards=np.array_split(batch, p), lr=float(lr)), check)
    # The law: shards that partition all rows, however unequal, make one gradient-descent step.
    for trial in range(5, 8):
        n, d = int(rng.integers(5, 40)), int(rng.integers(1, 5))
        X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
        f = LeastSquares(X, y)
        w = rng.standard_normal(d)
        cuts = np.sort(rng.choice(np.arange(1, n), size=min(3, n - 1), replace=False))
        shards = np.split(rng.permutation(n), cuts)
        ref = gradient_descent(f, w, lr=0.5 / f.L, max_iter=1, tol=0.0)
        what = (f"sync_round (random test {trial}: shard sizes {[len(s) for s in shards]} "
                "covering all rows; it should be one gradient-descent step)")
        yield Case(what, Call("sync_round(X, y, w, shards, lr)[0]", references=REFERENCES,
                              X=X, y=y, w=w, shards=shards, lr=float(0.5 / f.L)),
                   lambda got, what=what, expected=ref.path[1]:
                   check_array(what, got.value, expected, rtol=1e-6, atol=1e-10))


@TESTS.cell("test_ring_allreduce_time", seed=30503)
def ring_allreduce_time_cases(rng):
    for trial in range(12):
        N = float(10 ** rng.uniform(2, 10))
        p = int(rng.integers(1, 2000)) if trial % 3 else int(rng.integers(1, 5))
        alpha = float(10 ** rng.uniform(-7, -2))
        B = float(10 ** rng.uniform(6, 11))
        expected = allreduce_time(N, p, alpha, B, algorithm="ring")
        what = (f"ring_allreduce_time (random test {trial}: N={N:.3g}, p={p}, "
                f"latency={alpha:.3g}, bandwidth={B:.3g})")
        yield Case(what, Call("ring_allreduce_time(n_bytes, p, latency, bandwidth)",
                              n_bytes=N, p=p, latency=alpha, bandwidth=B),
                   lambda got, what=what, expected=expected:
                   check_number(what, got.value, expected, rtol=1e-10))


@TESTS.cell("test_optimal_fraction", seed=30504)
def optimal_fraction_cases(rng):
    """Against coursekit's formula, and no fraction on a grid gives a shorter step."""
    grid = np.linspace(0.0, 1.0, 1001)
    for trial in range(12):
        args = dict(work=float(10 ** rng.uniform(6, 12)),
                    local_rate=float(10 ** rng.uniform(8, 11)),
                    remote_rate=float(10 ** rng.uniform(8, 12)),
                    link_rate=float(10 ** rng.uniform(5, 10)),
                    data_bytes=float(10 ** rng.uniform(2, 8)) * (trial % 3 > 0),
                    result_bytes=float(10 ** rng.uniform(2, 7)) * (trial % 4 > 0),
                    latency=float(10 ** rng.uniform(-6, -1)) * (trial % 2))
        best = step_time(grid, **args).min()
        what = "optimal_fraction (random test {}: {})".format(
            trial, ", ".join(f"{k}={v:.3g}" for k, v in args.items()))

        def check(got, what=what, args=args, best=best):
            check_number(what, got.value, ref_fraction(**args), rtol=1e-9)
            # The law: no fraction on a grid gives a shorter step.
            if step_time(float(got.value), **args) > best * (1 + 1e-9):
                raise AssertionError(f"{what}: a fraction on a grid gives a shorter step")
        yield Case(what, Call("optimal_fraction(**args)", args=args), check)
