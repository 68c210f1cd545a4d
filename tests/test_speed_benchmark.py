"""The speed benchmark's reading of whole runs (benchmarks/speed_video.py, speed_quality.py), on files and
curves made here with known answers: a later video frame's seconds from the frame files' modification
times, each later frame's final losses from a loss log, and the time-to-quality table's per-round ratios
and their medians, the floor's pricing of a run's iterations, the step's ratio round by round. Cheap: no painting."""

import os
import sys

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import pytest  # noqa: E402
import speed_benchmark  # noqa: E402
import speed_quality  # noqa: E402
import speed_video  # noqa: E402


def test_frame_seconds_are_the_gaps_between_the_frame_files_and_the_first_counts_from_the_command(tmp_path):
    started_at, written_at = 1000.0, [1012.5, 1015.0, 1018.25, 1019.0]
    paths = []
    for number, seconds in enumerate(written_at, start=1):
        path = tmp_path / f"{number:05d}.png"
        path.write_bytes(b"")
        os.utime(path, (seconds, seconds))
        paths.append(str(path))
    first_s, later_s = speed_video.frame_seconds(paths, started_at)
    assert first_s == 12.5
    assert later_s == [2.5, 3.25, 0.75]


def test_each_later_frames_losses_are_its_last_logged_step():
    def row(*values):  # frame, pass, step, content, style, total: as csv.DictReader gives them
        return dict(zip(("frame", "pass", "step", "content", "style", "total"), map(str, values)))

    rows = [
        row(1, 1, 50, 9, 9, 9),  # the first frame: a still image of two passes
        row(1, 2, 100, 8, 8, 8),
        row(2, 1, 29, 7, 7, 7),
        row(2, 1, 30, 6, 5, 4),
        row(3, 1, 30, 3, 2, 1),
    ]
    assert speed_video.later_frame_losses(rows, 3) == [(6.0, 5.0, 4.0), (3.0, 2.0, 1.0)]


def test_the_quality_table_gives_each_rounds_ratio_to_its_own_run_of_today_and_their_median():
    def run(elapsed_s, curve):
        return {"elapsed_s": elapsed_s, "peak_bytes": 2**30, "curve": curve}

    rounds = [
        [("today", run(20.0, [(10.0, 5.0), (20.0, 3.0)])), ("ours", run(12.0, [(5.0, 4.0), (8.0, 3.0), (12.0, 2.5)]))],
        [("today", run(30.0, [(15.0, 5.0), (30.0, 3.0)])), ("ours", run(15.0, [(9.0, 2.9), (15.0, 2.0)]))],
    ]
    lines = speed_quality.quality_section(128, rounds, "Test.")
    (ours,) = [line for line in lines if line.startswith("| ours |")]
    # Reached at 8 s of 20 and at 9 s of 30: 0.40x and 0.30x, their median 0.35x at 8.5 s.
    assert ours == "| ours | 13.5 | 1.00 | 2.25 | 8.5 | **0.35x** | 0.40x, 0.30x |"


def test_the_floor_prices_each_runs_iterations_to_todays_loss_at_their_sizes_convolutions_and_evaluation():
    def run(elapsed_s, curve):
        return {"elapsed_s": elapsed_s, "peak_bytes": 2**30, "curve": curve, "earlier_iterations": {64: 2}}

    rounds = [
        [("today", run(20.0, [(10.0, 5.0), (15.0, 4.0), (20.0, 3.0)])), ("ours", run(12.0, [(5.0, 4.0), (8.0, 3.0)]))],
        [("today", run(40.0, [(30.0, 4.0), (40.0, 3.0)])), ("ours", run(12.0, [(5.0, 4.0), (8.0, 3.5)]))],
    ]
    prices = {"convolutions_s": {"64": 0.5, "128": 1.0}, "evaluation_s": {"64": 1.0, "128": 2.0}}
    floors = [{"imported_s": 1.0, **prices}] * 2
    lines = speed_quality.floor_section(128, rounds, floors)
    (today,) = [line for line in lines if line.startswith("| today |")]
    (ours,) = [line for line in lines if line.startswith("| ours |")]
    # today, convolutions: 1 + 2 x 0.5 + 3 x 1 = 5 s of 20 (0.25x), then 1 + 1 + 2 x 1 = 4 s of 40 (0.10x);
    # evaluations: 1 + 2 x 1 + 3 x 2 = 9 s of 20 (0.45x), then 1 + 2 + 2 x 2 = 7 s of 40 (0.175x).
    assert today == "| today | 2 at 64 px | 2.5 | 30.0 | 4.5 | **0.17x** | 8.0 | **0.31x** | 0.45x, 0.17x |"
    # ours reaches today's loss in round 1 only, at its second iteration: 4 s and 7 s of that round's 20.
    assert ours == "| ours | 2 at 64 px | 2 | 8.0 | 4.0 | **0.20x** | 7.0 | **0.35x** | 0.35x |"


def test_the_step_ratio_is_taken_round_by_round():
    # The machine halves its speed in the second round, and a round's first L-BFGS iteration may carry a
    # set-up: each round's ratio of medians still compares like with like.
    adam_s, lbfgs_s = [0.25, 0.25, 0.25, 0.5, 0.5, 0.5], [3.0, 0.26, 0.26, 3.0, 0.52, 0.52]
    assert speed_benchmark.round_ratios(adam_s, lbfgs_s, rounds=2) == pytest.approx([1.04, 1.04])
