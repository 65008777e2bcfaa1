"""Realistic wrong answers to newton (see tests/exercises/mutation.py), and right ones."""

from mutation import Mutant

G, H, D, B, P = (
    "rosenbrock_grad",
    "rosenbrock_hess",
    "newton_direction",
    "backtracking",
    "newton_path",
)


def grad(first, second):
    return (
        f"def rosenbrock_grad(x, a=1.0, b=100.0):\n    r = x[1] - x[0] ** 2\n"
        f"    return np.array([{first}, {second}])\n"
    )


def hess(h00, h01, h10, h11):
    return (
        f"def rosenbrock_hess(x, a=1.0, b=100.0):\n"
        f"    return np.array([[{h00}, {h01}], [{h10}, {h11}]])\n"
    )


H00 = "2.0 - 4.0 * b * (x[1] - x[0] ** 2) + 8.0 * b * x[0] ** 2"
H01 = "-4.0 * b * x[0]"

BT = """
def backtracking(f, x, d, g, eta0=1.0, rho=0.5, c=1e-4, max_steps=50):
    fx = f(x)
    slope = g @ d
    eta = eta0
    for j in range(max_steps + 1):
        if f(x + eta * d) <= fx + c * eta * slope:
            return float(eta)
        if j < max_steps:
            eta *= rho
    return float(eta)
"""

PATH = """
def newton_path(x0, a=1.0, b=100.0, tol=1e-10, max_iter=100):
    def f(z):
        return rosenbrock(z, a, b)

    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        g = rosenbrock_grad(x, a, b)
        if np.linalg.norm(g) <= tol:
            break
        d = newton_direction(g, rosenbrock_hess(x, a, b))
        if g @ d >= 0:
            d = -g
        x = x + backtracking(f, x, d, g) * d
        path.append(x)
    return np.array(path)
"""


def bt(old, new):
    assert old in BT, old
    return BT.replace(old, new)


def path(old, new):
    assert old in PATH, old
    return PATH.replace(old, new)


