r"""Objectives with ``value`` / ``grad`` / ``hess``: the functions the course minimises.

Every objective maps a parameter vector :math:`x \in \mathbb{R}^d` (a NumPy array of shape
``(d,)``) to a float and knows its gradient ``(d,)`` and Hessian ``(d, d)`` in closed form.

Objectives that are a *mean over samples* (:class:`FiniteSum`) additionally accept an index
array ``idx`` selecting a mini-batch :math:`B` of rows,

.. math::

    f(x) = \frac{1}{n} \sum_{i=1}^{n} f_i(x), \qquad
    f_B(x) = \frac{1}{|B|} \sum_{i \in B} f_i(x), \qquad
    \nabla f_B(x) = \frac{1}{|B|} \sum_{i \in B} \nabla f_i(x),

which is what stochastic gradient descent and the simulated distributed workers call.
``sample_grads`` returns the individual :math:`\nabla f_i(x)` as rows, so that
``sample_grads(x, idx).mean(axis=0) == grad(x, idx)``.

Only NumPy is imported here.
"""

from __future__ import annotations

import numpy as np

from coursekit._checks import check_real, is_int

__all__ = [
    "Objective",
    "FiniteSum",
    "Quadratic",
    "Rosenbrock",
    "LeastSquares",
    "Logistic",
]


# --------------------------------------------------------------------------- input checks
def _as_matrix(a, name: str) -> np.ndarray:
    """Return ``a`` as a finite float64 2-D array or raise naming ``name``."""
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric 2-D array, got {type(a).__name__}") from exc
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _as_vector(v, name: str, length: int | None = None, min_length: int = 1) -> np.ndarray:
    """Return ``v`` as a finite float64 1-D array (of a given length) or raise naming ``name``."""
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric 1-D array, got {type(v).__name__}") from exc
    if arr.ndim != 1:
        expected = f"({length},)" if length is not None else "(d,)"
        raise ValueError(f"{name} must be a 1-D array of shape {expected}, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},), got shape {arr.shape}")
    if arr.shape[0] < min_length:
        raise ValueError(f"{name} must have at least {min_length} entries, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


# --------------------------------------------------------------------------- base classes
class Objective:
    r"""A twice-differentiable function :math:`f: \mathbb{R}^d \to \mathbb{R}`.

    Subclasses implement :meth:`value`, :meth:`grad` and :meth:`hess`. Calling the object is
    the same as :meth:`value`, so an objective can be passed wherever a plain function is
    expected.

    Attributes
    ----------
    dim : int or None
        The dimension :math:`d` of the parameter vector, or ``None`` when the objective accepts
        any dimension (Rosenbrock).
    """

    dim: int | None = None

    def value(self, x) -> float:
        """Return :math:`f(x)` for ``x`` of shape ``(d,)``."""
        raise NotImplementedError

    def grad(self, x) -> np.ndarray:
        r"""Return :math:`\nabla f(x)`, shape ``(d,)``."""
        raise NotImplementedError

    def hess(self, x) -> np.ndarray:
        r"""Return :math:`\nabla^2 f(x)`, shape ``(d, d)``."""
        raise NotImplementedError

    def __call__(self, x) -> float:
        return self.value(x)

    def _check_x(self, x) -> np.ndarray:
        # Non-finite points are rejected here; the optimisers test for divergence before they
        # evaluate, so a NaN reaching an objective is a caller's bug worth reporting.
        return _as_vector(x, "x", length=self.dim)


class FiniteSum(Objective):
    r"""An objective that is a mean of per-sample terms, :math:`f(x) = \frac1n \sum_i f_i(x)`.

    ``value``, ``grad`` and ``hess`` take an optional ``idx`` (1-D integer array of row
    indices, repetitions allowed) and then return the mean over those rows only,
    :math:`f_B`, :math:`\nabla f_B`, :math:`\nabla^2 f_B`. ``idx=None`` means all rows.

    Attributes
    ----------
    n_samples : int
        The number of terms :math:`n`.
    """

    n_samples: int

    def value(self, x, idx=None) -> float:
        raise NotImplementedError

    def grad(self, x, idx=None) -> np.ndarray:
        raise NotImplementedError

    def hess(self, x, idx=None) -> np.ndarray:
        raise NotImplementedError

    def sample_grads(self, x, idx=None) -> np.ndarray:
        r"""Per-sample gradients :math:`\nabla f_i(x)` for :math:`i \in B`, shape ``(|B|, d)``.

        Their mean over rows equals ``grad(x, idx)``.
        """
        raise NotImplementedError

    def _check_idx(self, idx) -> np.ndarray | slice:
        """Validate ``idx`` and return something usable to index rows (a slice for None)."""
        if idx is None:
            return slice(None)
        arr = np.asarray(idx)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"idx must be a 1-D array of row indices, got shape {arr.shape}")
        if arr.size == 0:
            raise ValueError("idx must select at least one row, got an empty array")
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"idx must hold integers (row indices), got dtype {arr.dtype}")
        if arr.min() < 0 or arr.max() >= self.n_samples:
            raise ValueError(
                f"idx must lie in [0, {self.n_samples}), got values in [{arr.min()}, {arr.max()}]"
            )
        return arr


