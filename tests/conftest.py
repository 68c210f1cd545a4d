"""Shared fixtures and helpers of the test suite: the real weights, images, and running the program."""

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from neural_style.files import weights  # noqa: E402

# The layers and weights of Gatys et al., used unless a test asks for others.
CONTENT_LAYERS = {"conv4_2": 1.0}
STYLE_LAYERS = {"conv1_1": 0.2, "conv2_1": 0.2, "conv3_1": 0.2, "conv4_1": 0.2, "conv5_1": 0.2}


@pytest.fixture(scope="session")
def tf():
    from neural_style.model.tf_setup import tf

    return tf


@pytest.fixture(scope="session")
def vgg_weights():
    """The real VGG19 conv weights, from the default cache (fetched into it once if it is empty).

    Tests must not change these arrays; they are shared by the whole session.
    """
    vgg = weights.load_weights(log=lambda *args: None)
    for array in [*vgg.kernels.values(), *vgg.biases.values()]:
        array.setflags(write=False)
    return vgg


def make_optimizer(
    network,
    content,
    styles,
    start_image,
    style_blend=None,
    content_layers=None,
    style_layers=None,
    content_weight=1e-3,
    style_weight=1.0,
    optimizer="adam",
    learning_rate=2.0,
):
    """An ImageOptimizer at start_image on the style transfer loss of these float32 RGB images
    (values 0..255), total variation off."""
    from neural_style.model.losses import StyleTransferLoss, style_targets
    from neural_style.model.optimizers import ImageOptimizer

    style_blend = list(style_blend) if style_blend is not None else [1.0 / len(styles)] * len(styles)
    style_layers = dict(style_layers or STYLE_LAYERS)
    targets = style_targets(network, [np.asarray(style, np.float32) for style in styles], style_blend, style_layers)
    loss = StyleTransferLoss(
        network,
        np.asarray(content, np.float32),
        targets,
        dict(content_layers or CONTENT_LAYERS),
        style_layers,
        content_weight,
        style_weight,
        tv_weight=0.0,
    )
    return ImageOptimizer(loss, np.asarray(start_image, np.float32), optimizer, learning_rate)


def loss_values(optimizer, image):
    """(content, style, total) losses of a (height, width, 3) image, as floats."""
    from neural_style.model.tf_setup import tf

    losses = optimizer.loss(tf.constant(np.asarray(image, np.float32)[None]))
    return float(losses[0]), float(losses[1]), float(losses[-1])


def adam_step(optimizer):
    """One Adam step of the optimizer's image; returns (content, style, total) before the step."""
    from neural_style.model.tf_setup import tf

    losses, taken = optimizer.adam_step(tf.constant(optimizer.learning_rate, tf.float32))
    assert taken
    return float(losses[0]), float(losses[1]), float(losses[-1])


def random_image(height, width, seed, low=0.0, high=255.0):
    """A reproducible smooth-ish RGB image: uniform noise blurred a little, so that it has structure."""
    import cv2

    rng = np.random.default_rng(seed)
    image = rng.uniform(low, high, (height, width, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(image, (3, 3), 0.8), 0, 255)


def stripes(vertical, colour, size_px):
    """A square painting of thin stripes in one colour on white: a style with a clear direction and hue."""
    painting = np.full((size_px, size_px, 3), 255.0, np.float32)
    if vertical:
        painting[:, ::4] = colour
    else:
        painting[::4, :] = colour
    return painting


def run_cli(*args, env=None, timeout=300):
    """Run style_transfer.py from the repository root; returns the CompletedProcess (text)."""
    environment = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, str(REPO / "style_transfer.py"), *map(str, args)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_main(*args, env=None):
    """What run_cli does, in this process: style_transfer.main from the repository root, its output
    captured, without the seconds a new process spends loading TensorFlow. For what a run does; what
    the process does (signals, kills, a second process, its memory) needs run_cli."""
    import style_transfer

    stdout, stderr = io.StringIO(), io.StringIO()
    directory, environment = os.getcwd(), dict(os.environ)
    os.chdir(REPO)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                returncode = style_transfer.main(list(map(str, args)))
            except SystemExit as ended:  # argparse's refusals
                returncode = ended.code
    finally:
        os.chdir(directory)
        os.environ.clear()
        os.environ.update(environment)
    return subprocess.CompletedProcess(args, returncode, stdout.getvalue(), stderr.getvalue())


def open_paths():
    """The paths of the files this process has open (Linux's /proc)."""
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
    return paths


def start_cli(*args):
    """Start style_transfer.py from the repository root in the background (pipes for its output)."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "style_transfer.py"), *map(str, args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, process=None, timeout_s=240):
    """Wait until predicate() holds; fails on the time-out, or if `process` ends first."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        assert process is None or process.poll() is None, "the run ended first"
        time.sleep(0.1)


def pytest_configure(config):
    """Skipped tests and their reasons in the summary, even without -rs: a full disk or a read-only
    folder that could not be made here (mount_tmpfs) is a claim left unchecked, and says so."""
    if "s" not in config.option.reportchars and "a" not in config.option.reportchars.lower():
        config.option.reportchars += "s"


@pytest.fixture
def mount_tmpfs():
    """mount(folder, options): a small tmpfs on folder for the test's duration, or the test is skipped."""
    mounted = []

    def mount(folder, options):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no reason given"]
            pytest.skip(f"NOT CHECKED: cannot mount a tmpfs here (mount needs root: {why[0]})")
        mounted.append(folder)

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)])


STEP_LINE = re.compile(r"\bstep\s+(\d+)/(\d+)\b.*?\btotal\s+([-+0-9.eE]+|nan|inf)")


def printed_steps(stdout):
    """[(step, total loss)] from the progress lines of a run."""
    return [(int(m.group(1)), float(m.group(3))) for m in map(STEP_LINE.search, stdout.splitlines()) if m]
