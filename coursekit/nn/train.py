r"""Mini-batch / batch gradient descent for the NumPy CNN.

The loop is the one of :func:`coursekit.optimize.sgd`, applied to every parameter
tensor of the network:

.. math::

    \theta^{(p)}_{t+1} = \mathrm{rule.update}\big(\theta^{(p)}_t,\;
    \nabla_{\theta^{(p)}} \tfrac{1}{|B_t|}\textstyle\sum_{i \in B_t} \ell_i,\;
    \eta_t,\; s^{(p)}\big)

for each parameter array :math:`p`, with the update rules (plain, momentum, Adam, ...)
and learning-rate schedules of :mod:`coursekit.optimize` (one source of truth) and the
batches :math:`B_t` from :func:`coursekit.data.batch_indices` (the course's single batch
order). ``batch_size = n`` is batch gradient descent. The rules act element by element,
so all arrays are updated at once as one vector (:func:`flat_update`).

Command line::

    python -m coursekit.nn.train --epochs 15 --batch-size 32 --rule adam

trains the default network on scikit-learn's digits (80/20 split, seed 0) and prints a
summary line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from coursekit import data, optimize
from coursekit._checks import is_int, is_real
from coursekit.data import confusion_matrix
from coursekit.nn import layers
from coursekit.nn.model import VGG, vgg
from coursekit.nn.params import ParamLayout

__all__ = [
    "TrainResult",
    "flat_update",
    "train",
    "train_digits",
    "digits_split",
    "ConfusionRun",
    "train_with_confusion",
    "main",
]

#: Defaults of the digits run (reach >= 98 % test accuracy in a few seconds).
DIGITS_DEFAULTS = {"epochs": 15, "batch_size": 32, "lr": 3e-3, "rule": "adam", "seed": 0}


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    model : VGG
        The trained network (the same object that was passed in).
    history : dict[str, list]
        One entry per epoch: ``epoch`` (1, 2, ...), ``loss`` (mean training loss over the
        epoch's mini-batches, weighted by batch size), ``train_acc``, ``test_acc`` (NaN
        without test data), ``seconds`` (training time of the epoch, evaluation
        excluded), ``eval_seconds``.
    n_steps : int
        Parameter updates made.
    train_seconds : float
        Total training time (sum of ``seconds``).
    converged : bool
        False if the loss or a gradient became NaN/inf: training stops there, the model
        keeps the last parameters whose loss was finite, ``message`` says when.
    message : str
    """

    model: VGG
    history: dict = field(default_factory=dict)
    n_steps: int = 0
    train_seconds: float = 0.0
    converged: bool = True
    message: str = ""

    @property
    def test_acc(self):
        """Test accuracy after the last epoch."""
        return self.history["test_acc"][-1] if self.history.get("test_acc") else float("nan")

    @property
    def train_acc(self):
        """Training accuracy after the last epoch."""
        return self.history["train_acc"][-1] if self.history.get("train_acc") else float("nan")


def flat_update(params, g, rule, lr, state, layout=None):
    r"""One step of ``rule`` on every parameter array at once, as one vector.

    The course's update rules act element by element, so the update of the vector
    :math:`\theta = (\operatorname{vec} \theta^{(1)}, \dots, \operatorname{vec}
    \theta^{(P)})` (:class:`~coursekit.nn.params.ParamLayout`) with the gradients stacked the
    same way is the update of each array, number for number. One call of the rule instead of
    one per array: Adam is a dozen NumPy calls, and the digits network has ten arrays of at
    most 9216 numbers, so the calls, not the arithmetic, were its cost (0.25 of a 6 ms
    training step).

    Parameters
    ----------
    params : dict[str, ndarray]
        Its arrays are replaced (the dict is updated in place) by views of ONE new array:
        the old arrays are left intact.
    g : ndarray, ``layout.flatten(grads)``
    rule : coursekit.optimize.Rule
    lr : float, this step's learning rate
    state : dict, the rule's state for the vector, ``rule.init(layout.flatten(params))``
    layout : ParamLayout, optional
        Of ``params`` (default: built from ``params``; pass it to build it once).
    """
    layout = ParamLayout(params) if layout is None else layout
    params.update(layout.unflatten(rule.update(layout.flatten(params), g, lr, state)))


def _check_xy(name_x, X, name_y, y, model):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 4 or X.shape[1:] != model.input_shape:
        raise ValueError(
            f"{name_x} must have shape (N, {', '.join(map(str, model.input_shape))}), got {X.shape}"
        )
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"{name_y} must have shape ({X.shape[0]},) to match {name_x}, got {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name_y} must hold integer labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= model.n_classes):
        raise ValueError(f"{name_y} must hold labels in 0..{model.n_classes - 1}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name_x} contains NaN or inf")
    return X.astype(model.dtype, copy=False), y