# --------------------------------------------------------------------------- quadratic
class Quadratic(Objective):
    r"""The quadratic :math:`f(x) = \tfrac12 x^\top A x - b^\top x` with symmetric :math:`A`.

    .. math::

        \nabla f(x) = A x - b, \qquad \nabla^2 f(x) = A, \qquad
        x^\star = A^{-1} b \ \text{(when } A \succ 0\text{)}.

    With eigenvalues :math:`\mu = \lambda_{\min}` and :math:`L = \lambda_{\max}` of :math:`A`,
    :math:`f` is :math:`L`-smooth and :math:`\mu`-strongly convex, and its condition number
    :math:`\kappa = L / \mu` governs the speed of gradient descent.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Symmetric matrix (checked up to a relative tolerance of 1e-10, then symmetrised).
    b : array_like, shape (d,), optional
        Linear term; zeros when omitted (the minimiser is then the origin).

    Attributes
    ----------
    A : ndarray, shape (d, d)
    b : ndarray, shape (d,)
    dim : int
    eigenvalues : ndarray, shape (d,)
        Eigenvalues of ``A`` in ascending order.
    L, mu : float
        Largest and smallest eigenvalue of ``A``.
    """

    def __init__(self, A, b=None):
        A = _as_matrix(A, "A")
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be square, got shape {A.shape}")
        scale = max(np.max(np.abs(A)), 1.0)
        if not np.allclose(A, A.T, rtol=0.0, atol=1e-10 * scale):
            raise ValueError("A must be symmetric (A == A.T)")
        self.A = 0.5 * (A + A.T)
        self.dim = A.shape[0]
        self.b = np.zeros(self.dim) if b is None else _as_vector(b, "b", length=self.dim)
        self.eigenvalues = np.linalg.eigvalsh(self.A)
        self.mu = float(self.eigenvalues[0])
        self.L = float(self.eigenvalues[-1])

    @classmethod
    def with_condition_number(cls, kappa, dim: int = 2, seed=0) -> Quadratic:
        r"""A quadratic with :math:`b = 0` whose Hessian has condition number ``kappa``.

        :math:`A = Q \operatorname{diag}(\lambda_1, \dots, \lambda_d) Q^\top` with eigenvalues
        evenly spaced from :math:`\lambda_1 = 1` to :math:`\lambda_d = \kappa` (both included)
        and :math:`Q` a random rotation drawn from ``seed`` (QR of a Gaussian matrix), so
        :math:`\mu = 1`, :math:`L = \kappa` and the minimiser is the origin.

        Parameters
        ----------
        kappa : float
            Condition number, ``>= 1`` (must be 1 when ``dim == 1``).
        dim : int
            Dimension ``d >= 1``.
        seed : int or numpy.random.Generator
        """
        kappa = check_real(kappa, "kappa")
        if kappa < 1.0:
            raise ValueError(f"kappa must be >= 1, got {kappa}")
        if not is_int(dim) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if dim == 1 and kappa != 1.0:
            raise ValueError(f"kappa must be 1 when dim == 1 (one eigenvalue), got {kappa}")
        rng = np.random.default_rng(seed)
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        # Fixing the signs by diag(R) makes Q Haar-distributed, i.e. a uniform random rotation.
        q = q * np.sign(np.diag(r))
        eigs = np.linspace(1.0, kappa, dim)
        return cls((q * eigs) @ q.T)

    @property
    def condition_number(self) -> float:
        r""":math:`\kappa = \lambda_{\max} / \lambda_{\min}`; ``inf`` unless :math:`A \succ 0`."""
        if self.mu <= 0.0:
            return float("inf")
        return self.L / self.mu

    @property
    def minimizer(self) -> np.ndarray:
        r"""The unique minimiser :math:`x^\star = A^{-1} b`, shape ``(d,)``.

        Raises
        ------
        ValueError
            If :math:`A` is not positive definite (no unique minimiser).
        """
        if self.mu <= 0.0:
            raise ValueError("A is not positive definite: the quadratic has no unique minimizer")
        return np.linalg.solve(self.A, self.b)

    def value(self, x) -> float:
        r""":math:`f(x) = \tfrac12 x^\top A x - b^\top x` for ``x`` of shape ``(d,)``."""
        x = self._check_x(x)
        return float(0.5 * x @ self.A @ x - self.b @ x)

    def grad(self, x) -> np.ndarray:
        r""":math:`\nabla f(x) = A x - b`, shape ``(d,)``."""
        x = self._check_x(x)
        return self.A @ x - self.b

    def hess(self, x) -> np.ndarray:
        r""":math:`\nabla^2 f(x) = A` (the same at every point), shape ``(d, d)``."""
        self._check_x(x)
        return self.A.copy()

    def __repr__(self) -> str:
        return f"Quadratic(dim={self.dim}, condition_number={self.condition_number:.4g})"


