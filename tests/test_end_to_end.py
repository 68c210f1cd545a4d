"""A whole run of `python style_transfer.py` with the real weights, at 64 px: the loss falls, the
snapshots and checkpoints are written, a second run resumes, and --fresh starts a new folder."""

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, printed_steps, run_main

CONTENT, STYLE = "images/cincinnati_bridge.jpg", "images/starry_night.jpg"
SIZE = 64


def flags(output_dir, iterations, *extra):
    return [
        "--content",
        CONTENT,
        "--style",
        STYLE,
        "--size",
        SIZE,
        "--iterations",
        iterations,
        "--save-every",
        4,
        "--print-every",
        1,
        "--optimizer",
        "adam",
        "--scales",
        1,
        "--output-dir",
        output_dir,
        *extra,
    ]


def folder_state(folder):
    """{relative path: sha256} of every file under folder."""
    state = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            state[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def folders(output_dir):
    return sorted(p for p in Path(output_dir).iterdir() if p.is_dir())


def snapshots(folder, step):
    return sorted(Path(folder).glob(f"*step{step:05d}.png"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, vgg_weights):
    """Three runs in one output folder: 12 steps; the same command with --iterations 20 (resumes);
    then --fresh with 2 steps. The first folder's files are recorded before the third run."""
    output_dir = tmp_path_factory.mktemp("end-to-end")
    first = run_main(*flags(output_dir, 12))
    first_folders = folders(output_dir)
    state_after_first = {p.name for p in first_folders[0].glob("*.png")} if first_folders else set()
    resumed = run_main(*flags(output_dir, 20))
    before_fresh = folder_state(first_folders[0]) if first_folders else {}
    fresh = run_main(*flags(output_dir, 2, "--fresh"))
    return {
        "output_dir": output_dir,
        "first": first,
        "first_folders": first_folders,
        "pngs_after_first": state_after_first,
        "resumed": resumed,
        "before_fresh": before_fresh,
        "fresh": fresh,
    }


def expected_shape():
    height, width = cv2.imread(str(REPO / CONTENT)).shape[:2]
    scale = SIZE / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def check_ok(result):
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr


def test_first_run_succeeds_and_the_loss_falls(runs):
    check_ok(runs["first"])
    steps = printed_steps(runs["first"].stdout)
    assert [step for step, _ in steps] == list(range(1, 13)), runs["first"].stdout
    totals = [total for _, total in steps]
    assert all(total > 0 for total in totals)
    assert totals[-1] < 0.9 * totals[0], totals
    assert min(totals[6:]) < min(totals[:6]), totals  # still falling in the second half


def test_first_run_writes_its_snapshots_and_checkpoints(runs):
    check_ok(runs["first"])
    assert len(runs["first_folders"]) == 1, runs["first_folders"]
    for step in (4, 8, 12):
        assert any(name.endswith(f"step{step:05d}.png") for name in runs["pngs_after_first"]), runs["pngs_after_first"]
    folder = runs["first_folders"][0]
    for step in (4, 8, 12):
        (path,) = snapshots(folder, step)
        image = cv2.imread(str(path))
        assert image is not None, path
        assert image.shape == (*expected_shape(), 3), (path, image.shape)
        assert max(image.shape[:2]) == SIZE
        assert image.std() > 1.0  # a picture, not a constant
    checkpoints = folder / "checkpoints"
    assert checkpoints.is_dir()
    (state,) = checkpoints.glob("*/state.npz")
    with np.load(state) as saved:
        assert saved["image"].shape == (*expected_shape(), 3)  # (the later runs of the fixture moved its step on)


def test_same_command_with_more_iterations_resumes(runs):
    check_ok(runs["resumed"])
    out = runs["resumed"].stdout
    assert any("resuming" in line and "step 12" in line for line in out.splitlines()), out
    steps = printed_steps(out)
    assert [step for step, _ in steps] == list(range(13, 21)), out
    first_totals = [total for _, total in printed_steps(runs["first"].stdout)]
    # the image was restored: the loss continues from where it was, far below the starting noise's
    assert steps[0][1] < 0.9 * first_totals[0] and steps[0][1] < 1.1 * first_totals[-1], (first_totals, steps)
    assert folders(runs["output_dir"])[0] == runs["first_folders"][0]
    for step in (16, 20):
        (path,) = snapshots(runs["first_folders"][0], step)
        assert cv2.imread(str(path)).shape == (*expected_shape(), 3)


def test_fresh_starts_a_new_folder_and_leaves_the_first_untouched(runs):
    check_ok(runs["fresh"])
    first = runs["first_folders"][0]
    assert [p.name for p in folders(runs["output_dir"])] == [first.name, first.name + "-2"]
    assert "resuming" not in runs["fresh"].stdout
    assert [step for step, _ in printed_steps(runs["fresh"].stdout)] == [1, 2]
    assert folder_state(first) == runs["before_fresh"]
    (path,) = snapshots(Path(runs["output_dir"]) / (first.name + "-2"), 2)  # the last step is always saved
    assert cv2.imread(str(path)).shape == (*expected_shape(), 3)
