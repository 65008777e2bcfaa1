"""The time-to-target lab: one frame per bandwidth, the caption names the best (algorithm, p)."""

import numpy as np
import pytest

from coursekit.distributed import accuracy
from coursekit.widgets.distributed import time_to_target_lab

S = {8: 400.0, 16: 210.0, 32: 120.0, 64: 80.0, 128: 70.0, 256: 66.0}
KW = dict(
    per_worker_batch=8,
    worker_counts=[1, 2, 4, 8, 16, 32],
    latency=1e-4,
    flops_per_sample=2e6,
    rate=1e10,
    n_bytes=7e4,
)


def test_lab_frames_and_captions_follow_the_computation():
    lab = time_to_target_lab(S, bandwidths=[1.25e6, 1.25e9], **KW)
    assert len(lab.frames) == 2 and all(f.startswith(b"\x89PNG") for f in lab.frames)
    for B, child in zip([1.25e6, 1.25e9], lab.stack.children, strict=True):
        runs = {
            a: accuracy.time_to_target(S, bandwidth=B, algorithm=a, **KW)
            for a in ("naive", "tree", "ring")
        }
        a, r = min(runs.items(), key=lambda ar: np.nanmin(ar[1]["time"]))
        p = int(r["p"][np.nanargmin(r["time"])])
        caption = child.children[-1].value
        assert f"p = {p} workers" in caption and f"{np.nanmin(r['time']):.2f} s" in caption
    # A slow link makes the best p smaller than a fast one does.
    slow = accuracy.time_to_target(S, bandwidth=1.25e6, algorithm="ring", **KW)
    fast = accuracy.time_to_target(S, bandwidth=1.25e9, algorithm="ring", **KW)
    assert slow["p"][np.argmin(slow["time"])] < fast["p"][np.argmin(fast["time"])]


def test_lab_refuses_workers_outside_the_measured_batches():
    with pytest.raises(ValueError, match="within the measured batches"):
        time_to_target_lab(S, bandwidths=[1e6], **{**KW, "worker_counts": [1, 64]})
