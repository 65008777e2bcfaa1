"""Realistic wrong answers to gd_basics (see tests/exercises/mutation.py), and right ones."""

from mutation import Mutant

G, S, P = "quadratic_grad", "gd_step", "gradient_descent_path"
CRASHES = "the student's own gd_step and loop call it and raise"

MUTANTS = [
    # Part 1: the gradient A x - b.
    Mutant("grad: wrong sign of b", G, "def quadratic_grad(A, b, x):\n    return A @ x + b\n"),
    Mutant("grad: forgot -b", G, "def quadratic_grad(A, b, x):\n    return A @ x\n"),
    Mutant(
        "grad: kept the 1/2 of f", G, "def quadratic_grad(A, b, x):\n    return 0.5 * A @ x - b\n"
    ),
    Mutant(
        "grad: the diagonal of A only",
        G,
        "def quadratic_grad(A, b, x):\n    return A.diagonal() * x - b\n",
    ),
    Mutant(
        "grad: column vector (d, 1)",
        G,
        "def quadratic_grad(A, b, x):\n    return (A @ x - b).reshape(-1, 1)\n",
        also=(f"test_{P}",),
        why=CRASHES,
    ),
    Mutant(
        "grad: returns a list",
        G,
        "def quadratic_grad(A, b, x):\n    return list(A @ x - b)\n",
        also=(f"test_{S}", f"test_{P}"),
        why=CRASHES,
    ),
    Mutant(
        "grad: integer dtype",
        G,
        "def quadratic_grad(A, b, x):\n    return (A @ x - b).astype(int)\n",
    ),
    Mutant(
        "grad: hard-coded for d = 2",
        G,
        "def quadratic_grad(A, b, x):\n"
        "    if len(x) == 1:\n        return A[0] * x - b\n"
        "    return np.array([A[0, 0] * x[0] + A[0, 1] * x[1] - b[0],\n"
        "                     A[1, 0] * x[0] + A[1, 1] * x[1] - b[1]])\n",
    ),
    # Part 2: one step.
    Mutant(
        "step: wrong sign",
        S,
        "def gd_step(A, b, x, lr):\n    return x + lr * quadratic_grad(A, b, x)\n",
    ),
    Mutant(
        "step: x changed in place",
        S,
        "def gd_step(A, b, x, lr):\n    x -= lr * quadratic_grad(A, b, x)\n    return x\n",
        also=(f"test_{P}",),
        why="the student's loop keeps x_k, which the step overwrites",
    ),
    Mutant(
        "step: ignores lr",
        S,
        "def gd_step(A, b, x, lr):\n    return x - 0.1 * quadratic_grad(A, b, x)\n",
    ),
    Mutant(
        "step: hard-coded for d = 2",
        S,
        "def gd_step(A, b, x, lr):\n    g = quadratic_grad(A, b, x)\n"
        "    return np.array([x[0] - lr * g[0], x[1] - lr * g[1]])\n",
    ),
    Mutant(
        "step: divides by d",
        S,
        "def gd_step(A, b, x, lr):\n    return x - lr * quadratic_grad(A, b, x) / len(x)\n",
    ),
    # Part 3: the loop and its stopping rule.
    Mutant(
        "path: hard-coded tol",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        if np.linalg.norm(quadratic_grad(A, b, x)) <= 1e-8:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)
""",
    ),
    Mutant(
        "path: ignores max_iter",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(100_000 if max_iter > 5 else max_iter):
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)
""",
    ),
    Mutant(
        "path: range(max_iter + 1) without the final check",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter + 1):
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)
""",
    ),
    Mutant(
        "path: while norm > tol and k < max_iter (stops early on NaN)",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    k = 0
    while np.linalg.norm(quadratic_grad(A, b, x)) > tol and k < max_iter:
        x = gd_step(A, b, x, lr)
        path.append(x)
        k += 1
    return np.array(path)
""",
    ),
    Mutant(
        "path: strict < tol",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        if np.linalg.norm(quadratic_grad(A, b, x)) < tol:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)
""",
    ),
    Mutant(
        "path: aliases x0 and steps in place",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = x0
    path = [x]
    for _ in range(max_iter):
        g = quadratic_grad(A, b, x)
        if np.linalg.norm(g) <= tol:
            break
        x -= lr * g
        path.append(x.copy())
    return np.array(path)
""",
    ),
    Mutant(
        "path: copies x0 without making it float",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = x0.copy()
    path = [x.copy()]
    for _ in range(max_iter):
        g = quadratic_grad(A, b, x)
        if np.linalg.norm(g) <= tol:
            break
        x -= lr * g
        path.append(x.copy())
    return np.array(path)
""",
    ),
    Mutant(
        "path: checks the gradient after stepping",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        x = gd_step(A, b, x, lr)
        path.append(x)
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
    return np.array(path)
""",
    ),
    Mutant(
        "path: the last iterate is never stored",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = []
    for _ in range(max_iter):
        path.append(x)
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
        x = gd_step(A, b, x, lr)
    return np.array(path)
""",
    ),
    Mutant(
        "path: squared norm against tol",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        g = quadratic_grad(A, b, x)
        if g @ g <= tol:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)
""",
    ),
    Mutant(
        "path: 1-norm",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        if np.abs(quadratic_grad(A, b, x)).sum() <= tol:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return np.array(path)
""",
    ),
    Mutant(
        "path: returns the list",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        if np.linalg.norm(quadratic_grad(A, b, x)) <= tol:
            break
        x = gd_step(A, b, x, lr)
        path.append(x)
    return path
""",
    ),
]

CORRECT = [
    Mutant("grad: np.dot", G, "def quadratic_grad(A, b, x):\n    return np.dot(A, x) - b\n"),
    Mutant(
        "grad: a loop over rows",
        G,
        """
def quadratic_grad(A, b, x):
    g = np.zeros(len(x))
    for i in range(len(x)):
        g[i] = A[i] @ x - b[i]
    return g
""",
    ),
    Mutant(
        "step: inline formula", S, "def gd_step(A, b, x, lr):\n    return x - lr * (A @ x - b)\n"
    ),
    Mutant(
        "path: a while loop with an explicit counter",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    x = np.asarray(x0, dtype=float).copy()
    path = [x.copy()]
    k = 0
    while True:
        g = quadratic_grad(A, b, x)
        if np.linalg.norm(g) <= tol or k == max_iter:
            break
        x = x - lr * g
        path.append(x)
        k += 1
    return np.vstack(path)
""",
    ),
    Mutant(
        "path: preallocated rows, `not (norm <= tol)`",
        P,
        """
def gradient_descent_path(A, b, x0, lr, tol=1e-8, max_iter=1000):
    path = np.empty((max_iter + 1, len(x0)))
    path[0] = x0
    n = 0
    while n < max_iter and not np.sqrt(np.sum(quadratic_grad(A, b, path[n]) ** 2)) <= tol:
        path[n + 1] = gd_step(A, b, path[n], lr)
        n += 1
    return path[:n + 1].copy()
""",
    ),
]