# --------------------------------------------------------------------------- Rosenbrock
class Rosenbrock(Objective):
    r"""The chained Rosenbrock function (SciPy's ``rosen``), in any dimension :math:`d \ge 2`.

    .. math::

        f(x) = \sum_{i=1}^{d-1} b\,(x_{i+1} - x_i^2)^2 + (a - x_i)^2 .

    Gradient, with the convention that terms outside :math:`1..d-1` vanish:

    .. math::

        \partial_j f = -4 b\, x_j (x_{j+1} - x_j^2) - 2 (a - x_j) + 2 b\, (x_j - x_{j-1}^2),

    and the Hessian is tridiagonal with
    :math:`\partial_{jj} f = 12 b x_j^2 - 4 b x_{j+1} + 2` (for :math:`j < d`) :math:`+\,2b`
    (for :math:`j > 1`) and :math:`\partial_{j,j+1} f = -4 b x_j`.

    Parameters
    ----------
    a, b : float
        The classic values are ``a=1``, ``b=100`` (minimum 0 at the all-ones vector).
    """

    dim = None

    def __init__(self, a=1.0, b=100.0):
        self.a = check_real(a, "a")
        self.b = check_real(b, "b")
        if self.b <= 0.0:
            raise ValueError(f"b must be positive, got {self.b}")

    def minimizer(self, dim: int = 2) -> np.ndarray:
        r"""The global minimiser in dimension ``dim``, shape ``(dim,)``.

        All ones for :math:`a = 1`, all zeros for :math:`a = 0`, :math:`(a, a^2)` in 2-D; there
        is no closed form otherwise.
        """
        if not is_int(dim) or dim < 2:
            raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
        if self.a in (0.0, 1.0):
            return np.full(dim, self.a)
        if dim == 2:
            return np.array([self.a, self.a**2])
        raise ValueError(
            f"no closed-form minimizer for a={self.a} in dim={dim} (only a in {{0, 1}} or dim=2)"
        )

    def _check_x(self, x) -> np.ndarray:
        return _as_vector(x, "x", min_length=2)

    def value(self, x) -> float:
        """:math:`f(x)` for ``x`` of shape ``(d,)``, ``d >= 2``."""
        x = self._check_x(x)
        head, tail = x[:-1], x[1:]
        return float(np.sum(self.b * (tail - head**2) ** 2 + (self.a - head) ** 2))

    def grad(self, x) -> np.ndarray:
        r""":math:`\nabla f(x)`, shape ``(d,)`` (formula in the class docstring)."""
        x = self._check_x(x)
        head, tail = x[:-1], x[1:]
        r = tail - head**2  # the residual of term i, shape (d-1,)
        g = np.zeros_like(x)
        g[:-1] += -4.0 * self.b * head * r - 2.0 * (self.a - head)
        g[1:] += 2.0 * self.b * r
        return g

    def hess(self, x) -> np.ndarray:
        r""":math:`\nabla^2 f(x)`, tridiagonal, shape ``(d, d)``."""
        x = self._check_x(x)
        d = x.shape[0]
        head, tail = x[:-1], x[1:]
        diag = np.zeros(d)
        diag[:-1] += 12.0 * self.b * head**2 - 4.0 * self.b * tail + 2.0
        diag[1:] += 2.0 * self.b
        off = -4.0 * self.b * head
        return np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)

    def __repr__(self) -> str:
        return f"Rosenbrock(a={self.a:g}, b={self.b:g})"


