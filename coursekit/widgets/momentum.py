r"""Chapter 4 widgets: heavy-ball and Nesterov momentum on an ill-conditioned quadratic.

Computing parts (plain functions, tested without a browser):

- :func:`momentum_rate`: the exact asymptotic rate of momentum on a quadratic, the spectral
  radius of its per-eigenvalue iteration matrices,
- :func:`best_momentum`: the momentum that makes that rate smallest for :math:`\eta = 1/L`,
- :func:`momentum_sweep`: the runs the widget shows.

:func:`momentum_explorer` draws them into precomputed frames with
:func:`coursekit.widgets.frame_slider`.

The law. On :math:`f(x) = \tfrac12 x^\top A x`, in the eigenbasis of :math:`A` every coordinate
evolves on its own. With PyTorch's heavy ball (:class:`coursekit.optimize.Momentum`),
:math:`v' = \beta v + \lambda x`, :math:`x' = x - \eta v'`, so the pair :math:`(x, v)` is
multiplied by

.. math::

    M_\lambda = \begin{pmatrix} 1 - \eta\lambda & -\eta\beta \\ \lambda & \beta \end{pmatrix},
    \qquad \det(zI - M_\lambda) = z^2 - (1 + \beta - \eta\lambda) z + \beta,

and with Nesterov's form (:class:`coursekit.optimize.Nesterov`),
:math:`x' = x - \eta(\lambda x + \beta v')`, by

.. math::

    N_\lambda = \begin{pmatrix} 1 - \eta\lambda(1 + \beta) & -\eta\beta^2 \\
    \lambda & \beta \end{pmatrix}.

The error shrinks like :math:`\rho^k` with :math:`\rho = \max_\lambda \rho(M_\lambda)`. When
both roots are complex their modulus is :math:`\sqrt\beta`; with :math:`\eta = 1/L` that holds
for every :math:`\lambda \in [\mu, L]` as soon as :math:`\sqrt\beta \ge 1 - 1/\sqrt\kappa`, so
the best choice is :math:`\beta^\star = (1 - 1/\sqrt\kappa)^2` with rate
:math:`1 - 1/\sqrt\kappa`, against :math:`1 - 1/\kappa` for gradient descent
:cite:`polyak1964`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from coursekit.objectives import Quadratic
from coursekit.optimize import Momentum, Nesterov, OptimizeResult, gradient_descent
from coursekit.plotting import contour_paths, loss_curves, new_figure
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = ["momentum_rate", "best_momentum", "momentum_sweep", "momentum_explorer"]

#: Momentum values of the explorer (0.81 is the best one for kappa = 100 and lr = 1/L).
BETAS = (0.0, 0.3, 0.5, 0.7, 0.81, 0.9, 0.95, 0.98)


def momentum_rate(lr: float, beta: float, eigenvalues, *, nesterov: bool = False) -> float:
    r"""Asymptotic linear rate of momentum on a quadratic with the given Hessian eigenvalues.

    Parameters
    ----------
    lr : float > 0
    beta : float in [0, 1)
    eigenvalues : array_like, shape (d,)
        Eigenvalues of the Hessian :math:`A` (positive).
    nesterov : bool
        Nesterov's form instead of the heavy ball.

    Returns
    -------
    float
        :math:`\max_\lambda` of the spectral radius of the iteration matrix (see the module
        docstring): the error behaves like :math:`\rho^k` (times a polynomial in :math:`k`
        when roots coincide); :math:`\rho \ge 1` means no convergence.
    """
    for name, value in (("lr", lr), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be positive and finite, got {lr!r}")
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta!r}")
    eigs = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
    if eigs.ndim != 1 or eigs.size == 0 or not np.all(np.isfinite(eigs)) or np.any(eigs <= 0):
        raise ValueError("eigenvalues must be a non-empty 1-D array of positive numbers")
    radii = []
    for lam in eigs:
        if nesterov:
            m = np.array([[1.0 - lr * lam * (1.0 + beta), -lr * beta**2], [lam, beta]])
        else:
            m = np.array([[1.0 - lr * lam, -lr * beta], [lam, beta]])
        radii.append(np.max(np.abs(np.linalg.eigvals(m))))
    return float(max(radii))


def best_momentum(kappa: float) -> float:
    r"""The heavy-ball momentum with the smallest rate for :math:`\eta = 1/L`.

    :math:`\beta^\star = (1 - 1/\sqrt\kappa)^2`, giving the rate :math:`1 - 1/\sqrt\kappa`.
    """
    if not (np.isfinite(kappa) and kappa >= 1):
        raise ValueError(f"kappa must be a finite number >= 1, got {kappa!r}")
    return float((1.0 - 1.0 / np.sqrt(kappa)) ** 2)


def momentum_sweep(kappa: float, betas: Sequence[float], x0, *, max_iter: int = 300,
                   tol: float = 1e-10, nesterov: bool = False,
                   seed: int = 1) -> tuple[Quadratic, list[OptimizeResult]]:
    r"""Gradient descent with momentum ``beta`` (each of ``betas``) and :math:`\eta = 1/L`.

    Returns
    -------
    f : Quadratic
        :meth:`Quadratic.with_condition_number` ``(kappa, dim=2, seed=seed)``; :math:`L =
        \kappa`, :math:`\mu = 1`.
    results : list of OptimizeResult
        One per entry of ``betas`` (``beta = 0`` is plain gradient descent).
    """
    f = Quadratic.with_condition_number(kappa, dim=2, seed=seed)
    rule = Nesterov if nesterov else Momentum
    results = [gradient_descent(f, x0, lr=1.0 / f.L, max_iter=max_iter, tol=tol,
                                rule=rule(beta)) for beta in betas]
    return f, results


def momentum_explorer(kappa: float = 100.0, betas: Sequence[float] = BETAS,
                      x0: Sequence[float] = (-4.0, 2.5), *, max_iter: int = 300,
                      seed: int = 1) -> FrameSlider:
    r"""Slide the momentum :math:`\beta` of the heavy ball on a quadratic of condition ``kappa``.

    Each frame: the iterates with plain gradient descent for comparison (left), and the
    measured gap against the predicted rate :math:`\rho(\beta)^{2k}` (right); both methods use
    :math:`\eta = 1/L`.
    """
    f, results = momentum_sweep(kappa, betas, x0, max_iter=max_iter, seed=seed)
    _, (plain,) = momentum_sweep(kappa, [0.0], x0, max_iter=max_iter, seed=seed)
    runs = dict(zip(betas, results, strict=True))
    rates = {b: momentum_rate(1.0 / f.L, b, f.eigenvalues) for b in betas}
    window = 5.0
    levels = 0.5 * f.L * window**2 * np.linspace(0.02, 1.0, 14) ** 2

    def draw(beta):
        r = runs[beta]
        fig, (ax, ax_loss) = new_figure(9.0, 3.8, ncols=2)
        contour_paths(f, {f"momentum β = {beta:g}": r.path, "gradient descent": plain.path},
                      xlim=(-window, window), ylim=(-window, window), ax=ax, levels=levels,
                      minimizer=f.minimizer, title=f"heavy ball, κ = {kappa:g}, η = 1/L")
        k = np.arange(max_iter + 1)
        # The rate fixes the slope; anchor the line mid-run, past the first transient steps.
        mid = r.nit // 2
        predicted = r.losses[mid] * rates[beta] ** (2 * (k - mid))
        loss_curves({f"β = {beta:g}": r.losses, "gradient descent (β = 0)": plain.losses,
                     f"slope of the predicted rate ρ = {rates[beta]:.3f}": predicted},
                    ax=ax_loss, title="gap $f(x_k) - f^*$")
        ax_loss.set_xlim(0, max_iter)
        ax_loss.set_ylim(1e-18, 1e4)
        return fig

    def caption(beta):
        r = runs[beta]
        state = (f"reached a gradient norm of 1e-10 in {r.nit} steps" if r.converged
                 else f"has a gap of {r.fun:.1e} after {r.nit} steps")
        return (f"Momentum β = {beta:g}: predicted rate ρ = {rates[beta]:.4f} per step "
                f"(gradient descent: {rates[0.0] if 0.0 in rates else 1 - 1 / kappa:.4f}; "
                f"best possible with η = 1/L: {1 - 1 / np.sqrt(kappa):.4f} at β = "
                f"{best_momentum(kappa):.3f}); the run {state}.")

    return frame_slider(list(betas), draw, description="momentum β",
                        labels=[f"{b:g}" for b in betas], caption=caption,
                        value=0.0 if 0.0 in betas else None)
