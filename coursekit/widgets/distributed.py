r"""Chapters 8 and 9 widgets: workers on a timeline, and how much of a batch to offload.

Computing parts (plain functions, tested without a browser):

- :func:`scaling_runs`: the same training problem on clusters of growing size with a fixed
  global batch (strong scaling), each run a :class:`~coursekit.distributed.SimulationHistory`;
- :func:`time_breakdown`: the mean step of a run split into compute / wait / send / receive
  (the phases tile every worker's timeline, so the parts add up to the step time);
- :func:`predicted_step_time`: the same step from the cost model alone,
  :math:`\frac{b_{\text{global}}\, w}{p F} + T_{\text{allreduce}}(N, p)`;
- :func:`offload_curves`: the two paths' times of partial offloading over a grid of
  :math:`\lambda`, with the closed-form optimum.

Drawing: :func:`gantt` (a per-worker timeline from :meth:`Timeline.intervals`), and the two
widgets :func:`workers_explorer` (chapter 8) and :func:`offload_explorer` (chapter 9), built on
:func:`coursekit.widgets.frames.frame_slider`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from coursekit.distributed import Cluster, cost, offload
from coursekit.distributed.simulate import PHASES, SimulationHistory, simulate
from coursekit.plotting import PALETTE, new_figure, series_style
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = [
    "PHASE_STYLE",
    "scaling_runs",
    "time_breakdown",
    "predicted_step_time",
    "gantt",
    "workers_explorer",
    "offload_curves",
    "offload_explorer",
]

#: Colour and hatch of each timeline phase: Okabe-Ito colours, and hatches so that the phases
#: stay apart in grey-scale (waiting is pale grey: nothing happens).
PHASE_STYLE = {
    "compute": {"facecolor": PALETTE[0], "hatch": ""},
    "wait": {"facecolor": "0.88", "hatch": ""},
    "send": {"facecolor": PALETTE[1], "hatch": "////"},
    "receive": {"facecolor": PALETTE[4], "hatch": "...."},
}


# =========================================================================== computing parts
def scaling_runs(
    objective,
    x0,
    worker_counts: Sequence[int],
    *,
    global_batch: int,
    steps: int = 20,
    lr: float = 0.1,
    seed: int = 0,
    algorithm: str = "ring",
    shards: int = 1,
    flops_per_sample: float | None = None,
    **cluster_kw,
) -> dict[int, SimulationHistory]:
    r"""Synchronous data-parallel SGD with a fixed global batch on :math:`p` workers, per ``p``.

    Each run splits the same global batch of ``global_batch`` rows into :math:`p` shards of
    ``global_batch / p`` (strong scaling), so every run computes the same iterates and only the
    clock differs.

    Parameters
    ----------
    objective : FiniteSum
    x0 : array_like, shape (d,)
    worker_counts : sequence of int
        Each must divide ``global_batch``.
    global_batch : int
        Rows per step, shared by the workers.
    steps, lr, seed, algorithm, shards, flops_per_sample
        As in :func:`coursekit.distributed.simulate.simulate`.
    **cluster_kw
        Passed to :class:`coursekit.distributed.Cluster` (``rates``, ``latency``,
        ``bandwidth``, ``straggler_prob``, ...), the same for every ``p``.

    Returns
    -------
    dict int -> SimulationHistory
    """
    if isinstance(global_batch, bool) or not isinstance(global_batch, (int, np.integer)):
        raise TypeError(f"global_batch must be an int, got {global_batch!r}")
    if len(worker_counts) == 0:
        raise ValueError("worker_counts: expected at least one worker count")
    runs = {}
    for p in worker_counts:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
            raise ValueError(f"worker_counts: expected integers >= 1, got {p!r}")
        if global_batch % p:
            raise ValueError(
                f"worker_counts: every count must divide global_batch={global_batch}, got {p}"
            )
        cluster = Cluster(int(p), **cluster_kw)
        runs[int(p)] = simulate(
            objective, x0, strategy="sync", steps=steps, lr=lr, batch_size=global_batch // p,
            seed=seed, cluster=cluster, algorithm=algorithm, shards=shards,
            flops_per_sample=flops_per_sample,
        )  # fmt: skip
    return runs


def time_breakdown(history: SimulationHistory) -> dict[str, float]:
    r"""The mean step of a run, split into compute, wait, send and receive (``PHASES``).

    For each worker the intervals of :meth:`Timeline.intervals` (compute, wait, send, wait,
    receive) follow one another without gaps from time 0 to the moment it received its last
    parameters; a worker that finishes before the last one waits for the rest of the run. So,
    averaged over the :math:`p` workers and divided by the :math:`T` steps,

    .. math::

        t_{\text{compute}} + t_{\text{wait}} + t_{\text{send}} + t_{\text{receive}}
        = \frac{\text{wall clock}}{T}.

    Parameters
    ----------
    history : SimulationHistory
        A synchronous run (``"sync"`` or ``"backup"``) with its timeline recorded.

    Returns
    -------
    dict phase -> float
        Seconds per step, averaged over workers.
    """
    if not isinstance(history, SimulationHistory):
        raise TypeError(f"history must be a SimulationHistory, got {type(history).__name__}")
    if history.timeline is None:
        raise ValueError("history: expected a run with timeline=True (its timeline is None)")
    if history.strategy not in ("sync", "backup"):
        raise ValueError(
            f"history: expected a synchronous run ('sync' or 'backup'), got {history.strategy!r}"
        )
    steps = history.nit
    if steps == 0:
        return dict.fromkeys(PHASES, 0.0)
    totals = history.timeline.totals()
    p = history.n_workers
    end = history.wall_clock[-1]
    last = history.timeline.recv_end[-1]
    out = {ph: float(totals[ph].sum()) / (p * steps) for ph in PHASES}
    # Workers served before the last one wait for the end of the run.
    out["wait"] += float((end - last).sum()) / (p * steps)
    return out


def predicted_step_time(
    n_workers,
    *,
    global_batch: int,
    flops_per_sample: float,
    rate: float,
    n_bytes: float,
    latency: float,
    bandwidth: float,
    algorithm: str = "ring",
    shards: int = 1,
):
    r"""Step time of synchronous data parallelism from the cost model alone.

    Each of :math:`p` workers computes :math:`b/p` of the global batch :math:`b` at
    :math:`w` flops per sample and rate :math:`F`, then all of them all-reduce the
    :math:`N`-byte gradient:

    .. math::

        T(p) = \frac{b\, w}{p\, F} + T_{\text{allreduce}}(N, p; \alpha, B).

    The serial time is :math:`T_1 = b w / F` (no communication), so the speed-up is
    :math:`T_1 / T(p)`; it bends where the falling compute term meets the communication term.

    Parameters
    ----------
    n_workers : int or array_like of int
    global_batch : int
    flops_per_sample : float
    rate : float
        :math:`F` in flop/s.
    n_bytes, latency, bandwidth, algorithm, shards
        As in :func:`coursekit.distributed.cost.allreduce_time`.

    Returns
    -------
    float or ndarray
    """
    p = np.asarray(n_workers)
    compute = cost.compute_time(global_batch * flops_per_sample, rate) / p
    comm = cost.allreduce_time(n_bytes, p, latency, bandwidth, algorithm, shards)
    out = compute + comm
    return float(out) if np.ndim(out) == 0 else out


def offload_curves(
    link_rate: float,
    *,
    work: float,
    local_rate: float,
    remote_rate: float,
    data_bytes: float = 0.0,
    result_bytes: float = 0.0,
    latency: float = 0.0,
    n: int = 201,
) -> dict:
    r"""Times of the two paths of partial offloading over a grid of :math:`\lambda`.

    Parameters
    ----------
    link_rate : float
        :math:`r` in bytes/s.
    work, local_rate, remote_rate, data_bytes, result_bytes, latency
        As in :func:`coursekit.distributed.offload.step_time`.
    n : int
        Grid points in :math:`[0, 1]` (at least 2).

    Returns
    -------
    dict
        ``lam`` (n,), ``local`` :math:`T_l(\lambda) = \lambda a` (n,), ``remote``
        :math:`T_s(\lambda)` (n,; 0 at :math:`\lambda = 1`), ``step`` their maximum (n,),
        ``lam_star`` and ``t_star`` (the closed-form optimum and its time), ``local_time``
        :math:`a`, ``fixed_cost`` :math:`c = 2\alpha + G/r` (what the remote path costs however
        little it gets) and ``pays`` (whether offloading beats computing alone, :math:`c < a`).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (grid points), got {n!r}")
    kw = dict(work=work, local_rate=local_rate, remote_rate=remote_rate, link_rate=link_rate,
              data_bytes=data_bytes, result_bytes=result_bytes, latency=latency)
    lam = np.linspace(0.0, 1.0, n)
    a = work / local_rate
    # The remote path on its own (offload.step_time returns only the maximum of the two):
    # b = D/r + W/f_s per unit of offloaded batch, c = 2 alpha + G/r fixed.
    b = data_bytes / link_rate + work / remote_rate
    c = 2 * latency + result_bytes / link_rate
    remote = np.where(lam < 1, c + (1 - lam) * b, 0.0)
    step = offload.step_time(lam, **kw)
    lam_star = offload.optimal_fraction(**kw)
    return {
        "lam": lam,
        "local": lam * a,
        "remote": remote,
        "step": step,
        "lam_star": lam_star,
        "t_star": offload.step_time(lam_star, **kw),
        "local_time": a,
        "fixed_cost": c,
        "pays": offload.offload_pays(**kw),
    }


