"""Shared fixtures and helpers of the test suite.

Everything the tests know about how to build and drive a Stylizer is in the helpers below
(make_stylizer, stylizer_losses, adam_step), so that a change of its constructor or of its
methods needs an edit here only.
"""
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import vgg_model  # noqa: E402

# The layers and weights of Gatys et al., used unless a test asks for others.
CONTENT_LAYERS = {"conv4_2": 1.0}
STYLE_LAYERS = {"conv1_1": 0.2, "conv2_1": 0.2, "conv3_1": 0.2, "conv4_1": 0.2, "conv5_1": 0.2}


@pytest.fixture(scope="session")
def tf():
    return vgg_model.import_tensorflow()


@pytest.fixture(scope="session")
def vgg_weights():
    """The real VGG19 conv weights, from the default cache (fetched into it once if it is empty).

    Tests must not change these arrays; they are shared by the whole session.
    """
    weights = vgg_model.load_weights(log=lambda *args: None)
    for array in [*weights.kernels.values(), *weights.biases.values()]:
        array.setflags(write=False)
    return weights


def make_stylizer(network, content, styles, start_image, style_blend=None, content_layers=None,
                  style_layers=None, content_weight=1e-3, style_weight=1.0, learning_rate=2.0):
    """A Stylizer on float32 RGB images (values 0..255), whatever the order of its constructor's
    parameters; parameters it may have gained (total variation and the like) are set to off."""
    from stylize import Stylizer, style_targets
    style_blend = list(style_blend) if style_blend is not None else [1.0 / len(styles)] * len(styles)
    values = dict(
        network=network, content=np.asarray(content, np.float32),
        style_targets=style_targets(network, [np.asarray(style, np.float32) for style in styles], style_blend,
                                    dict(style_layers or STYLE_LAYERS), tile_px=4096),
        start_image=np.asarray(start_image, np.float32),
        content_layers=dict(content_layers or CONTENT_LAYERS), style_layers=dict(style_layers or STYLE_LAYERS),
        content_weight=content_weight, style_weight=style_weight, learning_rate=learning_rate,
        tv_weight=0.0)
    parameters = list(inspect.signature(Stylizer.__init__).parameters.values())[1:]
    unknown = [p.name for p in parameters if p.name not in values and p.default is inspect.Parameter.empty]
    assert not unknown, f"make_stylizer in tests/conftest.py does not know Stylizer's parameters {unknown}"
    return Stylizer(**{p.name: values[p.name] for p in parameters if p.name in values})


def stylizer_losses(stylizer, image):
    """(content, style, total) losses of a (height, width, 3) image, as floats."""
    import tensorflow as tf
    losses = stylizer.losses(tf.constant(np.asarray(image, np.float32)[None]))
    return float(losses[0]), float(losses[1]), float(losses[-1])  # any extra terms sit in between


def adam_step(stylizer, learning_rate):
    """One Adam step of the stylizer's image (learning_rate must be the one it was built with if
    the method takes none); returns (content, style, total) before the step."""
    if inspect.signature(stylizer.adam_step).parameters:
        import tensorflow as tf
        losses = stylizer.adam_step(tf.constant(learning_rate, tf.float32))
    else:
        losses = stylizer.adam_step()
    return float(losses[0]), float(losses[1]), float(losses[-1])


def random_image(height, width, seed, low=0.0, high=255.0):
    """A reproducible smooth-ish RGB image: uniform noise blurred a little, so that it has structure."""
    import cv2
    rng = np.random.default_rng(seed)
    image = rng.uniform(low, high, (height, width, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(image, (3, 3), 0.8), 0, 255)


def run_cli(*args, env=None, timeout=300):
    """Run style_transfer.py from the repository root; returns the CompletedProcess (text)."""
    environment = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, str(REPO / "style_transfer.py"), *map(str, args)], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=timeout)


STEP_LINE = re.compile(r"\bstep\s+(\d+)/(\d+)\b.*?\btotal\s+([-+0-9.eE]+|nan|inf)")


def printed_steps(stdout):
    """[(step, total loss)] from the progress lines of a run."""
    return [(int(m.group(1)), float(m.group(3))) for m in map(STEP_LINE.search, stdout.splitlines()) if m]
