r"""Chapters 8 and 9 widgets: workers on a timeline, and how much of a batch to offload.

The widgets only lay out frames: the runs and their breakdown come from
:mod:`coursekit.distributed.scaling`, the offloading curves from
:func:`coursekit.distributed.offload.offload_curves`, the timeline from
:func:`coursekit.plotting.gantt`. :func:`workers_explorer` (chapter 8) and
:func:`offload_explorer` (chapter 9) are built on :func:`coursekit.widgets.frames.frame_slider`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coursekit.distributed import Cluster, cost
from coursekit.distributed.offload import offload_curves
from coursekit.distributed.scaling import predicted_step_time, scaling_runs, time_breakdown
from coursekit.distributed.simulate import PHASES
from coursekit.plotting import PHASE_STYLE, gantt, new_figure, series_style
from coursekit.widgets.frames import FrameSlider, frame_slider

__all__ = ["workers_explorer", "offload_explorer", "time_to_target_lab"]


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
    message_bytes: float | None = None,
    **cluster_kw,
) -> FrameSlider:
    """Slide (or play) the number of workers: the Gantt timeline and where a step's time goes.

    Left: the first ``gantt_steps`` steps of every worker (at most 16 rows shown). Right: the
    mean step split into compute / wait / send / receive for every ``p``, the current one
    highlighted, with the cost model's prediction as a line.
    """
    runs = scaling_runs(
        objective,
        x0,
        worker_counts,
        global_batch=global_batch,
        steps=steps,
        lr=lr,
        algorithm=algorithm,
        flops_per_sample=flops_per_sample,
        message_bytes=message_bytes,
        **cluster_kw,
    )
    parts = {p: time_breakdown(h) for p, h in runs.items()}
    counts = list(runs)
    pos = np.arange(len(counts))
    cl = Cluster(1, **cluster_kw)
    w = (
        flops_per_sample
        if flops_per_sample is not None
        else cost.linear_model_flops(1, np.asarray(x0).size)
    )
    predicted = predicted_step_time(
        np.array(counts), global_batch=global_batch, flops_per_sample=w,
        rate=float(np.min(cl.rates)),
        n_bytes=np.asarray(x0, dtype=float).nbytes if message_bytes is None else message_bytes,
        latency=cl.latency, bandwidth=cl.bandwidth, algorithm=algorithm)  # fmt: skip
    serial = runs[counts[0]].serial_time / runs[counts[0]].nit

    def draw(p):
        h = runs[p]
        fig, (ax, ax_bar) = new_figure(9.0, 3.8, ncols=2)
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
        bottom = np.zeros(len(counts))
        for ph in PHASES:
            vals = 1e3 * np.array([parts[q][ph] for q in counts])
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
            1e3 * predicted,
            color="black",
            marker="o",
            markersize=3,
            linewidth=1,
            label=f"cost model ({algorithm})",
        )
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
        return (
            f"{p} worker{'s' if p > 1 else ''}, {algorithm} all-reduce: a step takes "
            f"{1e3 * step:.2f} ms on average — compute {1e3 * b['compute']:.2f} ms, "
            f"send {1e3 * b['send']:.2f} ms, receive {1e3 * b['receive']:.2f} ms, "
            f"wait {1e3 * b['wait']:.2f} ms; speed-up {runs[p].speedup:.1f} over one "
            "worker alone."
        )

    return frame_slider(
        counts,
        draw,
        description="workers p",
        labels=[str(p) for p in counts],
        caption=caption,
        play=True,
        interval_ms=900,
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

    def draw(r):
        c = curves[r]
        fig, ax = new_figure(9.0, 3.8)
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

    def caption(r):
        c = curves[r]
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

    return frame_slider(
        list(link_rates),
        draw,
        description="link rate (MB/s)",
        labels=[f"{r / 1e6:g}" for r in link_rates],
        caption=caption,
        value=value,
    )


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
    from coursekit.distributed.accuracy import time_to_target

    labels = {
        "naive": "central node",
        "parameter_server": "parameter server",
        "tree": "tree",
        "ring": "ring",
    }
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

    def best(B):
        return min(
            ((a, int(np.nanargmin(r["time"]))) for a, r in results[B].items()),
            key=lambda ai: results[B][ai[0]]["time"][ai[1]],
        )

    def draw(B):
        fig, (ax_s, ax_h, ax_t) = new_figure(9.0, 3.4, ncols=3)
        any_r = next(iter(results[B].values()))
        ax_s.plot(any_r["p"], any_r["steps"], color="black", marker="o", markersize=4)
        ax_s.set_title("statistical: steps to target", fontsize=9)
        ax_s.set_ylabel("steps $S(pb)$")
        for i, (a, r) in enumerate(results[B].items()):
            style = series_style(i)
            ax_h.plot(r["p"], 1e3 * r["step_time"], label=labels[a], markersize=4, **style)
            ax_t.plot(r["p"], r["time"], label=labels[a], markersize=4, **style)
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
        fig.suptitle(
            f"link {8 * B / 1e6:g} Mbit/s, {per_worker_batch} samples per worker", fontsize=10
        )
        return fig

    def caption(B):
        a, j = best(B)
        r = results[B][a]
        return (
            f"At {8 * B / 1e6:g} Mbit/s the target is reached soonest by the "
            f"{labels[a]} with p = {r['p'][j]} workers: {r['steps'][j]:.0f} steps of "
            f"{1e3 * r['step_time'][j]:.1f} ms, {r['time'][j]:.2f} s."
        )

    return frame_slider(
        list(bandwidths),
        draw,
        description="bandwidth (Mbit/s)",
        labels=[f"{8 * B / 1e6:g}" for B in bandwidths],
        caption=caption,
        value=value,
    )