# =========================================================================== drawing
def gantt(intervals: Mapping[str, np.ndarray], *, ax=None, workers=None, time_unit: float = 1e-3,
          unit_label: str = "ms", title: str | None = None, legend: bool = True):
    """Draw a per-worker timeline (one row a worker, one bar an interval, coloured by phase).

    Parameters
    ----------
    intervals : mapping
        What :meth:`coursekit.distributed.simulate.Timeline.intervals` returns: arrays
        ``worker``, ``phase``, ``start``, ``end`` of equal length (seconds).
    ax : matplotlib Axes, optional
    workers : sequence of int, optional
        Rows to draw, top to bottom (default: every worker present).
    time_unit, unit_label
        The x axis shows ``seconds / time_unit`` labelled with ``unit_label``.
    title : str, optional
    legend : bool

    Returns
    -------
    ax : matplotlib Axes
    """
    for key in ("worker", "phase", "start", "end"):
        if key not in intervals:
            raise ValueError(f"intervals: expected the key {key!r} (Timeline.intervals output)")
    if ax is None:
        _, ax = new_figure(8, 3)
    w = np.asarray(intervals["worker"])
    rows = list(np.unique(w)) if workers is None else list(workers)
    row_of = {int(k): i for i, k in enumerate(rows)}
    phase = np.asarray(intervals["phase"])
    start = np.asarray(intervals["start"], dtype=float) / time_unit
    width = np.asarray(intervals["end"], dtype=float) / time_unit - start
    for ph in PHASES:
        style = PHASE_STYLE[ph]
        for k in rows:
            sel = (w == k) & (phase == ph)
            if sel.any():
                ax.broken_barh(list(zip(start[sel], width[sel], strict=True)),
                               (row_of[int(k)] - 0.4, 0.8), edgecolor="0.25", linewidth=0.3,
                               **style)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([str(int(k)) for k in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(f"simulated time ({unit_label})")
    ax.set_ylabel("worker")
    if title:
        ax.set_title(title)
    if legend:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(label=ph, edgecolor="0.25", **PHASE_STYLE[ph]) for ph in PHASES],
                  loc="upper right", fontsize="small", framealpha=0.9)
    return ax


