"""Realistic wrong answers to momentum (see tests/exercises/mutation.py), and right ones."""

from mutation import Mutant

M, A, D, T = "momentum_step", "adam_step", "descend", "heavy_ball_tuning"
# Part 3's visible tests run the student's own steps (its hidden tests the course's).
PATH = (f"test_{D}",)
USES_STEP = "the visible test of Part 3 runs the student's own step, which is wrong there"


def adam(body):
    return (
        "def adam_step(x, m, s, g, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):\n"
        "    m_new = beta1 * m + (1.0 - beta1) * g\n"
        "    s_new = beta2 * s + (1.0 - beta2) * g * g\n" + body
    )


CORRECTED = "    m_hat = m_new / (1.0 - beta1 ** t)\n    s_hat = s_new / (1.0 - beta2 ** t)\n"


def descend(loop, check=True):
    head = "def descend(A, b, x0, method, lr, n_steps, beta=0.9):\n"
    if check:
        head += (
            "    if method not in ('momentum', 'adam'):\n"
            "        raise ValueError(f'method: momentum or adam, not {method}')\n"
        )
    return (
        head + "    x = np.array(x0, dtype=float)\n"
        "    first, second = np.zeros_like(x), np.zeros_like(x)\n"
        "    path = [x]\n" + loop + "    return np.array(path)\n"
    )


LOOP = """    for t in range(1, n_steps + 1):
        g = A @ x - b
        if method == "momentum":
            x, first = momentum_step(x, first, g, lr, {beta})
        else:
            x, first, second = adam_step(x, first, second, g, {t}, lr)
        path.append(x)
"""


def tuning(body, check=True):
    head = "def heavy_ball_tuning(mu, L):\n"
    if check:
        head += "    if not 0 < mu <= L:\n        raise ValueError('need 0 < mu <= L')\n"
    return head + body


