"""`benchmarks/cnn_step.py`: its JSON lines keep the names the CNN-speed issue gave them.

Not a speed test (speed targets are read from the benchmark's output, never asserted in
a test): one short run, checked for its shape, and its FLOP count against a hand count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hand_count_mflop(hw: int, batch: int = 64) -> float:
    """FLOPs of one step of conv16-16-pool-conv32-32-pool-linear10, counted by hand.

    A 3 x 3 convolution, padding 1, of C to F channels on H x W costs 2 N F C 9 H W forward;
    its backward costs twice that (weights and input) except the first layer's, whose
    input gradient is not computed. The linear layer: 2 N d 10 forward, twice that back.
    """
    convs = [(1, 16, hw), (16, 16, hw), (16, 32, hw // 2), (32, 32, hw // 2)]
    forward = [2 * batch * f * c * 9 * s * s for c, f, s in convs]
    linear = 2 * batch * 32 * (hw // 4) ** 2 * 10
    total = 3 * sum(forward) - forward[0] + 3 * linear
    return total / 1e6


def test_one_line_per_case_with_the_documented_keys():
    done = subprocess.run(
        [
            sys.executable,
            ROOT / "benchmarks" / "cnn_step.py",
            "--against-torch",
            "--no-loop",
            "--repeats",
            "1",
            "--threads",
            "1",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    cases = [line for line in lines if "input" in line]
    assert [(c["input"], c["threads"]) for c in cases] == [
        ("1x28x28", 1),
        ("1x8x8", 1),
        ("1x28x28", 2),
        ("1x8x8", 2),
    ]
    torch_missing = [line for line in lines if "input" not in line]
    if torch_missing:  # the course's environment: PyTorch is not a dependency
        assert torch_missing == [lines[0]]
        assert "not importable" in lines[0]["torch"]
    for case in cases:
        hw = int(case["input"].rsplit("x", 1)[1])
        assert abs(case["step_mflop"] - hand_count_mflop(hw)) < 0.01
        assert case["repeats"] >= 5
        assert 0 < case["step_ms_min"] <= case["step_ms"]
        # (The ratios are rounded from unrounded times: compared within their rounding.)
        assert 0 < case["gemm_efficiency"]
        assert abs(case["gemm_efficiency"] - case["gflops"] / case["gemm_gflops"]) < 0.002
        if torch_missing:
            assert "ratio_to_torch" not in case
        else:
            ratio = case["step_ms"] / case["torch_step_ms"]
            assert abs(case["ratio_to_torch"] - ratio) < 0.002
        if case["threads"] == 2:
            interleaved = case["step_1_thread_ms"] / case["step_ms"]
            assert abs(case["speedup_vs_1_thread_interleaved"] - interleaved) < 0.006
    # The digits' step is too small to split; the 28 x 28 one splits on two threads.
    assert [c["shards"] for c in cases] == [1, 1, 2, 1]
