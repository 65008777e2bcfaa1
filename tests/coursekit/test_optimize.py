"""Tests of coursekit.optimize: convergence rates from theory, exact laws between the loops,
update rules against independent hand-written loops, divergence and bad input."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coursekit import optimize as opt
from coursekit.data import batch_indices, make_classification, make_regression
from coursekit.objectives import LeastSquares, Logistic, Quadratic, Rosenbrock

SETTINGS = settings(max_examples=20, deadline=None)


def least_squares(n=40, d=3, noise=0.1, seed=0):
    X, y, w = make_regression(n_samples=n, n_features=d, noise=noise, seed=seed)
    return LeastSquares(X, y), w


def check_result_shapes(res, d):
    assert res.path.shape == (res.nit + 1, d)
    assert res.losses.shape == (res.nit + 1,)
    assert np.array_equal(res.x, res.path[-1])
    assert res.fun == res.losses[-1]
    assert np.all(np.isfinite(res.path)) and np.all(np.isfinite(res.losses))


# =========================================================================== gradient descent
@pytest.mark.parametrize("kappa", [2.0, 10.0, 100.0])
def test_gd_optimal_step_contracts_by_kappa_ratio(kappa):
    # lr = 2/(L+mu): every eigen-component shrinks by |1 - lr*lambda| <= (kappa-1)/(kappa+1),
    # with equality on the two extreme eigenvectors, so the measured ratio tends to the bound.
    q = Quadratic.with_condition_number(kappa, dim=6, seed=1)
    rate = (kappa - 1) / (kappa + 1)
    x0 = np.random.default_rng(0).standard_normal(6)
    res = opt.gradient_descent(q, x0, lr=2 / (q.L + q.mu), max_iter=60, tol=0.0)
    err = np.linalg.norm(res.path - q.minimizer, axis=1)
    ratios = err[1:] / err[:-1]
    assert np.all(ratios <= rate + 1e-12)
    assert ratios[-1] == pytest.approx(rate, rel=1e-6)
    check_result_shapes(res, 6)


@pytest.mark.parametrize("kappa", [3.0, 30.0])
def test_gd_step_one_over_L_rate_bound(kappa):
    q = Quadratic.with_condition_number(kappa, dim=5, seed=2)
    x0 = np.random.default_rng(1).standard_normal(5)
    res = opt.gradient_descent(q, x0, lr=1 / q.L, max_iter=200, tol=0.0)
    err = np.linalg.norm(res.path, axis=1)  # the minimiser is the origin
    assert np.all(err[1:] <= (1 - 1 / kappa) * err[:-1] * (1 + 1e-12))
    gap = res.losses - 0.0  # f* = 0
    k = np.arange(len(gap))
    assert np.all(gap <= (1 - 1 / kappa) ** k * gap[0] * (1 + 1e-9))
    # and the bound is tight: the slowest direction converges at exactly 1 - 1/kappa
    assert err[-1] / err[-2] == pytest.approx(1 - 1 / kappa, rel=1e-6)


def test_gd_converges_to_least_squares_solution():
    f, _ = least_squares()
    res = opt.gradient_descent(f, np.zeros(3), lr=1 / f.L, max_iter=5000, tol=1e-10)
    assert res.converged and "converged" in res.message
    assert np.linalg.norm(f.grad(res.x)) <= 1e-10
    assert np.allclose(res.x, f.solution(), atol=1e-8)
    assert np.all(np.diff(res.losses) <= 1e-15)  # lr <= 1/L: monotone decrease
    assert res.n_grad == res.nit + 1


def test_gd_max_iter_zero_and_reached():
    q = Quadratic.with_condition_number(10, dim=2)
    res = opt.gradient_descent(q, [1.0, 1.0], lr=0.01, max_iter=0)
    assert res.nit == 0 and not res.converged and res.path.shape == (1, 2)
    res = opt.gradient_descent(q, [1.0, 1.0], lr=0.01, max_iter=5)
    assert res.nit == 5 and not res.converged and "maximum number of iterations" in res.message


def test_gd_does_not_modify_x0_and_callback_can_stop():
    q = Quadratic.with_condition_number(10, dim=2)
    x0 = np.array([1.0, -1.0])
    seen = []
    res = opt.gradient_descent(q, x0, lr=0.05, callback=lambda x: seen.append(x) or len(seen) == 3)
    assert np.array_equal(x0, [1.0, -1.0])
    assert res.nit == 3 and not res.converged and "callback" in res.message
    assert np.array_equal(np.array(seen), res.path[1:])


@pytest.mark.parametrize("factor", [2.2, 5.0])
def test_gd_divergence_is_reported(factor):
    q = Quadratic.with_condition_number(10, dim=3, seed=0)
    res = opt.gradient_descent(q, np.ones(3), lr=factor / q.L, max_iter=100_000)
    assert not res.converged
    m = re.fullmatch(r"diverged at iteration (\d+)", res.message)
    assert m is not None
    assert int(m.group(1)) == res.nit + 1
    check_result_shapes(res, 3)
    # It really was running away: stopped by the blow-up test long before overflow.
    assert res.losses[-1] > 1e6 * max(1.0, res.losses[0])
    assert res.nit < 1000


def test_momentum_rate_on_ill_conditioned_quadratic():
    # Polyak's tuning: lr = 4/(sqrt(L)+sqrt(mu))^2, beta = ((sqrt k - 1)/(sqrt k + 1))^2 gives
    # the rate (sqrt k - 1)/(sqrt k + 1), much faster than GD's (k - 1)/(k + 1).
    kappa = 100.0
    q = Quadratic.with_condition_number(kappa, dim=20, seed=0)
    rho = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    res = opt.gradient_descent(
        q,
        np.ones(20),
        lr=4 / (math.sqrt(q.L) + math.sqrt(q.mu)) ** 2,
        rule=opt.Momentum(beta=rho**2),
        max_iter=400,
        tol=0.0,
    )
    err = np.linalg.norm(res.path, axis=1)
    measured = (err[400] / err[200]) ** (1 / 200)
    assert measured == pytest.approx(rho, rel=0.01)
    assert measured < (kappa - 1) / (kappa + 1) - 0.1


# =========================================================================== Newton
@pytest.mark.parametrize("line_search", [True, False])
def test_newton_solves_quadratic_in_one_step(line_search):
    rng = np.random.default_rng(3)
    M = rng.standard_normal((4, 4))
    A = M @ M.T + np.eye(4)
    b = rng.standard_normal(4)
    res = opt.newton(Quadratic(A, b), rng.standard_normal(4), line_search=line_search)
    assert res.converged and res.nit == 1
    assert np.allclose(res.x, np.linalg.solve(A, b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("line_search", [True, False])
@pytest.mark.parametrize("dim,seed", [(2, 0), (2, 1), (4, 1), (6, 2)])
def test_newton_quadratic_convergence_on_rosenbrock(line_search, dim, seed):
    f = Rosenbrock()
    x_star = f.minimizer(dim)
    x0 = x_star + 0.3 * np.random.default_rng(seed).standard_normal(dim)
    res = opt.newton(f, x0, tol=0.0, max_iter=60, line_search=line_search)
    err = np.linalg.norm(res.path - x_star, axis=1)
    assert np.min(err) < 1e-12
    # Near the optimum e_{k+1} <= C e_k^2 with C ~ |H(x*)^-1| * Lip(H) / 2, about 3e3 for
    # Rosenbrock (|H^-1| ~ 2.5, third derivatives ~ 24 b); 5e3 leaves room but no more.
    near = (err[:-1] < 1e-3) & (err[1:] > 0)
    assert near.any()
    assert np.all(err[1:][near] <= 5e3 * err[:-1][near] ** 2)
    # Quadratic, not linear: from 1e-3 to 1e-12 in at most 3 steps (rate 0.1 would need 9).
    assert int(np.argmax(err < 1e-12)) - int(np.argmax(err < 1e-3)) <= 3


def test_newton_with_line_search_from_the_classic_start():
    f = Rosenbrock()
    res = opt.newton(f, [-1.2, 1.0])
    assert res.converged
    assert np.allclose(res.x, [1.0, 1.0], atol=1e-10)
    assert np.all(np.diff(res.losses) <= 0)  # Armijo: every step decreases f
    check_result_shapes(res, 2)


def test_newton_on_logistic_matches_gd():
    X, y = make_classification(100, 3, seed=1)
    f = Logistic(X, y, l2=0.01)
    nt = opt.newton(f, np.zeros(3))
    gd = opt.gradient_descent(f, np.zeros(3), lr=1.0, max_iter=20_000, tol=1e-9)
    assert nt.converged and gd.converged and nt.nit < 15
    assert np.allclose(nt.x, gd.x, atol=1e-7)


def test_newton_singular_hessian_without_line_search():
    res = opt.newton(Quadratic(np.zeros((2, 2)), [1.0, 0.0]), [0.0, 0.0], line_search=False)
    assert not res.converged and "singular Hessian" in res.message


# =========================================================================== backtracking
@SETTINGS
@given(
    x=hnp.arrays(np.float64, 2, elements=st.floats(-2, 2)),
    rho=st.floats(0.1, 0.9),
    c=st.floats(1e-4, 0.5),
)
def test_backtracking_returns_first_armijo_step(x, rho, c):
    f = Rosenbrock()
    g = f.grad(x)
    if np.linalg.norm(g) < 1e-8:
        return
    d = -g
    # max_steps large enough that the fallback (no Armijo step found) never triggers here
    alpha = opt.backtracking(f, x, d, eta0=1.0, rho=rho, c=c, max_steps=2000)
    armijo = lambda a: f.value(x + a * d) <= f.value(x) + c * a * (g @ d)  # noqa: E731
    assert armijo(alpha)
    j = round(math.log(alpha) / math.log(rho))
    assert alpha == pytest.approx(rho**j)
    assert all(not armijo(rho**i) for i in range(j))  # every larger trial failed


def test_backtracking_gives_up_after_max_steps():
    f = Rosenbrock()
    x = np.array([1.0, 0.0])
    g = f.grad(x)
    alpha = opt.backtracking(f, x, -g, rho=0.5, c=0.5, max_steps=3)
    assert alpha == 0.5**3  # the last trial, documented fallback


def test_backtracking_rejects_ascent_direction():
    f = Rosenbrock()
    x = np.array([0.0, 0.0])
    with pytest.raises(ValueError, match="d must be a descent direction"):
        opt.backtracking(f, x, f.grad(x))


# =========================================================================== SGD
@SETTINGS
@given(
    n=st.integers(2, 30),
    steps=st.integers(0, 25),
    lr=st.floats(0.001, 0.3),
    rule=st.sampled_from(["plain", "momentum", "nesterov", "adam", "rmsprop", "adagrad"]),
    schedule=st.sampled_from([None, "1/t", "cosine"]),
    seed=st.integers(0, 100),
)
def test_full_batch_sgd_is_gradient_descent(n, steps, lr, rule, schedule, seed):
    f, _ = least_squares(n=n, d=3, seed=seed)
    x0 = np.random.default_rng(seed).standard_normal(3)
    s = opt.sgd(f, x0, lr=lr, batch_size=n, epochs=steps, seed=seed, rule=rule, schedule=schedule)
    g = opt.gradient_descent(f, x0, lr=lr, max_iter=steps, tol=0.0, rule=rule, schedule=schedule)
    assert s.nit == g.nit == steps
    assert np.array_equal(s.path, g.path)
    assert np.array_equal(s.losses, g.losses)


def test_sgd_matches_hand_written_minibatch_loop():
    f, _ = least_squares(n=23, d=4, seed=2)
    X, y = f.X, f.y
    lr, b, epochs = 0.05, 5, 3
    res = opt.sgd(f, np.zeros(4), lr=lr, batch_size=b, epochs=epochs, seed=11)
    w = np.zeros(4)
    path = [w]
    batches = batch_indices(23, b, seed=11)
    for _ in range(epochs * math.ceil(23 / b)):
        _, idx = next(batches)
        w = w - lr * X[idx].T @ (X[idx] @ w - y[idx]) / len(idx)
        path.append(w)
    assert np.allclose(res.path, np.array(path), rtol=1e-12, atol=1e-14)
    assert res.nit == epochs * 5 and res.n_grad == epochs * 23
    assert res.converged and "3 epochs" in res.message
    assert res.losses == pytest.approx([f.value(p) for p in path], rel=1e-12)


@SETTINGS
@given(seed=st.integers(0, 10_000), b=st.integers(1, 9))
def test_sgd_same_seed_same_path_other_seed_other_path(seed, b):
    f, _ = least_squares(n=10, d=2)
    run = lambda s: opt.sgd(f, np.zeros(2), lr=0.05, batch_size=b, epochs=2, seed=s)  # noqa: E731
    a, a2, c = run(seed), run(seed), run(seed + 1)
    assert np.array_equal(a.path, a2.path)
    assert not np.array_equal(a.path, c.path)


def test_sgd_interpolates_noise_free_data():
    # No noise: every sample's gradient vanishes at w_true, so constant-step SGD converges to it.
    f, w_true = least_squares(n=50, d=3, noise=0.0, seed=4)
    res = opt.sgd(f, np.zeros(3), lr=0.1, batch_size=1, epochs=40, seed=0)
    assert np.allclose(res.x, w_true, atol=1e-8)


def test_sgd_with_decaying_steps_approaches_least_squares_solution():
    f, _ = least_squares(n=200, d=3, noise=0.5, seed=5)
    w_star = f.solution()
    const = opt.sgd(f, np.zeros(3), lr=0.05, batch_size=1, epochs=30, seed=1)
    decay = opt.sgd(
        f, np.zeros(3), lr=0.05, batch_size=1, epochs=30, seed=1, schedule=opt.inverse_time(0.002)
    )
    # Constant steps leave a noise floor; decaying steps shrink it.
    assert np.linalg.norm(decay.x - w_star) < np.linalg.norm(const.x - w_star)
    assert np.linalg.norm(decay.x - w_star) < 0.02


def test_sgd_divergence_is_reported():
    f, _ = least_squares(n=20, d=3)
    res = opt.sgd(f, np.ones(3), lr=50.0, batch_size=4, epochs=10_000)
    assert not res.converged and re.fullmatch(r"diverged at iteration \d+", res.message)
    check_result_shapes(res, 3)


# =========================================================================== update rules
def reference_loop(name, hyper, x0, grads, lrs):
    """Independent, literal transcription of each rule (PyTorch's conventions)."""
    x = x0.astype(np.float64)
    buf = None
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    out = []
    for t, (g, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        if name == "plain":
            x = x - lr * g
        elif name in ("momentum", "nesterov"):
            beta = hyper["beta"]
            buf = g.copy() if buf is None else beta * buf + g  # torch.optim.SGD, dampening 0
            step = g + beta * buf if name == "nesterov" else buf
            x = x - lr * step
        elif name == "adagrad":
            v = v + g**2
            x = x - lr * g / (np.sqrt(v) + hyper["eps"])
        elif name == "rmsprop":
            v = hyper["rho"] * v + (1 - hyper["rho"]) * g**2
            x = x - lr * g / (np.sqrt(v) + hyper["eps"])
        elif name == "adam":
            b1, b2 = hyper["beta1"], hyper["beta2"]
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g**2
            m_hat = m / (1 - b1**t)
            v_hat = v / (1 - b2**t)
            x = x - lr * m_hat / (np.sqrt(v_hat) + hyper["eps"])
        out.append(x)
    return out


RULE_HYPER = {
    "plain": st.fixed_dictionaries({}),
    "momentum": st.fixed_dictionaries({"beta": st.floats(0.0, 0.99)}),
    "nesterov": st.fixed_dictionaries({"beta": st.floats(0.0, 0.99)}),
    "adagrad": st.fixed_dictionaries({"eps": st.floats(1e-10, 1e-2)}),
    "rmsprop": st.fixed_dictionaries({"rho": st.floats(0.0, 0.99), "eps": st.floats(1e-10, 1e-2)}),
    "adam": st.fixed_dictionaries(
        {
            "beta1": st.floats(0.0, 0.99),
            "beta2": st.floats(0.0, 0.999),
            "eps": st.floats(1e-10, 1e-2),
        }
    ),
}


@settings(max_examples=60, deadline=None)  # six rules share the examples
@given(data=st.data(), name=st.sampled_from(sorted(RULE_HYPER)))
def test_rules_match_independent_loops(data, name):
    hyper = data.draw(RULE_HYPER[name])
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    steps = data.draw(st.integers(1, 6))
    elems = st.floats(-10, 10)
    x0 = data.draw(hnp.arrays(np.float64, shape, elements=elems))
    grads = [data.draw(hnp.arrays(np.float64, shape, elements=elems)) for _ in range(steps)]
    lrs = data.draw(st.lists(st.floats(1e-4, 1.0), min_size=steps, max_size=steps))
    rule = opt.get_rule(name, **hyper)
    state = rule.init(x0)
    x = x0
    for k, (g, lr) in enumerate(zip(grads, lrs, strict=True)):
        x_before = x.copy()
        x_new = rule.update(x, g, lr, state)
        assert x_new is not x and np.array_equal(x, x_before)  # a new array; x untouched
        assert x_new.shape == shape
        assert state["t"] == k + 1
        x = x_new
        expected = reference_loop(name, hyper, x0, grads[: k + 1], lrs[: k + 1])[-1]
        assert np.allclose(x, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(set(opt.RULES)))
def test_rules_keep_float32(name):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    rule = opt.get_rule(name)
    state = rule.init(x)
    for _ in range(3):
        g = rng.standard_normal((2, 3, 4)).astype(np.float32)
        x = rule.update(x, g, 0.01, state)
        assert x.dtype == np.float32 and x.shape == (2, 3, 4)
        assert all(v.dtype == np.float32 for k, v in state.items() if k != "t")
    # A float64 gradient does not promote float32 parameters either.
    assert rule.update(x, np.ones((2, 3, 4)), 0.01, state).dtype == np.float32


def test_get_rule_and_get_schedule_resolve_names():
    assert isinstance(opt.get_rule(None), opt.Plain)
    assert isinstance(opt.get_rule("SGD"), opt.Plain)
    adam = opt.Adam(beta1=0.8)
    assert opt.get_rule(adam) is adam
    assert opt.get_rule("adam", beta1=0.8) == adam
    assert opt.get_rule("nesterov", beta=0.5).beta == 0.5
    with pytest.raises(ValueError, match=r"rule must be one of \['adagrad', 'adam', 'momentum'"):
        opt.get_rule("lbfgs")
    with pytest.raises(TypeError, match="rule must be None"):
        opt.get_rule(3)
    with pytest.raises(ValueError, match="beta must lie in"):
        opt.Momentum(beta=1.0)
    with pytest.raises(ValueError, match="eps must be positive"):
        opt.Adam(eps=0.0)
    with pytest.raises(ValueError, match="schedule must be one of"):
        opt.get_schedule("exponential")
    with pytest.raises(TypeError, match="schedule must be None"):
        opt.get_schedule(0.5)


def test_rules_reject_a_gradient_of_the_wrong_shape():
    rule = opt.Adam()
    state = rule.init(np.zeros(3))
    with pytest.raises(ValueError, match=r"g must have the shape of x \(3,\)"):
        rule.update(np.zeros(3), np.zeros((3, 1)), 0.1, state)


# =========================================================================== schedules
@SETTINGS
@given(lr0=st.floats(1e-4, 10.0), t=st.integers(0, 10_000))
def test_schedules_closed_forms(lr0, t):
    assert opt.get_schedule(None)(lr0, t) == lr0
    assert opt.get_schedule("step", drop=0.5, every=100)(lr0, t) == pytest.approx(
        lr0 * 0.5 ** (t // 100)
    )
    assert opt.get_schedule("1/t", decay=0.01)(lr0, t) == pytest.approx(lr0 / (1 + 0.01 * t))
    cos = opt.get_schedule("cosine", total_steps=1000, lr_min=1e-5)
    expected = 1e-5 + 0.5 * (lr0 - 1e-5) * (1 + math.cos(math.pi * min(t, 1000) / 1000))
    assert cos(lr0, t) == pytest.approx(expected)
    assert cos(lr0, t) >= 1e-5 - 1e-15


def test_cosine_endpoints_and_schedule_used_by_gd():
    cos = opt.cosine(total_steps=10, lr_min=0.1)
    assert cos(1.0, 0) == 1.0 and cos(1.0, 10) == pytest.approx(0.1)
    assert cos(1.0, 5) == pytest.approx(0.55)
    # GD with a schedule takes exactly steps lr_k * grad: check the first steps by hand.
    q = Quadratic(np.diag([1.0, 2.0]))
    res = opt.gradient_descent(
        q, [1.0, 1.0], lr=0.1, max_iter=3, tol=0.0, schedule=opt.step_decay(drop=0.5, every=1)
    )
    x = np.array([1.0, 1.0])
    for k in range(3):
        x = x - 0.1 * 0.5**k * q.grad(x)
    assert np.allclose(res.x, x, rtol=1e-14)


# =========================================================================== bad input
def _ls():
    return least_squares(n=10, d=2)[0]


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: opt.gradient_descent(_ls(), [0, 0], lr=0.0), ValueError, "lr must be positive"),
        (lambda: opt.gradient_descent(_ls(), [0, 0], lr=-1), ValueError, "lr must be positive"),
        (lambda: opt.gradient_descent(_ls(), [0, 0], lr=np.nan), ValueError, "lr must be"),
        (lambda: opt.gradient_descent(_ls(), [0, 0], lr="a"), TypeError, "lr must be"),
        (lambda: opt.gradient_descent(_ls(), [0, np.nan]), ValueError, "x0 contains NaN"),
        (lambda: opt.gradient_descent(_ls(), [0, np.inf]), ValueError, "x0 contains NaN or inf"),
        (lambda: opt.gradient_descent(_ls(), [0, 0, 0]), ValueError, r"x0 must have shape \(2,\)"),
        (lambda: opt.gradient_descent(_ls(), [[0, 0]]), ValueError, "x0 must be a 1-D"),
        (lambda: opt.gradient_descent(_ls(), [0, 0], max_iter=-1), ValueError, "max_iter must"),
        (lambda: opt.gradient_descent(_ls(), [0, 0], max_iter=2.5), TypeError, "max_iter must"),
        (lambda: opt.gradient_descent(_ls(), [0, 0], tol=-1.0), ValueError, "tol must be >= 0"),
        (lambda: opt.gradient_descent(_ls(), [0, 0], rule="bfgs"), ValueError, "rule must be"),
        (lambda: opt.gradient_descent(_ls(), [0, 0], schedule="exp"), ValueError, "schedule must"),
        (lambda: opt.gradient_descent(lambda x: 0.0, [0, 0]), TypeError, "f must be an objective"),
        (lambda: opt.sgd(_ls(), [0, 0], batch_size=0), ValueError, "batch_size must be in"),
        (
            lambda: opt.sgd(_ls(), [0, 0], batch_size=11),
            ValueError,
            r"batch_size must be in \[1, n_samples=10\]",
        ),
        (lambda: opt.sgd(_ls(), [0, 0], epochs=-1), ValueError, "epochs must be >= 0"),
        (lambda: opt.sgd(_ls(), [0, 0], lr=0), ValueError, "lr must be positive"),
        (lambda: opt.sgd(_ls(), [np.nan, 0]), ValueError, "x0 contains NaN"),
        (lambda: opt.sgd(Rosenbrock(), [0, 0]), TypeError, "f must be a FiniteSum"),
        (lambda: opt.newton(_ls(), [0, 0], max_iter=-2), ValueError, "max_iter must be >= 0"),
        (lambda: opt.newton(_ls(), [0]), ValueError, "x0 must have shape"),
        (
            lambda: opt.backtracking(_ls(), [0, 0], [1, 0], g=[-1, 0], rho=1.5),
            ValueError,
            "rho must lie in",
        ),
        (lambda: opt.backtracking(_ls(), [0, 0], [1, 0, 0]), ValueError, "d must have the shape"),
        (lambda: opt.cosine(total_steps=0), ValueError, "total_steps must be >= 1"),
        (lambda: opt.step_decay(drop=0.0), ValueError, "drop must lie in"),
        (lambda: opt.inverse_time(decay=-1.0), ValueError, "decay must be"),
    ],
)
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# =========================================================================== more laws
def test_cosine_schedule_spans_the_whole_run():
    # On f(x) = a/2 x^2 plain GD multiplies x by (1 - lr_k a) each step: a closed-form product.
    a, lr, n = 2.0, 0.3, 12
    res = opt.gradient_descent(
        Quadratic([[a]]), [1.0], lr=lr, max_iter=n, tol=0.0, schedule="cosine"
    )
    lrs = [0.5 * lr * (1 + math.cos(math.pi * k / n)) for k in range(n)]
    assert res.path[:, 0] == pytest.approx(np.cumprod([1.0] + [1 - e * a for e in lrs]))
    # sgd counts its horizon in update steps: epochs * ceil(n_samples / batch_size).
    f, _ = least_squares(n=10, d=2)
    seen = []
    sched = opt.get_schedule("cosine", total_steps=3 * 4)
    spy = lambda lr0, t: seen.append(t) or sched(lr0, t)  # noqa: E731
    a1 = opt.sgd(f, np.zeros(2), lr=0.1, batch_size=3, epochs=3, schedule=spy)
    a2 = opt.sgd(f, np.zeros(2), lr=0.1, batch_size=3, epochs=3, schedule="cosine")
    assert seen == list(range(12))
    assert np.array_equal(a1.path, a2.path)


