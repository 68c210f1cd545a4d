"""Whole runs of claims that had none: the bare defaults (two passes, L-BFGS, the mix start, auto
precision) at a small size, --preserve-colors histogram judged by numpy's colour statistics, a batch
with one unreadable photo among good ones, and L-BFGS killed and resumed."""

import glob
import json
import signal

import cv2
import numpy as np
import pytest
from conftest import printed_steps, run_main, start_cli, wait_for

PHOTO, PAINTING = "images/cincinnati_bridge.jpg", "images/starry_night.jpg"


def final_picture(output_dir):
    (path,) = glob.glob(str(output_dir / "*" / "*-final.png"))
    return cv2.imread(path)[:, :, ::-1].astype(np.float64)


def record(output_dir):
    (path,) = glob.glob(str(output_dir / "*" / "settings.json"))
    return json.load(open(path))


def test_the_bare_defaults_paint_in_two_passes_and_the_loss_falls_in_each(tmp_path):
    done = run_main("--size", 32, "--iterations", 20, "--print-every", 1, "--output-dir", tmp_path)
    assert done.returncode == 0, done.stderr
    settings = record(tmp_path)
    assert settings["scales"] == [16, 32] and settings["iterations"] == [10, 20]
    assert settings["optimizer"] == "lbfgs" and settings["init"] == "mix" and settings["status"] == "finished"
    flags = open("/proc/cpuinfo").read().split()
    assert settings["precision"] == ("bfloat16" if "avx512_bf16" in flags or "amx_bf16" in flags else "float32")
    steps = printed_steps(done.stdout)
    first_pass, second_pass = steps[:10], steps[10:]
    assert [step for step, _ in first_pass] == list(range(1, 11)) and second_pass[0][0] == 1, done.stdout
    for steps_of_a_pass in (first_pass, second_pass):
        assert steps_of_a_pass[-1][1] < 0.5 * steps_of_a_pass[0][1], steps_of_a_pass
    assert final_picture(tmp_path).shape[:2] == (23, 32) and final_picture(tmp_path).std() > 10


def mean_colour(path_or_picture, long_side_px=None):
    picture = path_or_picture
    if isinstance(path_or_picture, str):
        picture = cv2.imread(path_or_picture)[:, :, ::-1]
        height, width = picture.shape[:2]
        size = (round(width * long_side_px / max(height, width)), round(height * long_side_px / max(height, width)))
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    return picture.reshape(-1, 3).astype(np.float64).mean(axis=0)


def test_preserve_colors_histogram_gives_the_photos_colours(tmp_path):
    done = run_main("--size", 48, "--scales", 1, "--iterations", 15, "--preserve-colors", "histogram",
                   "--output-dir", tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = mean_colour(final_picture(tmp_path))
    to_photo = np.linalg.norm(result - mean_colour(PHOTO, 48))
    to_painting = np.linalg.norm(result - mean_colour(PAINTING, 48))
    assert to_photo < 0.5 * to_painting, (to_photo, to_painting)  # 15 and 75 here


def test_a_batch_with_one_unreadable_photo_is_refused_before_any_work(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a JPEG")
    done = run_main("--content", PHOTO, broken, "images/coffee.png", "--size", 16, "--output-dir", tmp_path / "out")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line == f"error: image {broken} is truncated, corrupt or not in a format OpenCV reads"
    assert not (tmp_path / "out").exists()  # no good photo was painted either: fix it and run once


@pytest.fixture(scope="module")
def lbfgs_straight(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("lbfgs-straight")
    done = run_main(*LBFGS, "--output-dir", output_dir)
    assert done.returncode == 0, done.stderr
    return printed_steps(done.stdout)


LBFGS = ["--size", 48, "--scales", 1, "--iterations", 40, "--save-every", 2, "--print-every", 1]


def test_lbfgs_killed_and_resumed_ends_near_the_uninterrupted_loss(lbfgs_straight, tmp_path):
    """L-BFGS restarts its curvature history from a checkpoint, so the picture differs a little from the
    uninterrupted one; its loss must go on from the checkpoint and end close to it."""
    process = start_cli(*LBFGS, "--output-dir", tmp_path)
    checkpoints = lambda: glob.glob(str(tmp_path / "*" / "checkpoints" / "*" / "state.npz"))
    wait_for(lambda: checkpoints() and np.load(checkpoints()[0])["step"] >= 6, process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    saved_step = int(np.load(checkpoints()[0])["step"])
    resumed = run_main(*LBFGS, "--output-dir", tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    steps = printed_steps(resumed.stdout)
    assert steps[0][0] == saved_step + 1 and steps[-1][0] == 40, resumed.stdout
    straight = dict(lbfgs_straight)
    assert steps[0][1] < 1.5 * straight[saved_step + 1]  # went on from the checkpoint, not from the start
    assert steps[-1][1] < 1.25 * straight[40], (steps[-1], straight[40])