def _shown_workers(p: int, limit: int = 16) -> list[int]:
    if p <= limit:
        return list(range(p))
    return sorted({int(round(i)) for i in np.linspace(0, p - 1, limit)})


def workers_explorer(
    objective,
    x0,
    worker_counts: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    *,
    global_batch: int = 512,
    steps: int = 10,
    gantt_steps: int = 3,
    lr: float = 0.1,
    algorithm: str = "ring",
    flops_per_sample: float | None = None,
    **cluster_kw,
) -> FrameSlider:
    """Slide (or play) the number of workers: the Gantt timeline and where a step's time goes.

    Left: the first ``gantt_steps`` steps of every worker (at most 16 rows shown). Right: the
    mean step split into compute / wait / send / receive for every ``p``, the current one
    highlighted, with the cost model's prediction as a line.
    """
    runs = scaling_runs(objective, x0, worker_counts, global_batch=global_batch, steps=steps,
                        lr=lr, algorithm=algorithm, flops_per_sample=flops_per_sample,
                        **cluster_kw)
    parts = {p: time_breakdown(h) for p, h in runs.items()}
    counts = list(runs)
    pos = np.arange(len(counts))
    cl = Cluster(1, **cluster_kw)
    w = flops_per_sample if flops_per_sample is not None else cost.linear_model_flops(
        1, np.asarray(x0).size)
    predicted = predicted_step_time(
        np.array(counts), global_batch=global_batch, flops_per_sample=w,
        rate=float(np.min(cl.rates)), n_bytes=np.asarray(x0, dtype=float).nbytes,
        latency=cl.latency, bandwidth=cl.bandwidth, algorithm=algorithm)  # fmt: skip
    serial = runs[counts[0]].serial_time / runs[counts[0]].nit

    def draw(p):
        h = runs[p]
        fig, (ax, ax_bar) = new_figure(9.0, 3.8, ncols=2)
        shown = _shown_workers(p)
        gantt(h.timeline.intervals(steps=slice(0, gantt_steps), workers=shown), ax=ax,
              workers=shown, legend=False,
              title=f"p = {p}: first {gantt_steps} steps"
              + ("" if len(shown) == p else f" ({len(shown)} of {p} workers)"))
        # Each p on its own time scale: the proportions of the phases are the point here,
        # the absolute step times are in the right panel.
        ax.set_xlim(0, 1e3 * float(h.wall_clock[min(gantt_steps, h.nit)]))
        bottom = np.zeros(len(counts))
        for ph in PHASES:
            vals = 1e3 * np.array([parts[q][ph] for q in counts])
            colors = [PHASE_STYLE[ph]["facecolor"]] * len(counts)
            bars = ax_bar.bar(pos, vals, bottom=bottom, color=colors, edgecolor="0.25",
                              linewidth=0.4, hatch=PHASE_STYLE[ph]["hatch"], label=ph)
            for q, bar in zip(counts, bars, strict=True):
                bar.set_alpha(1.0 if q == p else 0.35)
            bottom += vals
        ax_bar.plot(pos, 1e3 * predicted, color="black", marker="o", markersize=3, linewidth=1,
                    label=f"cost model ({algorithm})")
        ax_bar.set_xticks(pos)
        ax_bar.set_xticklabels([str(q) for q in counts])
        ax_bar.set_xlabel("workers p")
        ax_bar.set_ylabel("time per step (ms)")
        ax_bar.set_yscale("log")
        ax_bar.set_ylim(1e3 * 0.3 * min(predicted.min(), bottom.min()), 1e3 * 2 * serial)
        ax_bar.set_title(f"mean step, speed-up at p = {p}: {h.speedup:.1f}")
        ax_bar.legend(fontsize="x-small", loc="upper right", ncols=2, framealpha=0.9)
        return fig

    def caption(p):
        b = parts[p]
        step = sum(b.values())
        return (f"{p} worker{'s' if p > 1 else ''}, {algorithm} all-reduce: a step takes "
                f"{1e3 * step:.2f} ms on average — compute {1e3 * b['compute']:.2f} ms, "
                f"send {1e3 * b['send']:.2f} ms, receive {1e3 * b['receive']:.2f} ms, "
                f"wait {1e3 * b['wait']:.2f} ms; speed-up {runs[p].speedup:.1f} over one "
                "worker alone.")

    return frame_slider(counts, draw, description="workers p", labels=[str(p) for p in counts],
                        caption=caption, play=True, interval_ms=900)