def train(
    model,
    X_train,
    y_train,
    X_test=None,
    y_test=None,
    epochs=10,
    batch_size=32,
    lr=1e-3,
    rule="adam",
    schedule=None,
    seed=0,
    shuffle=True,
    progress=False,
    callback=None,
):
    r"""Train ``model`` by mini-batch gradient descent with a coursekit update rule.

    Parameters
    ----------
    model : VGG
        Trained in place.
    X_train : ndarray, shape (n, C, H, W); y_train : int ndarray, shape (n,)
    X_test, y_test : optional held-out data, evaluated after every epoch
    epochs : int >= 1
    batch_size : int in [1, n]; ``n`` gives batch gradient descent
    lr : float > 0, the base learning rate :math:`\eta_0`
    rule : None, str or rule instance, as accepted by :func:`coursekit.optimize.get_rule`
    schedule : None, str or callable ``(lr0, t) -> lr_t``, as accepted by
        :func:`coursekit.optimize.get_schedule` (``"cosine"`` spans the whole run)
    seed : int or numpy.random.Generator, the batch order of
        :func:`coursekit.data.batch_indices`
    shuffle : bool
    progress : bool, show a tqdm bar over the epochs
    callback : callable ``callback(epoch, history)`` after each epoch, optional

    Returns
    -------
    TrainResult
    """
    if not isinstance(model, VGG):
        raise TypeError(f"model must be a coursekit.nn.model.VGG, got {type(model).__name__}")
    X_train, y_train = _check_xy("X_train", X_train, "y_train", y_train, model)
    has_test = X_test is not None or y_test is not None
    if has_test:
        if X_test is None or y_test is None:
            raise ValueError("X_test and y_test must be given together")
        X_test, y_test = _check_xy("X_test", X_test, "y_test", y_test, model)
    if not is_int(epochs) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    if not is_real(lr) or not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    n = X_train.shape[0]
    # batch_indices validates batch_size (ValueError naming it).
    batches = data.batch_indices(n, batch_size, seed=seed, shuffle=shuffle)
    steps_per_epoch = -(-n // batch_size)
    rule = optimize.get_rule(rule)
    if isinstance(schedule, str) and schedule.strip().lower() == "cosine":
        schedule = optimize.cosine(epochs * steps_per_epoch)
    schedule = optimize.get_schedule(schedule)
    layout = ParamLayout(model.params)  # all arrays as one vector (flat_update)
    state = rule.init(layout.flatten(model.params))
    previous = dict(model.params)

    hist = {k: [] for k in ("epoch", "loss", "train_acc", "test_acc", "seconds", "eval_seconds")}
    result = TrainResult(model=model, history=hist)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="train", unit="epoch")
    t = 0
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            total, diverged = 0.0, False
            for _ in range(steps_per_epoch):
                _, idx = next(batches)
                loss, grads = model.loss(X_train[idx], y_train[idx])
                g = layout.flatten(grads)  # one vector, laid out as the parameters
                if not (np.isfinite(loss) and np.isfinite(g).all()):
                    # Back to the last parameters with a finite loss
                    # (updates made new arrays: the old ones are intact).
                    model.params.update(previous)
                    diverged = True
                    break
                previous = dict(model.params)
                flat_update(model.params, g, rule, float(schedule(lr, t)), state, layout)
                total += loss * len(idx)
                t += 1
            seconds = time.perf_counter() - t0
            if diverged:
                result.converged = False
                result.message = f"diverged at iteration {t}"
                break
            t1 = time.perf_counter()
            hist["epoch"].append(epoch + 1)
            hist["loss"].append(total / n)
            hist["train_acc"].append(model.accuracy(X_train, y_train))
            hist["test_acc"].append(model.accuracy(X_test, y_test) if has_test else float("nan"))
            hist["seconds"].append(seconds)
            hist["eval_seconds"].append(time.perf_counter() - t1)
            if bar is not None:
                bar.set_postfix(
                    loss=f"{hist['loss'][-1]:.4f}", test_acc=f"{hist['test_acc'][-1]:.4f}"
                )
                bar.update(1)
            if callback is not None:
                callback(epoch + 1, hist)
    finally:
        if bar is not None:
            bar.close()
    result.n_steps = t
    result.train_seconds = float(sum(hist["seconds"]))
    if result.converged:
        result.message = f"trained {len(hist['epoch'])} epochs ({t} steps)"
    return result


def train_digits(
    epochs=DIGITS_DEFAULTS["epochs"],
    batch_size=DIGITS_DEFAULTS["batch_size"],
    lr=DIGITS_DEFAULTS["lr"],
    rule=DIGITS_DEFAULTS["rule"],
    seed=DIGITS_DEFAULTS["seed"],
    config=(16, 16, "M", 32, 32, "M"),
    dtype=np.float32,
    schedule=None,
    progress=False,
):
    """Train ``vgg(config)`` on scikit-learn's digits, split 80/20 with seed 0.

    ``seed`` seeds both the initial weights and the batch order; the split is fixed.

    Returns
    -------
    TrainResult
    """
    X_tr, X_te, y_tr, y_te = digits_split(dtype)
    model = vgg(config, input_shape=X_tr.shape[1:], n_classes=10, seed=seed, dtype=dtype)
    return train(
        model,
        X_tr,
        y_tr,
        X_te,
        y_te,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        rule=rule,
        schedule=schedule,
        seed=seed,
        progress=progress,
    )


