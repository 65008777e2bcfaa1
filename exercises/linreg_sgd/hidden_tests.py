"""Hidden tests of linreg_sgd, judged in the grader's process (see autograder.hidden).

Never released: the student's kernel only receives each call's inputs, after all of the
notebook has run, and never the expected values, which come from coursekit here.
"""

import numpy as np

from autograder.hidden import Call, Case, HiddenTests, check_array, check_number
from coursekit.data import batch_indices, make_regression
from coursekit.gradcheck import numerical_grad
from coursekit.objectives import LeastSquares
from coursekit.optimize import gradient_descent, sgd
from coursekit.optimize import step_decay as ref_step_decay

TESTS = HiddenTests()

# The course's Parts 1-3, put in place of the student's while Part 4 is tested
# (autograder.hidden.Call's ``references``): a mistake is charged to its own part only.
REFERENCES = {
    "lsq_grad": "def lsq_grad(X, y, w):\n    return X.T @ (X @ w - y) / X.shape[0]\n",
    "epoch_batches": "def epoch_batches(n, batch_size, rng):\n"
                     "    order = rng.permutation(n)\n"
                     "    return [order[s:s + batch_size] for s in range(0, n, batch_size)]\n",
    "step_decay": "def step_decay(lr0, t, drop=0.5, every=100):\n"
                  "    return lr0 * drop ** (t // every)\n",
}


def _shape_of(value):
    return getattr(value, "shape", None)


