"""Hidden tests of momentum, judged in the grader's process (see autograder.hidden).

Never released: the student's kernel only receives each call's inputs, after all of the
notebook has run, and never the expected values, which come from coursekit here (its
update rules and its gradient descent loop, the code chapter 4 shows).
"""

import numpy as np

from autograder.hidden import Call, Case, HiddenTests, check_array, check_number
from coursekit.objectives import Quadratic
from coursekit.optimize import Adam, Momentum, gradient_descent

TESTS = HiddenTests()

# The course's Parts 1 and 2, put in place of the student's while Part 3 is tested
# (autograder.hidden.Call's ``references``): a mistake is charged to its own part only.
REFERENCES = {
    "momentum_step": """def momentum_step(x, v, g, lr, beta):
    v_new = beta * v + g
    return x - lr * v_new, v_new
""",
    "adam_step": """def adam_step(x, m, s, g, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    import numpy as np
    m_new = beta1 * m + (1.0 - beta1) * g
    s_new = beta2 * s + (1.0 - beta2) * g * g
    m_hat = m_new / (1.0 - beta1**t)
    s_hat = s_new / (1.0 - beta2**t)
    return x - lr * m_hat / (np.sqrt(s_hat) + eps), m_new, s_new
""",
}

#: Parameter shapes: vectors of several lengths and weight matrices of a network.
SHAPES = [(1,), (3,), (7,), (4, 5), (2, 3, 2)]


def unpack(what, got, names):
    """The tuple a step function returned, or a failure naming what was expected."""
    value = got.value
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        length = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
        raise AssertionError(f"{what} returned a {type(value).__name__}{length}; expected a "
                             f"tuple ({', '.join(names)})")
    return value


def unchanged(what, got, inputs):
    """Fail if the call changed one of its array arguments in place (``inputs``: the
    ``(name, value before)`` pairs)."""
    for name, before in inputs:
        if not np.array_equal(got.kept[name], before):
            raise AssertionError(f"{what} changed its argument {name} in place; return new "
                                 "arrays")


@TESTS.cell("test_momentum_step", seed=20266)
def momentum_step_cases(rng):
    """One step against coursekit's Momentum rule, on arrays of several shapes."""
    for trial, shape in enumerate(SHAPES):
        x, v, g = (rng.standard_normal(shape) * 2 for _ in range(3))
        lr = float(rng.uniform(0.01, 1.0))
        beta = float(rng.uniform(0.0, 0.99))
        state = {"v": v.copy(), "t": int(rng.integers(0, 100))}
        x_ref = Momentum(beta).update(x, g, lr, state)
        what = (f"momentum_step (random test {trial}, shape {shape}, lr={lr:.3g}, "
                f"beta={beta:.3g})")

        def check(got, what=what, x_ref=x_ref, v_ref=state["v"], inputs=(("x", x), ("v", v))):
            x_new, v_new = unpack(what, got, ["x_new", "v_new"])
            check_array(f"v_new of {what}", v_new, v_ref)
            check_array(f"x_new of {what}", x_new, x_ref)
            unchanged(what, got, inputs)
        yield Case(what, Call("momentum_step(x, v, g, lr, beta)", keep=["x", "v"], x=x, v=v,
                              g=g, lr=lr, beta=beta), check)


@TESTS.cell("test_adam_step", seed=20267)
def adam_step_cases(rng):
    """One step at a random step count t against coursekit's Adam, with random
    hyper-parameters, gradients of very different sizes and a visible epsilon."""
    for trial, shape in enumerate(SHAPES):
        x = rng.standard_normal(shape)
        m = rng.standard_normal(shape) * 0.1
        s = rng.uniform(0.0, 0.5, shape)
        # Gradients from 1e-6 to 10: where epsilon matters and where it does not.
        g = rng.standard_normal(shape) * 10.0 ** rng.uniform(-6, 1, shape)
        t = int(rng.integers(2, 60))
        lr = float(rng.uniform(1e-3, 0.5))
        beta1, beta2 = float(rng.uniform(0.5, 0.95)), float(rng.uniform(0.9, 0.9999))
        eps = float(10.0 ** rng.uniform(-8, -3))
        state = {"m": m.copy(), "v": s.copy(), "t": t - 1}
        x_ref = Adam(beta1, beta2, eps).update(x, g, lr, state)
        what = (f"adam_step (random test {trial}, shape {shape}, t={t}, lr={lr:.3g}, "
                f"beta1={beta1:.3g}, beta2={beta2:.5g}, eps={eps:.2g})")

        def check(got, what=what, x_ref=x_ref, m_ref=state["m"], s_ref=state["v"],
                  inputs=(("x", x), ("m", m), ("s", s))):
            x_new, m_new, s_new = unpack(what, got, ["x_new", "m_new", "s_new"])
            check_array(f"m_new of {what}", m_new, m_ref)
            check_array(f"s_new of {what}", s_new, s_ref)
            check_array(f"x_new of {what}", x_new, x_ref)
            unchanged(what, got, inputs)
        yield Case(what, Call("adam_step(x, m, s, g, t, lr, beta1=beta1, beta2=beta2, "
                              "eps=eps)", keep=["x", "m", "s"], x=x, m=m, s=s, g=g, t=t, lr=lr,
                              beta1=beta1, beta2=beta2, eps=eps), check)
    # The defaults (0.9, 0.999, 1e-8) at a late step, on a matrix-shaped parameter.
    x, m = rng.standard_normal((3, 3)), rng.standard_normal((3, 3)) * 0.1
    s, g = rng.uniform(0.0, 0.2, (3, 3)), rng.standard_normal((3, 3))
    state = {"m": m.copy(), "v": s.copy(), "t": 24}
    x_ref = Adam().update(x, g, 0.01, state)
    what = "adam_step (random test: default beta1, beta2 and eps, t=25)"

    def check_defaults(got, what=what, x_ref=x_ref):
        check_array(f"x_new of {what}", unpack(what, got, ["x_new", "m_new", "s_new"])[0],
                    x_ref)
    yield Case(what, Call("adam_step(x, m, s, g, 25, 0.01)", x=x, m=m, s=s, g=g),
               check_defaults)