MUTANTS = [
    # Part 1: the heavy ball.
    Mutant(
        "momentum: averaged velocity (1 - beta) g",
        M,
        "def momentum_step(x, v, g, lr, beta):\n"
        "    v_new = beta * v + (1 - beta) * g\n    return x - lr * v_new, v_new\n",
        also=PATH,
        why=USES_STEP,
    ),
    Mutant(
        "momentum: x moved by the old velocity",
        M,
        "def momentum_step(x, v, g, lr, beta):\n    return x - lr * v, beta * v + g\n",
        also=PATH,
        why=USES_STEP,
    ),
    Mutant(
        "momentum: v updated in place",
        M,
        "def momentum_step(x, v, g, lr, beta):\n"
        "    v *= beta\n    v += g\n    return x - lr * v, v\n",
    ),
    Mutant(
        "momentum: returns only x",
        M,
        "def momentum_step(x, v, g, lr, beta):\n    return x - lr * (beta * v + g)\n",
        also=PATH,
        why=USES_STEP,
    ),
    Mutant(
        "momentum: gradient ascent",
        M,
        "def momentum_step(x, v, g, lr, beta):\n"
        "    v_new = beta * v + g\n    return x + lr * v_new, v_new\n",
        also=PATH,
        why=USES_STEP,
    ),
    Mutant(
        "momentum: beta on the gradient",
        M,
        "def momentum_step(x, v, g, lr, beta):\n"
        "    v_new = v + beta * g\n    return x - lr * v_new, v_new\n",
        also=PATH,
        why=USES_STEP,
    ),
    # Part 2: Adam.
    Mutant(
        "adam: no bias correction",
        A,
        adam("    return x - lr * m_new / (np.sqrt(s_new) + eps), m_new, s_new\n"),
        also=PATH,
        why=USES_STEP,
    ),
    Mutant(
        "adam: bias correction with t + 1",
        A,
        adam(
            "    m_hat = m_new / (1.0 - beta1 ** (t + 1))\n"
            "    s_hat = s_new / (1.0 - beta2 ** (t + 1))\n"
            "    return x - lr * m_hat / (np.sqrt(s_hat) + eps), m_new, s_new\n"
        ),
        also=PATH,
        why=USES_STEP,
    ),
    Mutant(
        "adam: no square root",
        A,
        adam(CORRECTED + "    return x - lr * m_hat / (s_hat + eps), m_new, s_new\n"),
        also=PATH,
        why=USES_STEP,
    ),
    Mutant(
        "adam: epsilon inside the root",
        A,
        adam(CORRECTED + "    return x - lr * m_hat / np.sqrt(s_hat + eps), m_new, s_new\n"),
    ),
    Mutant(
        "adam: hard-coded beta1 = 0.9",
        A,
        "def adam_step(x, m, s, g, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):\n"
        "    m_new = 0.9 * m + 0.1 * g\n"
        "    s_new = beta2 * s + (1.0 - beta2) * g * g\n"
        "    m_hat = m_new / (1.0 - 0.9 ** t)\n"
        "    s_hat = s_new / (1.0 - beta2 ** t)\n"
        "    return x - lr * m_hat / (np.sqrt(s_hat) + eps), m_new, s_new\n",
    ),
    Mutant(
        "adam: returns the corrected averages",
        A,
        adam(CORRECTED + "    return x - lr * m_hat / (np.sqrt(s_hat) + eps), m_hat, s_hat\n"),
    ),
    # Part 3: a run.
    Mutant(
        "descend: one step short",
        D,
        descend(LOOP.replace("n_steps + 1", "n_steps").format(beta="beta", t="t")),
    ),
    Mutant(
        "descend: velocity reset every step",
        D,
        descend(
            LOOP.replace("momentum_step(x, first,", "momentum_step(x, 0 * x,").format(
                beta="beta", t="t"
            )
        ),
    ),
    Mutant(
        "descend: Adam's count starts at 0",
        D,
        descend(LOOP.replace("range(1, n_steps + 1)", "range(n_steps)").format(beta="beta", t="t")),
    ),
    Mutant("descend: Adam's count always 1", D, descend(LOOP.format(beta="beta", t="1"))),
    Mutant("descend: momentum fixed at 0.9", D, descend(LOOP.format(beta="0.9", t="t"))),
    Mutant(
        "descend: unknown method runs Adam",
        D,
        descend(LOOP.format(beta="beta", t="t"), check=False),
    ),
    Mutant(
        "descend: gradient A x + b",
        D,
        descend(LOOP.replace("A @ x - b", "A @ x + b").format(beta="beta", t="t")),
    ),
    # Part 4: the fastest heavy ball.
    Mutant(
        "tuning: chapter 4's eta = 1/L",
        T,
        tuning("    return 1.0 / L, (1.0 - np.sqrt(mu / L)) ** 2\n"),
    ),
    Mutant(
        "tuning: the rate returned as beta",
        T,
        tuning(
            "    k = np.sqrt(L / mu)\n"
            "    return 4.0 / (np.sqrt(L) + np.sqrt(mu)) ** 2, (k - 1) / (k + 1)\n"
        ),
    ),
    Mutant(
        "tuning: kappa instead of its root",
        T,
        tuning(
            "    k = L / mu\n"
            "    return 4.0 / (np.sqrt(L) + np.sqrt(mu)) ** 2, ((k - 1) / (k + 1)) ** 2\n"
        ),
    ),
    Mutant(
        "tuning: gradient descent's best step",
        T,
        tuning("    k = np.sqrt(L / mu)\n    return 2.0 / (L + mu), ((k - 1) / (k + 1)) ** 2\n"),
    ),
    Mutant(
        "tuning: no check of mu and L",
        T,
        tuning(
            "    k = np.sqrt(abs(L / mu)) if mu else 1.0\n"
            "    return 4.0 / (np.sqrt(abs(L)) + np.sqrt(abs(mu))) ** 2, "
            "((k - 1) / (k + 1)) ** 2\n",
            check=False,
        ),
    ),
]

CORRECT = [
    Mutant(
        "momentum: the two terms apart",
        M,
        "def momentum_step(x, v, g, lr, beta):\n"
        "    v_new = g + beta * v\n    return x - lr * g - lr * beta * v, v_new\n",
    ),
    Mutant(
        "adam: with np.power and np.divide",
        A,
        adam(
            "    m_hat = np.divide(m_new, 1.0 - np.power(beta1, t))\n"
            "    s_hat = np.divide(s_new, 1.0 - np.power(beta2, t))\n"
            "    return x - lr * m_hat / (np.sqrt(s_hat) + eps), m_new, s_new\n"
        ),
    ),
    Mutant(
        "descend: a while loop",
        D,
        """
def descend(A, b, x0, method, lr, n_steps, beta=0.9):
    if method not in ("momentum", "adam"):
        raise ValueError("method: use 'momentum' or 'adam'")
    path = [np.array(x0, dtype=float)]
    v, m, s = (np.zeros(len(x0)) for _ in range(3))
    while len(path) <= n_steps:
        x = path[-1]
        if method == "momentum":
            x, v = momentum_step(x, v, A @ x - b, lr, beta)
        else:
            x, m, s = adam_step(x, m, s, A @ x - b, len(path), lr)
        path.append(x)
    return np.stack(path)
""",
    ),
    Mutant(
        "tuning: through kappa",
        T,
        tuning(
            "    root_beta = (np.sqrt(L / mu) - 1) / (np.sqrt(L / mu) + 1)\n"
            "    return (1 + root_beta) ** 2 / L, root_beta ** 2\n"
        ),
    ),
]