def digits_split(dtype=np.float32):
    """The digits split 80/20 with seed 0, as :func:`train_digits` uses it:
    ``(X_train, X_test, y_train, y_test)``."""
    X, y = data.load_digits(dtype=dtype)
    return data.train_test_split(X, y, test_size=0.2, seed=0)


@dataclass
class ConfusionRun:
    """A training run with the test confusion matrix before training and after each epoch.

    Attributes
    ----------
    result : TrainResult
    confusion : list of (K, K) int arrays, index 0 = before training
    initial_loss : float, mean training loss of the initial network
    batch_size : int
    """

    result: TrainResult
    confusion: list = field(default_factory=list)
    initial_loss: float = float("nan")
    batch_size: int = 0

    @property
    def losses(self):
        """Training loss, shape (epochs + 1,): the initial network's, then for each epoch the
        mean of its mini-batch losses (as :func:`coursekit.nn.train.train` records it)."""
        return np.array([self.initial_loss] + list(self.result.history["loss"]))

    def test_accuracy(self, epoch):
        """Test accuracy after ``epoch`` epochs (0: before training), from the confusion."""
        c = self.confusion[epoch]
        return float(np.trace(c) / c.sum())


def train_with_confusion(
    split,
    *,
    batch_size,
    epochs,
    lr=3e-3,
    rule="adam",
    seed=0,
    config=(16, 16, "M", 32, 32, "M"),
    dtype=np.float32,
) -> ConfusionRun:
    """Train a fresh ``vgg(config)`` with :func:`coursekit.nn.train.train` and record the test
    set's confusion matrix after every epoch (and before the first).

    Parameters
    ----------
    split : (X_train, X_test, y_train, y_test), e.g. :func:`digits_split`
    batch_size : int; ``len(y_train)`` is batch gradient descent
    epochs, lr, rule, seed : as for :func:`coursekit.nn.train.train`; ``seed`` also seeds the
        initial weights, so runs with the same seed start from the same network
    """
    X_tr, X_te, y_tr, y_te = split
    model = vgg(config, input_shape=X_tr.shape[1:], n_classes=10, seed=seed, dtype=dtype)
    confusion = [confusion_matrix(y_te, model.predict(X_te), 10)]
    total = 0.0
    for i in range(0, len(y_tr), 512):
        logits = model.forward(X_tr[i : i + 512])
        total += layers.softmax_cross_entropy(logits, y_tr[i : i + 512])[0] * len(logits)
    initial_loss = total / len(y_tr)

    def record(epoch, history):
        confusion.append(confusion_matrix(y_te, model.predict(X_te), 10))

    result = train(
        model,
        X_tr,
        y_tr,
        X_te,
        y_te,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        rule=rule,
        seed=seed,
        callback=record,
    )
    return ConfusionRun(result, confusion, initial_loss, batch_size)


def main(argv=None):
    """Command-line entry point (``python -m coursekit.nn.train --help``)."""
    p = argparse.ArgumentParser(
        prog="python -m coursekit.nn.train",
        description="Train the NumPy VGG-style CNN on scikit-learn's digits (80/20 split).",
    )
    p.add_argument("--epochs", type=int, default=DIGITS_DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=int, default=DIGITS_DEFAULTS["batch_size"])
    p.add_argument(
        "--rule",
        default=DIGITS_DEFAULTS["rule"],
        help=f"update rule: {', '.join(sorted(optimize.RULES))}",
    )
    p.add_argument("--lr", type=float, default=DIGITS_DEFAULTS["lr"])
    p.add_argument("--schedule", default=None, help="constant, step, 1/t or cosine")
    p.add_argument("--seed", type=int, default=DIGITS_DEFAULTS["seed"])
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads (threadpoolctl); default: the library's own choice",
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.add_argument("--json", action="store_true", help="print the history as JSON too")
    args = p.parse_args(argv)

    def run():
        return train_digits(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            rule=args.rule,
            seed=args.seed,
            dtype=np.dtype(args.dtype),
            schedule=args.schedule,
            progress=not args.no_progress,
        )

    try:
        if args.threads is not None:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(args.threads):
                res = run()
        else:
            res = run()
    except (ValueError, TypeError) as exc:
        p.error(str(exc))
    last_loss = res.history["loss"][-1] if res.history["loss"] else float("nan")
    print(
        f"rule={args.rule} epochs={len(res.history['epoch'])} batch_size={args.batch_size} "
        f"lr={args.lr:g} loss={last_loss:.4f} "
        f"train_acc={res.train_acc:.4f} test_acc={res.test_acc:.4f} "
        f"train_seconds={res.train_seconds:.2f} steps={res.n_steps} "
        f"params={res.model.num_params()} {res.message}"
    )
    if args.json:
        print(json.dumps(res.history))
    return 0 if res.converged else 1


if __name__ == "__main__":
    sys.exit(main())