def offload_explorer(
    link_rates: Sequence[float],
    *,
    work: float,
    local_rate: float,
    remote_rate: float,
    data_bytes: float = 0.0,
    result_bytes: float = 0.0,
    latency: float = 0.0,
    value: float | None = None,
) -> FrameSlider:
    r"""Slide the link rate: the two paths' times against :math:`\lambda` and the optimum.

    Each frame plots :math:`T_l(\lambda)`, :math:`T_s(\lambda)` and the step time
    :math:`\max(T_l, T_s)` with the closed-form :math:`\lambda^*` marked, and the time without
    offloading as a reference line. ``value`` is the link rate shown first (default the
    first of ``link_rates``).
    """
    kw = dict(work=work, local_rate=local_rate, remote_rate=remote_rate, data_bytes=data_bytes,
              result_bytes=result_bytes, latency=latency)
    curves = {r: offload_curves(r, **kw) for r in link_rates}
    # Slow links send the remote path far up at small lambda; what matters is near T = a.
    top = 1e3 * 1.6 * work / local_rate

    def draw(r):
        c = curves[r]
        fig, ax = new_figure(9.0, 3.8)
        ms = 1e3
        ax.plot(c["lam"], ms * c["local"], label=r"local path $T_l(\lambda) = \lambda a$",
                markevery=25, markersize=4, **series_style(0))
        lam_r = c["lam"][:-1]  # T_s drops to 0 at lambda = 1 (nothing sent): leave that point out
        ax.plot(lam_r, ms * c["remote"][:-1], label=r"remote path $T_s(\lambda)$",
                markevery=25, markersize=4, **series_style(1))
        ax.plot(c["lam"], ms * c["step"], color="black", linewidth=2.5, alpha=0.35,
                label=r"step time $\max(T_l, T_s)$")
        ax.axhline(ms * c["local_time"], color="0.4", linestyle=":", linewidth=1,
                   label="no offloading ($\\lambda = 1$)")
        ax.plot([c["lam_star"]], [ms * c["t_star"]], marker="*", color="black", markersize=14,
                linestyle="none",
                label=f"optimum $\\lambda^*$ = {c['lam_star']:.2f}, {ms * c['t_star']:.1f} ms")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05 * top)
        ax.set_xlabel(r"fraction kept locally $\lambda$")
        ax.set_ylabel("time (ms)")
        ax.set_title(f"link rate {r / 1e6:g} MB/s: "
                     + (f"speed-up {c['local_time'] / c['t_star']:.2f}" if c["pays"]
                        else "offloading does not pay"))
        # Outside the axes: the remote path crosses every corner for some link rate.
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
        ax.grid(True, alpha=0.3)
        return fig

    def caption(r):
        c = curves[r]
        if not c["pays"]:
            return (f"Link rate {r / 1e6:g} MB/s: offloading does not pay. The remote path costs "
                    f"at least {1e3 * c['fixed_cost']:.1f} ms however little it gets, not less "
                    f"than the {1e3 * c['local_time']:.1f} ms of computing the whole batch "
                    "locally, so keep it all (λ* = 1).")
        return (f"Link rate {r / 1e6:g} MB/s: keep λ* = {c['lam_star']:.2f} of the batch; both "
                f"paths then take {1e3 * c['t_star']:.1f} ms instead of "
                f"{1e3 * c['local_time']:.1f} ms alone (speed-up "
                f"{c['local_time'] / c['t_star']:.2f}).")

    return frame_slider(list(link_rates), draw, description="link rate (MB/s)",
                        labels=[f"{r / 1e6:g}" for r in link_rates], caption=caption,
                        value=value)
