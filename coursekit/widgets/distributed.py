r"""Chapters 8 and 9 widgets: workers on a timeline, and how much of a batch to offload.

The widgets only lay out frames: the runs and their breakdown come from
:mod:`coursekit.distributed.scaling`, the offloading curves from
:func:`coursekit.distributed.offload.offload_curves`, the timeline from
:func:`coursekit.plotting.gantt`. :func:`workers_explorer` (chapter 8) and
:func:`offload_explorer` (chapter 9) are built on :func:`coursekit.widgets.frames.frame_slider`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coursekit.distributed.accuracy import fastest_to_target, time_to_target
from coursekit.distributed.offload import offload_curves
from coursekit.distributed.scaling import predicted_for_runs, scaling_runs, time_breakdown
from coursekit.distributed.simulate import PHASES
from coursekit.plotting import PHASE_STYLE, gantt, new_figure, series_style
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = ["workers_explorer", "offload_explorer", "time_to_target_lab"]


def _shown_workers(p: int, limit: int = 16) -> list[int]:
    if p <= limit:
        return list(range(p))
    return sorted({int(round(i)) for i in np.linspace(0, p - 1, limit)})


@dataclass(frozen=True)
class _Scaling:
    """What every frame of :func:`workers_explorer` shows: one run per worker count.

    ``parts[p]`` is run ``p``'s mean step by phase (:func:`~coursekit.distributed.scaling.
    time_breakdown`), ``predicted`` the cost model's step time per count, ``serial`` the time
    per step of one node alone.
    """

    runs: dict
    parts: dict
    predicted: np.ndarray
    serial: float
    algorithm: str
    gantt_steps: int

    @property
    def counts(self) -> list[int]:
        return list(self.runs)


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
    message_bytes: float | None = None,
    **cluster_kw,
) -> FrameSlider:
    """Slide (or play) the number of workers: the Gantt timeline and where a step's time goes.

    Left: the first ``gantt_steps`` steps of every worker (at most 16 rows shown). Right: the
    mean step split into compute / wait / send / receive for every ``p``, the current one
    highlighted, with the cost model's prediction as a line.
    """
    model = dict(
        global_batch=global_batch,
        algorithm=algorithm,
        flops_per_sample=flops_per_sample,
        message_bytes=message_bytes,
        **cluster_kw,
    )
    runs = scaling_runs(objective, x0, worker_counts, steps=steps, lr=lr, **model)
    first = runs[next(iter(runs))]
    shown = _Scaling(
        runs=runs,
        parts={p: time_breakdown(h) for p, h in runs.items()},
        predicted=predicted_for_runs(list(runs), x0, **model),
        serial=first.serial_time / first.nit,
        algorithm=algorithm,
        gantt_steps=gantt_steps,
    )
    return frame_slider(
        shown.counts,
        functools.partial(_draw_workers, shown),
        description="workers p",
        labels=[str(p) for p in shown.counts],
        caption=functools.partial(_workers_caption, shown),
        play=True,
        interval_ms=900,
    )


def _draw_workers(s: _Scaling, p: int):
    """The frame of ``p`` workers: their timeline (left), every count's mean step (right)."""
    fig, (ax, ax_bar) = new_figure(9.0, 3.8, ncols=2)
    _draw_timeline(ax, s, p)
    _draw_step_bars(ax_bar, s, p)
    return fig


def _draw_timeline(ax, s: _Scaling, p: int) -> None:
    h = s.runs[p]
    gantt_steps = s.gantt_steps
    shown = _shown_workers(p)
    gantt(
        h.timeline.intervals(steps=slice(0, gantt_steps), workers=shown),
        ax=ax,
        workers=shown,
        legend=False,
        title=f"p = {p}: first {gantt_steps} steps"
        + ("" if len(shown) == p else f" ({len(shown)} of {p} workers)"),
    )
    # Each p on its own time scale: the proportions of the phases are the point here,
    # the absolute step times are in the right panel.
    ax.set_xlim(0, 1e3 * float(h.wall_clock[min(gantt_steps, h.nit)]))


def _draw_step_bars(ax_bar, s: _Scaling, p: int) -> None:
    """Stacked phases of the mean step for every count (``p``'s opaque), the model as a line."""
    counts = s.counts
    pos = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    for ph in PHASES:
        vals = 1e3 * np.array([s.parts[q][ph] for q in counts])
        colors = [PHASE_STYLE[ph]["facecolor"]] * len(counts)
        bars = ax_bar.bar(
            pos,
            vals,
            bottom=bottom,
            color=colors,
            edgecolor="0.25",
            linewidth=0.4,
            hatch=PHASE_STYLE[ph]["hatch"],
            label=ph,
        )
        for q, bar in zip(counts, bars, strict=True):
            bar.set_alpha(1.0 if q == p else 0.35)
        bottom += vals
    ax_bar.plot(
        pos,
        1e3 * s.predicted,
        color="black",
        marker="o",
        markersize=3,
        linewidth=1,
        label=f"cost model ({s.algorithm})",
    )
    ax_bar.set_xticks(pos)
    ax_bar.set_xticklabels([str(q) for q in counts])
    ax_bar.set_xlabel("workers p")
    ax_bar.set_ylabel("time per step (ms)")
    ax_bar.set_yscale("log")
    ax_bar.set_ylim(1e3 * 0.3 * min(s.predicted.min(), bottom.min()), 1e3 * 2 * s.serial)
    ax_bar.set_title(f"mean step, speed-up at p = {p}: {s.runs[p].speedup:.1f}")
    ax_bar.legend(fontsize="x-small", loc="upper right", ncols=2, framealpha=0.9)


def _workers_caption(s: _Scaling, p: int) -> str:
    b = s.parts[p]
    step = sum(b.values())
    return (
        f"{p} worker{'s' if p > 1 else ''}, {s.algorithm} all-reduce: a step takes "
        f"{1e3 * step:.2f} ms on average — compute {1e3 * b['compute']:.2f} ms, "
        f"send {1e3 * b['send']:.2f} ms, receive {1e3 * b['receive']:.2f} ms, "
        f"wait {1e3 * b['wait']:.2f} ms; speed-up {s.runs[p].speedup:.1f} over one "
        "worker alone."
    )


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
    kw = dict(
        work=work,
        local_rate=local_rate,
        remote_rate=remote_rate,
        data_bytes=data_bytes,
        result_bytes=result_bytes,
        latency=latency,
    )
    curves = {r: offload_curves(r, **kw) for r in link_rates}
    # Slow links send the remote path far up at small lambda; what matters is near T = a.
    top = 1e3 * 1.6 * work / local_rate
    return frame_slider(
        list(link_rates),
        lambda r: _draw_offload(r, curves[r], top),
        description="link rate (MB/s)",
        labels=[f"{r / 1e6:g}" for r in link_rates],
        caption=lambda r: _offload_caption(r, curves[r]),
        value=value,
    )


def _draw_offload(r: float, c: dict, top: float):
    """The frame of link rate ``r``: the curves ``c`` of :func:`offload_curves`, in ms."""
    fig, ax = new_figure(9.0, 3.8)
    _plot_paths(ax, c)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05 * top)
    ax.set_xlabel(r"fraction kept locally $\lambda$")
    ax.set_ylabel("time (ms)")
    ax.set_title(
        f"link rate {r / 1e6:g} MB/s: "
        + (
            f"speed-up {c['local_time'] / c['t_star']:.2f}"
            if c["pays"]
            else "offloading does not pay"
        )
    )
    # Outside the axes: the remote path crosses every corner for some link rate.
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(True, alpha=0.3)
    return fig


def _plot_paths(ax, c: dict) -> None:
    """The two paths, the step time, the time alone and the optimum (ms against lambda)."""
    ms = 1e3
    ax.plot(
        c["lam"],
        ms * c["local"],
        label=r"local path $T_l(\lambda) = \lambda a$",
        markevery=25,
        markersize=4,
        **series_style(0),
    )
    lam_r = c["lam"][:-1]  # T_s drops to 0 at lambda = 1 (nothing sent): leave that point out
    ax.plot(
        lam_r,
        ms * c["remote"][:-1],
        label=r"remote path $T_s(\lambda)$",
        markevery=25,
        markersize=4,
        **series_style(1),
    )
    ax.plot(
        c["lam"],
        ms * c["step"],
        color="black",
        linewidth=2.5,
        alpha=0.35,
        label=r"step time $\max(T_l, T_s)$",
    )
    ax.axhline(
        ms * c["local_time"],
        color="0.4",
        linestyle=":",
        linewidth=1,
        label="no offloading ($\\lambda = 1$)",
    )
    ax.plot(
        [c["lam_star"]],
        [ms * c["t_star"]],
        marker="*",
        color="black",
        markersize=14,
        linestyle="none",
        label=f"optimum $\\lambda^*$ = {c['lam_star']:.2f}, {ms * c['t_star']:.1f} ms",
    )


def _offload_caption(r: float, c: dict) -> str:
    if not c["pays"]:
        return (
            f"Link rate {r / 1e6:g} MB/s: offloading does not pay. The remote path costs "
            f"at least {1e3 * c['fixed_cost']:.1f} ms however little it gets, not less "
            f"than the {1e3 * c['local_time']:.1f} ms of computing the whole batch "
            "locally, so keep it all (λ* = 1)."
        )
    return (
        f"Link rate {r / 1e6:g} MB/s: keep λ* = {c['lam_star']:.2f} of the batch; both "
        f"paths then take {1e3 * c['t_star']:.1f} ms instead of "
        f"{1e3 * c['local_time']:.1f} ms alone (speed-up "
        f"{c['local_time'] / c['t_star']:.2f})."
    )


#: The all-reduce algorithms as the lab's legend and captions name them.
_ALGORITHM_LABELS = {
    "naive": "central node",
    "parameter_server": "parameter server",
    "tree": "tree",
    "ring": "ring",
}


def time_to_target_lab(
    steps_by_batch,
    *,
    per_worker_batch: int,
    worker_counts: Sequence[int],
    bandwidths: Sequence[float],
    latency: float,
    flops_per_sample: float,
    rate: float,
    n_bytes: float,
    algorithms: Sequence[str] = ("naive", "tree", "ring"),
    value: float | None = None,
) -> FrameSlider:
    r"""Slide the link bandwidth: time to target against workers, its two parts shown apart.

    Left: the statistical part, steps to the target :math:`S(pb)` (measured; the same in
    every frame). Middle: the hardware part, :math:`T_\text{step}(p)` of each all-reduce
    algorithm at this bandwidth. Right: their product, the time to the target, with each
    algorithm's best :math:`p` marked. Everything is computed by
    :func:`coursekit.distributed.accuracy.time_to_target`.
    """
    kw = dict(flops_per_sample=flops_per_sample, rate=rate, n_bytes=n_bytes, latency=latency)
    results = {
        B: {
            a: time_to_target(
                steps_by_batch, per_worker_batch, worker_counts, bandwidth=B, algorithm=a, **kw
            )
            for a in algorithms
        }
        for B in bandwidths
    }
    return frame_slider(
        list(bandwidths),
        lambda B: _draw_lab(B, results[B], per_worker_batch),
        description="bandwidth (Mbit/s)",
        labels=[f"{8 * B / 1e6:g}" for B in bandwidths],
        caption=lambda B: _lab_caption(B, results[B]),
        value=value,
    )


def _draw_lab(B: float, by_algorithm: dict, per_worker_batch: int):
    """Bandwidth ``B``'s frame: steps, time per step and their product against ``p``."""
    fig, (ax_s, ax_h, ax_t) = new_figure(9.0, 3.4, ncols=3)
    any_r = next(iter(by_algorithm.values()))
    ax_s.plot(any_r["p"], any_r["steps"], color="black", marker="o", markersize=4)
    ax_s.set_title("statistical: steps to target", fontsize=9)
    ax_s.set_ylabel("steps $S(pb)$")
    for i, (a, r) in enumerate(by_algorithm.items()):
        style = series_style(i)
        label = _ALGORITHM_LABELS[a]
        ax_h.plot(r["p"], 1e3 * r["step_time"], label=label, markersize=4, **style)
        ax_t.plot(r["p"], r["time"], label=label, markersize=4, **style)
        j = int(np.nanargmin(r["time"]))
        ax_t.plot(
            r["p"][j],
            r["time"][j],
            marker="*",
            color=style["color"],
            markersize=13,
            linestyle="none",
        )
    ax_h.set_title("hardware: time per step", fontsize=9)
    ax_h.set_ylabel("ms per step")
    ax_t.set_title("time to target", fontsize=9)
    ax_t.set_ylabel("seconds")
    for ax in (ax_s, ax_h, ax_t):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("workers $p$")
        ax.grid(True, which="major", alpha=0.3)
    ax_h.legend(fontsize="x-small")
    fig.suptitle(f"link {8 * B / 1e6:g} Mbit/s, {per_worker_batch} samples per worker", fontsize=10)
    return fig


def _lab_caption(B: float, by_algorithm: dict) -> str:
    a, j = fastest_to_target(by_algorithm)
    r = by_algorithm[a]
    return (
        f"At {8 * B / 1e6:g} Mbit/s the target is reached soonest by the "
        f"{_ALGORITHM_LABELS[a]} with p = {r['p'][j]} workers: {r['steps'][j]:.0f} steps of "
        f"{1e3 * r['step_time'][j]:.1f} ms, {r['time'][j]:.2f} s."
    )