MUTANTS = [
    Mutant(
        "grad: sign of the first term",
        G,
        grad("2.0 * (a - x[0]) - 4.0 * b * x[0] * r", "2.0 * b * r"),
    ),
    Mutant("grad: factor 2 missing", G, grad("-2.0 * (a - x[0]) - 4.0 * b * x[0] * r", "b * r")),
    Mutant(
        "grad: chain-rule sign", G, grad("-2.0 * (a - x[0]) + 4.0 * b * x[0] * r", "2.0 * b * r")
    ),
    Mutant("grad: ignores a", G, grad("-2.0 * (1.0 - x[0]) - 4.0 * b * x[0] * r", "2.0 * b * r")),
    Mutant("grad: ignores b", G, grad("-2.0 * (a - x[0]) - 400.0 * x[0] * r", "200.0 * r")),
    Mutant(
        "grad: returns a list",
        G,
        "def rosenbrock_grad(x, a=1.0, b=100.0):\n"
        "    r = x[1] - x[0] ** 2\n"
        "    return [-2.0 * (a - x[0]) - 4.0 * b * x[0] * r, 2.0 * b * r]\n",
        also=(f"test_{P}",),
        why="the student's own loop takes its norm and g @ d: raises",
    ),
    Mutant(
        "hess: the 8 b x0^2 term missing",
        H,
        hess("2.0 - 4.0 * b * (x[1] - x[0] ** 2)", H01, H01, "2.0 * b"),
    ),
    Mutant("hess: off-diagonal sign", H, hess(H00, "4.0 * b * x[0]", "4.0 * b * x[0]", "2.0 * b")),
    Mutant("hess: not symmetric", H, hess(H00, H01, "0.0", "2.0 * b")),
    Mutant(
        "hess: ignores b",
        H,
        hess(
            "2.0 - 400.0 * (x[1] - x[0] ** 2) + 800.0 * x[0] ** 2",
            "-400.0 * x[0]",
            "-400.0 * x[0]",
            "200.0",
        ),
    ),
    Mutant("hess: 2 b missing its 2", H, hess(H00, H01, H01, "b")),
    Mutant(
        "direction: solves H d = g",
        D,
        "def newton_direction(g, H):\n    return np.linalg.solve(H, g)\n",
    ),
    Mutant(
        "direction: H @ g instead of a solve", D, "def newton_direction(g, H):\n    return -H @ g\n"
    ),
    Mutant(
        "direction: the diagonal only",
        D,
        "def newton_direction(g, H):\n    return -g / np.diag(H)\n",
    ),
    Mutant(
        "direction: column vector",
        D,
        "def newton_direction(g, H):\n    return np.linalg.solve(H, -g).reshape(-1, 1)\n",
        also=(f"test_{P}",),
        why="the student's own loop uses the direction: shapes break",
    ),
    Mutant(
        "backtracking: accepts NaN (not >)",
        B,
        bt(
            "if f(x + eta * d) <= fx + c * eta * slope:",
            "if not f(x + eta * d) > fx + c * eta * slope:",
        ),
    ),
    Mutant("backtracking: strict <", B, bt("<= fx + c", "< fx + c")),
    Mutant(
        "backtracking: ignores max_steps",
        B,
        bt("range(max_steps + 1)", "range(51)").replace("if j < max_steps:", "if j < 50:"),
    ),
    Mutant(
        "backtracking: shrinks once more at the end",
        B,
        bt("        if j < max_steps:\n            eta *= rho\n", "        eta *= rho\n"),
    ),
    Mutant("backtracking: no c", B, bt("fx + c * eta * slope", "fx + eta * slope")),
    Mutant("backtracking: ignores eta0", B, bt("eta = eta0", "eta = 1.0")),
    Mutant("backtracking: ignores rho", B, bt("eta *= rho", "eta *= 0.5")),
    Mutant("backtracking: slope with g.g", B, bt("slope = g @ d", "slope = -(g @ g)")),
    Mutant("path: hard-coded tol", P, path("<= tol", "<= 1e-10")),
    Mutant("path: ignores max_iter", P, path("range(max_iter)", "range(100)")),
    Mutant(
        "path: range(max_iter + 1) without the final check",
        P,
        path("range(max_iter)", "range(max_iter + 1)"),
    ),
    Mutant("path: strict < tol", P, path("<= tol", "< tol")),
    Mutant("path: no uphill fallback", P, path("        if g @ d >= 0:\n            d = -g\n", "")),
    Mutant("path: fallback d = g", P, path("d = -g", "d = g")),
    Mutant("path: no line search", P, path("backtracking(f, x, d, g) * d", "d")),
    Mutant(
        "path: line search on the default a, b",
        P,
        path("backtracking(f, x, d, g)", "backtracking(rosenbrock, x, d, g)"),
    ),
    Mutant(
        "path: derivatives with the default a, b",
        P,
        path("rosenbrock_grad(x, a, b)", "rosenbrock_grad(x)").replace(
            "rosenbrock_hess(x, a, b)", "rosenbrock_hess(x)"
        ),
    ),
    Mutant(
        "path: aliases x0 and steps in place",
        P,
        path(
            "    x = np.array(x0, dtype=float)\n    path = [x]\n",
            "    x = x0\n    path = [x.copy()]\n",
        ).replace(
            "        x = x + backtracking(f, x, d, g) * d\n        path.append(x)\n",
            "        x += backtracking(f, x, d, g) * d\n        path.append(x.copy())\n",
        ),
    ),
]

CORRECT = [
    Mutant(
        "grad: expanded terms",
        G,
        """
def rosenbrock_grad(x, a=1.0, b=100.0):
    x0, x1 = x
    return np.array([2 * x0 - 2 * a + 4 * b * x0 ** 3 - 4 * b * x0 * x1,
                     2 * b * x1 - 2 * b * x0 ** 2])
""",
    ),
    Mutant(
        "direction: the inverse (allowed, if slower)",
        D,
        "def newton_direction(g, H):\n    return -np.linalg.inv(H) @ g\n",
    ),
    Mutant(
        "backtracking: a while loop",
        B,
        """
def backtracking(f, x, d, g, eta0=1.0, rho=0.5, c=1e-4, max_steps=50):
    fx, slope = f(x), float(np.dot(g, d))
    eta, shrinks = eta0, 0
    while not (f(x + eta * d) <= fx + c * eta * slope) and shrinks < max_steps:
        eta *= rho
        shrinks += 1
    return eta
""",
    ),
    Mutant(
        "path: a while loop with a counter",
        P,
        """
def newton_path(x0, a=1.0, b=100.0, tol=1e-10, max_iter=100):
    x = np.asarray(x0, dtype=float).copy()
    path = [x.copy()]
    k = 0
    while True:
        g = rosenbrock_grad(x, a, b)
        if np.linalg.norm(g) <= tol or k == max_iter:
            break
        d = newton_direction(g, rosenbrock_hess(x, a, b))
        if np.dot(g, d) >= 0:
            d = -g
        step = backtracking(lambda z: rosenbrock(z, a, b), x, d, g)
        x = x + step * d
        path.append(x.copy())
        k += 1
    return np.vstack(path)
""",
    ),
]