@TESTS.cell("test_lsq_grad", seed=30201)
def lsq_grad_cases(rng):
    """Against coursekit's gradient, the numerical gradient of its loss, and on mini-batches."""
    for trial, (n, d) in enumerate([(1, 1), (5, 1), (7, 3), (40, 5), (12, 12), (3, 6)]):
        X = rng.standard_normal((n, d))
        y = rng.standard_normal(n)
        w = rng.standard_normal(d) * 2
        f = LeastSquares(X, y)
        expected = f.grad(w)
        # The law behind the formula: it is the derivative of the loss.
        numeric = numerical_grad(f.value, w)
        what = f"lsq_grad (random test {trial}, n={n}, d={d})"

        def check(got, what=what, trial=trial, expected=expected, numeric=numeric):
            check_array(what, got.value, expected)
            check_array(f"lsq_grad vs the numerical gradient (random test {trial})", got.value,
                        numeric, rtol=1e-5, atol=1e-7)
        yield Case(what, Call("lsq_grad(X, y, w)", X=X, y=y, w=w), check)
        idx = rng.choice(n, size=max(1, n // 2), replace=False)
        expected = f.grad(w, idx)
        what = f"lsq_grad on a mini-batch (random test {trial})"
        yield Case(what, Call("lsq_grad(X[idx], y[idx], w)", X=X, y=y, w=w, idx=idx),
                   lambda got, what=what, expected=expected:
                   check_array(what, got.value, expected))


@TESTS.cell("test_epoch_batches", seed=30202)
def epoch_batches_cases(rng):
    """Three epochs from one generator against the course's batch order."""
    for trial in range(6):
        n = int(rng.integers(1, 40))
        bs = int(rng.integers(1, n + 1))
        seed = int(rng.integers(10_000))
        ref = batch_indices(n, bs, seed=seed)
        epochs = []
        for _ in range(3):
            expected = []
            while len(expected) < -(-n // bs):
                expected.append(next(ref)[1])
            epochs.append(expected)
        what = f"epoch_batches (random test {trial}: n={n}, batch_size={bs}"

        def check(got, what=what, epochs=epochs):
            for epoch, (batches, expected) in enumerate(zip(got.value, epochs, strict=False)):
                name = f"{what}, epoch {epoch})"
                if not isinstance(batches, list):
                    raise AssertionError(f"{name} returned a {type(batches).__name__}; "
                                         "expected a list of index arrays")
                if len(batches) != len(expected):
                    raise AssertionError(f"{name} returned {len(batches)} batches; expected "
                                         f"{len(expected)}")
                for k, (g, e) in enumerate(zip(batches, expected, strict=True)):
                    check_array(f"{name}, batch {k}", np.asarray(g), e)
        yield Case(f"{what})", Call("[epoch_batches(n, bs, gen) for _ in range(3)]",
                                    setup="gen = np.random.default_rng(seed)", n=n, bs=bs,
                                    seed=seed), check)


@TESTS.cell("test_step_decay", seed=30203)
def step_decay_cases(rng):
    for trial in range(20):
        lr0 = float(10 ** rng.uniform(-4, 0))
        drop = float(rng.uniform(0.05, 1.0))
        every = int(rng.integers(1, 50))
        t = int(rng.integers(0, 500))
        expected = ref_step_decay(drop, every)(lr0, t)
        what = (f"step_decay (random test {trial}: lr0={lr0:.3g}, t={t}, drop={drop:.3g}, "
                f"every={every})")
        yield Case(what, Call("step_decay(lr0, t, drop, every)", lr0=lr0, t=t, drop=drop,
                              every=every),
                   lambda got, what=what, expected=expected:
                   check_number(what, got.value, expected, rtol=1e-10))


def _check_path(what, expected, w0):
    def check(got):
        if not np.array_equal(got.kept["w0"], w0):
            raise AssertionError(f"{what} changed its argument w0 in place (w0 is left "
                                 "unchanged): start from a copy, np.array(w0, dtype=float)")
        if not isinstance(got.value, np.ndarray) or got.value.shape != expected.shape:
            raise AssertionError(f"{what} returned shape {_shape_of(got.value)}; expected "
                                 f"{expected.shape}")
        check_array(what, got.value, expected, rtol=1e-6, atol=1e-9)
    return check


@TESTS.cell("test_minibatch_sgd", seed=30204)
def minibatch_sgd_cases(rng):
    """Whole paths against coursekit's SGD with step decay; full-batch SGD is GD."""
    for trial in range(6):
        n = int(rng.integers(2, 30))
        d = int(rng.integers(1, 5))
        X = rng.standard_normal((n, d))
        y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
        f = LeastSquares(X, y)
        w0 = rng.standard_normal(d)
        bs = int(rng.integers(1, n + 1))
        epochs = int(rng.integers(1, 4))
        seed = int(rng.integers(10_000))
        drop = float(rng.uniform(0.3, 1.0))
        every = int(rng.integers(1, 10))
        lr = float(0.5 / f.L)
        ref = sgd(f, w0, lr=lr, batch_size=bs, epochs=epochs, seed=seed,
                  schedule=ref_step_decay(drop, every))
        what = (f"minibatch_sgd (random test {trial}: n={n}, d={d}, batch_size={bs}, "
                f"epochs={epochs}, seed={seed}, drop={drop:.3g}, every={every})")
        yield Case(what, Call("minibatch_sgd(X, y, w0, lr, bs, epochs, seed, drop, every)",
                              keep=["w0"], references=REFERENCES, X=X, y=y, w0=w0, lr=lr,
                              bs=bs, epochs=epochs, seed=seed, drop=drop, every=every),
                   _check_path(what, ref.path, w0))
    # The law: full-batch SGD is gradient descent.
    X = rng.standard_normal((25, 3))
    y = rng.standard_normal(25)
    f = LeastSquares(X, y)
    w0 = rng.standard_normal(3)
    gd = gradient_descent(f, w0, lr=1.0 / f.L, max_iter=8, tol=0.0)
    what = "minibatch_sgd with batch_size = n (it should be gradient descent)"
    yield Case(what, Call("minibatch_sgd(X, y, w0, lr, 25, 8, seed=3)", keep=["w0"],
                          references=REFERENCES, X=X, y=y, w0=w0, lr=float(1.0 / f.L)),
               _check_path(what, gd.path, w0))


@TESTS.cell("test_normal_equations", seed=30205)
def normal_equations_cases(rng):
    for trial, (n, d) in enumerate([(2, 1), (10, 3), (50, 6), (7, 7)]):
        X = rng.standard_normal((n, d))
        y = rng.standard_normal(n)
        expected = LeastSquares(X, y).solution()
        what = f"normal_equations (random test {trial}, n={n}, d={d})"
        yield Case(what, Call("normal_equations(X, y)", X=X, y=y),
                   lambda got, what=what, expected=expected:
                   check_array(what, got.value, expected, rtol=1e-6, atol=1e-9))
    X, y, w_true = make_regression(n_samples=200, n_features=4, noise=0.0, seed=11)
    what = "normal_equations on noise-free make_regression data"
    yield Case(what, Call("normal_equations(X, y)", X=X, y=y),
               lambda got, what=what, expected=w_true:
               check_array(what, got.value, expected, rtol=1e-6, atol=1e-9))