@TESTS.cell("test_descend", seed=20268)
def descend_cases(rng):
    """Whole runs against coursekit's gradient descent loop with its Momentum and Adam rules."""
    for trial in range(6):
        d = int(rng.integers(1, 6))
        kappa = 1.0 if d == 1 else float(rng.uniform(2.0, 60.0))
        Q = Quadratic.with_condition_number(kappa, dim=d, seed=int(rng.integers(1000)))
        L = float(np.linalg.eigvalsh(Q.A).max())
        b = rng.standard_normal(d)
        x0 = rng.standard_normal(d) * 3
        n_steps = int(rng.integers(1, 80))
        if trial % 2 == 0:
            method, beta = "momentum", float(rng.uniform(0.1, 0.95))
            lr = float(rng.uniform(0.1, 1.0)) / L
            rule = Momentum(beta)
        else:
            method, beta = "adam", float(rng.uniform(0.1, 0.95))  # beta: not used by Adam
            lr = float(rng.uniform(0.005, 0.2))
            rule = Adam()
        ref = gradient_descent(Quadratic(Q.A, b), x0, lr=lr, max_iter=n_steps, tol=0.0,
                               rule=rule).path
        assert ref.shape == (n_steps + 1, d)  # the reference itself ran every step
        what = (f"descend (random test {trial}: method={method!r}, d={d}, kappa={kappa:.3g}, "
                f"lr={lr:.3g}, beta={beta:.3g}, n_steps={n_steps})")

        def check(got, what=what, ref=ref, x0=x0):
            shape = getattr(got.value, "shape", None)
            if not isinstance(got.value, np.ndarray) or shape != ref.shape:
                raise AssertionError(f"{what} returned shape {shape}; expected {ref.shape}")
            check_array(what, got.value, ref, rtol=1e-6, atol=1e-9)
            if not np.array_equal(got.kept["x0"], x0):
                raise AssertionError(f"{what} changed x0 in place")
        yield Case(what, Call("descend(A, b, x0, method, lr, n_steps, beta=beta)", keep=["x0"],
                              A=Q.A, b=b, x0=x0, method=method, lr=lr, n_steps=n_steps,
                              beta=beta, references=REFERENCES), check)


def spectral_radius(lr, beta, h):
    """Largest modulus of the roots of z^2 - (1 + beta - lr h) z + beta, over the values h."""
    return max(float(np.max(np.abs(np.roots([1.0, -(1.0 + beta - lr * hi), beta]))))
               for hi in h)


@TESTS.cell("test_heavy_ball_tuning", seed=20269)
def heavy_ball_tuning_cases(rng):
    """Random spectra [mu, L]: Polyak's closed form, and the rate it must reach."""
    for trial in range(6):
        mu = float(10.0 ** rng.uniform(-2, 1))
        L = mu * float(10.0 ** rng.uniform(0, 3)) if trial else mu
        root_k = np.sqrt(L / mu)
        lr_ref = 4.0 / (np.sqrt(L) + np.sqrt(mu)) ** 2
        beta_ref = ((root_k - 1.0) / (root_k + 1.0)) ** 2
        what = f"heavy_ball_tuning (random test {trial}: mu={mu:.4g}, L={L:.4g})"

        def check(got, what=what, lr_ref=lr_ref, beta_ref=beta_ref, mu=mu, L=L):
            lr, beta = unpack(what, got, ["lr", "beta"])
            check_number(f"beta of {what}", beta, beta_ref, atol=1e-12)
            check_number(f"lr of {what}", lr, lr_ref)
            # An independent look: the worst contraction over [mu, L] is sqrt(beta).
            rate = spectral_radius(float(lr), float(beta), np.linspace(mu, L, 21))
            if rate > np.sqrt(beta_ref) + 1e-6:
                raise AssertionError(f"{what}: with your (lr, beta) the heavy ball contracts "
                                     f"only by {rate:.6f} per step; the best is "
                                     f"{np.sqrt(beta_ref):.6f}")
        yield Case(what, Call("heavy_ball_tuning(mu, L)", mu=mu, L=L), check)