# --------------------------------------------------------------------------- least squares
def _check_data(X, y, name_y: str = "y") -> tuple[np.ndarray, np.ndarray]:
    X = _as_matrix(X, "X")
    y = _as_vector(y, name_y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name_y} must have one entry per row of X: X has {X.shape[0]} rows, "
            f"{name_y} has shape {y.shape}"
        )
    return X, y


class LeastSquares(FiniteSum):
    r"""Linear least squares (multivariate linear regression) as a mean over samples.

    .. math::

        f(w) = \frac{1}{2n} \lVert X w - y \rVert^2
             = \frac1n \sum_{i=1}^n \tfrac12 (x_i^\top w - y_i)^2, \qquad
        \nabla f_B(w) = \frac{1}{|B|} X_B^\top (X_B w - y_B), \qquad
        \nabla^2 f_B = \frac{1}{|B|} X_B^\top X_B .

    Parameters
    ----------
    X : array_like, shape (n, d)
        Design matrix, one sample per row (append a column of ones for an intercept).
    y : array_like, shape (n,)
        Targets.

    Attributes
    ----------
    X, y, n_samples, dim
    L : float
        Smoothness constant :math:`\lambda_{\max}(X^\top X / n)` of the full objective.
    """

    def __init__(self, X, y):
        self.X, self.y = _check_data(X, y)
        self.n_samples, self.dim = self.X.shape

    @property
    def L(self) -> float:
        r"""Largest eigenvalue of :math:`X^\top X / n` (so ``lr = 1 / L`` is a safe GD step)."""
        return float(np.linalg.eigvalsh(self.X.T @ self.X / self.n_samples)[-1])

    @property
    def condition_number(self) -> float:
        r""":math:`\kappa = h_1 / h_d` of the Hessian :math:`X^\top X / n`; ``inf`` when a column
        of ``X`` is a combination of the others (:math:`h_d = 0` up to rounding)."""
        eigs = np.linalg.eigvalsh(self.X.T @ self.X / self.n_samples)
        if not eigs[0] > eigs[-1] * eigs.size * np.finfo(float).eps:
            return float("inf")
        return float(eigs[-1] / eigs[0])

    def solution(self) -> np.ndarray:
        """The least-squares minimiser (minimum-norm if ``X`` is rank deficient), shape ``(d,)``."""
        return np.linalg.lstsq(self.X, self.y, rcond=None)[0]

    def residuals(self, w, idx=None) -> np.ndarray:
        r"""Residuals :math:`X_B w - y_B`, shape ``(|B|,)``."""
        w = self._check_x(w)
        rows = self._check_idx(idx)
        return self.X[rows] @ w - self.y[rows]

    def value(self, w, idx=None) -> float:
        r = self.residuals(w, idx)
        return float(0.5 * np.mean(r**2))

    def grad(self, w, idx=None) -> np.ndarray:
        rows = self._check_idx(idx)
        r = self.residuals(w, idx)
        return self.X[rows].T @ r / r.shape[0]

    def sample_grads(self, w, idx=None) -> np.ndarray:
        rows = self._check_idx(idx)
        r = self.residuals(w, idx)
        return self.X[rows] * r[:, None]

    def hess(self, w, idx=None) -> np.ndarray:
        self._check_x(w)
        rows = self._check_idx(idx)
        Xb = self.X[rows]
        return Xb.T @ Xb / Xb.shape[0]

    def __repr__(self) -> str:
        return f"LeastSquares(n_samples={self.n_samples}, dim={self.dim})"