def test_adam_first_step_has_length_lr_in_every_coordinate():
    # With bias correction m_hat = g and v_hat = g^2 at t = 1, so the step is lr * sign(g).
    g = np.array([1e-3, -50.0, 7.0, -0.2])
    rule = opt.Adam(eps=1e-12)
    x1 = rule.update(np.zeros(4), g, 0.01, rule.init(np.zeros(4)))
    assert np.allclose(x1, -0.01 * np.sign(g), rtol=1e-8)


def test_schedule_callable_and_bad_schedule_output():
    f = Quadratic(np.eye(2))
    res = opt.gradient_descent(
        f, [1.0, 1.0], lr=0.5, max_iter=1, tol=0.0, schedule=lambda lr0, t: lr0 / 2
    )
    assert np.allclose(res.x, [0.75, 0.75])
    with pytest.raises(ValueError, match="schedule returned an invalid learning rate"):
        opt.gradient_descent(f, [1.0, 1.0], lr=0.5, schedule=lambda lr0, t: -1.0)


def test_duck_typed_rule_and_sgd_callback():
    class HalfStep:  # a student's rule: anything with init/update
        def init(self, x):
            return {"t": 0}

        def update(self, x, g, lr, state):
            return x - 0.5 * lr * g

    f, _ = least_squares(n=8, d=2)
    mine = opt.sgd(f, np.ones(2), lr=0.2, batch_size=8, epochs=3, rule=HalfStep())
    ref = opt.sgd(f, np.ones(2), lr=0.1, batch_size=8, epochs=3)
    assert np.allclose(mine.path, ref.path, rtol=1e-14)
    stopped = opt.sgd(f, np.ones(2), lr=0.1, batch_size=2, epochs=5, callback=lambda x: True)
    assert stopped.nit == 1 and not stopped.converged and "callback" in stopped.message


def test_rule_state_is_updated_in_place_and_not_aliased_to_x():
    x = np.ones(3)
    rule = opt.Momentum(beta=0.5)
    state = rule.init(x)
    assert state["v"] is not x and np.array_equal(state["v"], np.zeros(3))
    same = state
    rule.update(x, np.ones(3), 0.1, state)
    rule.update(x, np.ones(3), 0.1, state)
    assert same is state and state["t"] == 2
    assert np.allclose(state["v"], [1.5, 1.5, 1.5])  # 0.5 * 1 + 1
    assert np.array_equal(x, np.ones(3))
