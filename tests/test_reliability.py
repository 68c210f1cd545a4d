"""Never lose a run: signals, kills, diverging losses, impossible sizes, full disks and bad flags."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import REPO, open_paths, printed_steps, run_main, start_cli, wait_for

# A run small enough to be quick and long enough to be interrupted in the middle; Adam in one pass,
# whose resume is exact (L-BFGS restarts its curvature history from a checkpoint).
RUN = ["--size", "48", "--print-every", "1", "--save-every", "2", "--optimizer", "adam", "--scales", "1"]
# Enough iterations (a few seconds) that a signal sent after the first checkpoint lands before the end.
ITERATIONS = 150


def checkpoint_steps(output_dir):
    """The step of each job's saved state."""
    steps = []
    for path in glob.glob(str(output_dir / "*" / "checkpoints" / "*" / "state.npz")):
        with np.load(path) as saved:
            steps.append(int(saved["step"]))
    return sorted(steps)


def final_image(output_dir):
    (path,) = glob.glob(str(output_dir / "*" / "*-final.png"))
    return cv2.imread(path)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("straight")
    done = run_main(*RUN, "--iterations", ITERATIONS, "--output-dir", output_dir)
    assert done.returncode == 0, done.stderr
    return output_dir


@pytest.mark.parametrize("signal_number, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_the_step_it_stops_after_then_the_run_resumes_from_it(
    straight_run, tmp_path, signal_number, status
):
    """With no regular save due (--save-every 1000), the checkpoint can only be the stop's own."""
    process = start_cli(*RUN, "--save-every", 1000, "--iterations", ITERATIONS, "--output-dir", tmp_path)
    printed = []
    while not printed or printed[-1][0] < 3:  # well into the optimization
        line = process.stdout.readline()
        assert line or process.poll() is None, process.stderr.read()
        printed += printed_steps(line)
    process.send_signal(signal_number)
    stdout, stderr = process.stdout.read(), process.stderr.read()  # (communicate would skip what readline buffered)
    assert process.wait(timeout=120) == status, stderr
    assert "Traceback" not in stderr and "Run the same command again to resume" in stderr
    stopped_at = (printed + printed_steps(stdout))[-1][0]  # the step the signal let finish
    assert checkpoint_steps(tmp_path) == [stopped_at] and 3 <= stopped_at < ITERATIONS
    assert glob.glob(str(tmp_path / "*" / f"*-step{stopped_at:05d}.png"))

    resumed = run_main(*RUN, "--iterations", ITERATIONS, "--output-dir", tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"from step {stopped_at}" in resumed.stdout
    assert printed_steps(resumed.stdout)[0][0] == stopped_at + 1  # restored, not restarted from step 0
    np.testing.assert_array_equal(final_image(tmp_path), final_image(straight_run))


def test_a_second_ctrl_c_quits_at_once(tmp_path):
    process = start_cli(
        "--size",
        "256",
        "--iterations",
        "50",
        "--optimizer",
        "adam",
        "--scales",
        "1",
        "--print-every",
        "1",
        "--output-dir",
        tmp_path,
    )
    while "step" not in process.stdout.readline():  # the optimization is under way
        assert process.poll() is None
    process.send_signal(signal.SIGINT)
    assert "stopping after this step" in process.stderr.readline() + process.stderr.readline()
    process.send_signal(signal.SIGINT)  # during the step the first one let finish
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGINT  # ended by the signal itself, not by a clean stop


def test_a_killed_run_resumes_from_its_last_checkpoint_to_the_same_picture(straight_run, tmp_path):
    process = start_cli(*RUN, "--iterations", ITERATIONS, "--output-dir", tmp_path)
    wait_for(lambda: checkpoint_steps(tmp_path) and checkpoint_steps(tmp_path)[-1] >= 4)
    process.kill()
    process.communicate()
    resumed = run_main(*RUN, "--iterations", ITERATIONS, "--output-dir", tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    np.testing.assert_array_equal(final_image(tmp_path), final_image(straight_run))


def test_other_settings_never_resume_into_an_existing_run(straight_run, tmp_path):
    first = run_main(*RUN, "--iterations", "2", "--output-dir", tmp_path)
    other = run_main(*RUN, "--iterations", "2", "--content-weight", "0.5", "--output-dir", tmp_path)
    assert first.returncode == 0 and other.returncode == 0
    assert "resuming" not in other.stdout
    assert len(glob.glob(str(tmp_path / "*"))) == 2


def test_a_replaced_image_of_the_same_name_never_resumes_into_the_old_run(tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((24, 32, 3), 60, np.uint8))
    first = run_main(*RUN, "--iterations", "2", "--content", photo, "--output-dir", tmp_path / "out")
    cv2.imwrite(str(photo), np.full((24, 32, 3), 200, np.uint8))
    second = run_main(*RUN, "--iterations", "2", "--content", photo, "--output-dir", tmp_path / "out")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert "resuming" not in second.stdout and len(os.listdir(tmp_path / "out")) == 2


DIVERGING = {
    # The content loss grows with the pixel count: with this weight it is finite in the 16 px pass, which
    # saves every step, and overflows float32 in the 128 px one.
    "lbfgs": (
        ["--size", "128", "--scales", "16", "128", "--iterations", "4", "4", "--content-weight", "1e29"],
        "infinite or NaN at pass 2/2 128x94 after step 0",
    ),
    # Adam's first step throws the pixels to the ends of their range, where the style gradient's square
    # overflows float32.
    "adam": (
        ["--size", "48", "--scales", "1", "--iterations", "10", "--learning-rate", "200", "--style-weight", "3e13"],
        "infinite or NaN at 48x35 after step 1",
    ),
}


@pytest.mark.parametrize("optimizer", DIVERGING)
def test_a_diverging_loss_stops_and_keeps_what_was_saved_before(tmp_path, optimizer):
    flags, message = DIVERGING[optimizer]
    done = run_main(*flags, "--optimizer", optimizer, "--save-every", "1", "--output-dir", tmp_path)
    assert done.returncode == 3, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and message in line and "--fresh" in line
    (folder,) = glob.glob(str(tmp_path / "*"))
    named = [word.strip("()") for word in line.split() if word.strip("()").endswith(".png")]
    assert named and all(cv2.imread(path) is not None for path in named)  # it names only what exists
    assert not glob.glob(os.path.join(folder, "*-final.png")) and not glob.glob(os.path.join(folder, "*-sheet.png"))
    assert json.load(open(os.path.join(folder, "settings.json")))["status"] == "diverged"
    for path in glob.glob(os.path.join(folder, "checkpoints", "*", "state.npz")):
        with np.load(path) as saved:
            assert np.isfinite(saved["image"]).all()


@pytest.mark.parametrize("style_weight", ["1e38", "1e33", "1e31", "3e29"])
def test_weights_that_overflow_from_the_start_never_report_success(tmp_path, style_weight):
    done = run_main("--size", "96", "--iterations", "10", "--style-weight", style_weight, "--output-dir", tmp_path)
    assert done.returncode == 3 and "nothing was saved" in done.stderr, done.stderr
    assert not glob.glob(str(tmp_path / "*" / "*.png"))


def test_a_size_too_large_for_memory_is_refused_with_one_that_fits(tmp_path):
    done = run_main("--size", "200000", "--output-dir", tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "use --size" in lines[0] and "Traceback" not in done.stderr
    assert os.listdir(tmp_path) == []  # refused before anything was made


@pytest.mark.parametrize(
    "flags", [["--size", "64", "--style-scale", "1e6"], ["--size", "99999999999999999999"]], ids=" ".join
)
def test_a_painting_or_size_too_large_is_refused_in_one_line(tmp_path, flags):
    done = run_main(*flags, "--output-dir", tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "use --s" in line and os.listdir(tmp_path) == []


def test_ctrl_c_while_tensorflow_loads_ends_without_a_traceback(tmp_path):
    process = start_cli("--size", "32", "--output-dir", tmp_path)
    time.sleep(1.0)  # imports done or under way, TensorFlow not yet loaded or loading
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr


def test_a_weights_cache_that_cannot_be_written_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    done = run_main(
        *RUN,
        "--iterations",
        "1",
        "--output-dir",
        tmp_path / "out",
        env={"STYLE_TRANSFER_CACHE": str(blocker / "cache")},
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "STYLE_TRANSFER_CACHE" in done.stderr


@pytest.fixture
def tiny_disk(tmp_path, mount_tmpfs):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mount_tmpfs(mount_point, "size=200k")
    return mount_point


def test_a_full_disk_fails_cleanly_and_keeps_what_was_written(tiny_disk):
    done = run_main("--size", "160", "--iterations", "40", "--save-every", "1", "--output-dir", tiny_disk)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "No space left" in done.stderr
    written = glob.glob(str(tiny_disk / "*" / "*.png"))
    assert written  # the disk filled up after some snapshots, not before the first
    for path in written:  # and no truncated image is left behind
        assert cv2.imread(path) is not None, path
    # nor a file left open (a batch would go on with it open): the disk can be unmounted
    assert not [path for path in open_paths() if path.startswith(str(tiny_disk))]


BAD_FLAGS = [
    ["--size", "-1"],
    ["--size", "0"],
    ["--size", "big"],
    ["--iterations", "0"],
    ["--iterations", "-3"],
    ["--iterations", "1.5"],
    ["--learning-rate", "0"],
    ["--learning-rate", "nan"],
    ["--content-weight", "-1"],
    ["--style-weight", "inf"],
    ["--tv-weight", "x"],
    ["--noise-ratio", "1.5"],
    ["--style-scale", "0"],
    ["--save-every", "0"],
    ["--print-every", "-1"],
    ["--seed", "one"],
    ["--scales", "0"],
    ["--scales", "512", "256"],
    ["--scales", "600", "700", "--size", "500"],
    ["--iterations", "10", "20", "30"],
    ["--style-layers", "conv9_1"],
    ["--content-layers", "conv4_2:-1"],
    ["--style-layers", "conv1_1:abc"],
    ["--style", "images/starry_night.jpg", "images/great_wave.png", "--style-blend", "1"],
    ["--style-blend", "0"],
    ["--pooling", "min"],
    ["--optimizer", "sgd"],
    ["--preserve-colors", "yes"],
    ["--init", "no_such_file.png"],
    ["--tile-px", "-5"],
    ["--tile-px", "1"],
    ["--seed", "-5"],
    ["--no-such-flag"],
]


@pytest.mark.parametrize("flags", BAD_FLAGS, ids=" ".join)
def test_every_invalid_flag_value_is_refused_before_any_work(flags, tmp_path):
    done = run_main(*flags, "--output-dir", tmp_path / "out")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["--size", "-1"], ["--content", "no_such_photo.jpg"]], ids=" ".join)
def test_a_refused_command_never_loads_tensorflow(argv, tmp_path):
    """Flags and inputs are checked in the seconds before TensorFlow would load, not after them."""
    code = (
        "import sys, style_transfer\n"
        "try:\n"
        f"    style_transfer.main({[*argv, '--output-dir', str(tmp_path)]!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