# --------------------------------------------------------------------------- logistic
def _sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warning for large |z|, unlike 1 / (1 + exp(-z)).
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class Logistic(FiniteSum):
    r"""Mean logistic (cross-entropy) loss with optional L2 penalty, labels :math:`y_i \in \{0,1\}`.

    With :math:`z_i = x_i^\top w` and :math:`\sigma(z) = 1 / (1 + e^{-z})`,

    .. math::

        f_i(w) = \log(1 + e^{z_i}) - y_i z_i + \tfrac{\lambda}{2} \lVert w \rVert^2, \qquad
        \nabla f_i(w) = (\sigma(z_i) - y_i)\, x_i + \lambda w,

        \nabla^2 f_B(w) = \frac{1}{|B|} X_B^\top D X_B + \lambda I, \qquad
        D = \operatorname{diag}\big(\sigma(z)(1-\sigma(z))\big).

    The penalty is part of every :math:`f_i`, so a mini-batch gradient is an unbiased estimate
    of the full gradient and ``sample_grads`` averages to ``grad``.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Labels, each 0 or 1.
    l2 : float
        Penalty :math:`\lambda \ge 0`.
    """

    def __init__(self, X, y, l2=0.0):
        self.X, self.y = _check_data(X, y)
        if not np.all((self.y == 0.0) | (self.y == 1.0)):
            raise ValueError("y must contain only labels 0 and 1")
        self.l2 = check_real(l2, "l2")
        if self.l2 < 0.0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        self.n_samples, self.dim = self.X.shape

    def predict_proba(self, w, X=None) -> np.ndarray:
        r""":math:`\sigma(X w)`, the predicted probability of label 1, shape ``(n,)``."""
        w = self._check_x(w)
        X = self.X if X is None else _as_matrix(X, "X")
        if X.shape[1] != self.dim:
            raise ValueError(f"X must have {self.dim} columns, got shape {X.shape}")
        return _sigmoid(X @ w)

    def value(self, w, idx=None) -> float:
        w = self._check_x(w)
        rows = self._check_idx(idx)
        z = self.X[rows] @ w
        # logaddexp(0, z) = log(1 + e^z) without overflow.
        loss = np.mean(np.logaddexp(0.0, z) - self.y[rows] * z)
        return float(loss + 0.5 * self.l2 * (w @ w))

    def sample_grads(self, w, idx=None) -> np.ndarray:
        w = self._check_x(w)
        rows = self._check_idx(idx)
        Xb = self.X[rows]
        err = _sigmoid(Xb @ w) - self.y[rows]
        return Xb * err[:, None] + self.l2 * w

    def grad(self, w, idx=None) -> np.ndarray:
        w = self._check_x(w)
        rows = self._check_idx(idx)
        Xb = self.X[rows]
        err = _sigmoid(Xb @ w) - self.y[rows]
        return Xb.T @ err / Xb.shape[0] + self.l2 * w

    def hess(self, w, idx=None) -> np.ndarray:
        w = self._check_x(w)
        rows = self._check_idx(idx)
        Xb = self.X[rows]
        s = _sigmoid(Xb @ w)
        weights = s * (1.0 - s)
        return (Xb * weights[:, None]).T @ Xb / Xb.shape[0] + self.l2 * np.eye(self.dim)

    def __repr__(self) -> str:
        return f"Logistic(n_samples={self.n_samples}, dim={self.dim}, l2={self.l2:g})"
