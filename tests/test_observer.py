"""The one observer interface: the base Observer drives every kind of work (a pass, a tiled pass, a
video) without a hook missing or of another signature, and a subclass sees the hooks in their order."""

import numpy as np
import pytest
from conftest import random_image

import style_transfer
from neural_style.work.frames import stylize_video
from neural_style.work.observer import Observer
from neural_style.work.passes import build_network, stylize

FLAGS = ["--size", "32", "--scales", "1", "--iterations", "2", "--optimizer", "adam", "--precision", "float32"]


@pytest.fixture(scope="module")
def setup(vgg_weights):
    settings = style_transfer.parse_args(FLAGS)
    return settings, build_network(settings, vgg_weights)


class Calls(Observer):
    """The base observer, recording which hooks were called with what."""

    def __init__(self):
        self.calls = []

    def __getattribute__(self, name):
        hook = super().__getattribute__(name)
        if name in vars(Observer) and not name.startswith("_"):
            calls = super().__getattribute__("calls")
            return lambda *args: (calls.append((name, args)), hook(*args))[1]
        return hook


def test_the_base_observer_drives_a_pass_a_tiled_pass_and_a_video(setup):
    settings, network = setup
    content, style = random_image(32, 40, seed=1), random_image(32, 32, seed=2)
    assert stylize(settings, content, [style], network, 32, Observer()).shape == (26, 32, 3)
    assert stylize(settings, content, [style], network, 16, Observer()).shape == (26, 32, 3)  # 6 tiles
    frames = [random_image(32, 40, seed=seed) for seed in (3, 4)]
    assert stylize_video(settings, frames, 2, [style], network, Observer()) == 2


def test_each_hook_is_called_with_one_signature_in_order(setup):
    settings, network = setup
    content, style = random_image(32, 40, seed=1), random_image(32, 32, seed=2)
    tiled = Calls()
    stylize(settings, content, [style], network, 16, tiled)
    names = [name for name, _ in tiled.calls]
    assert names[0] == "saved_canvas" and names.count("tile_pasted") == 6
    assert names.count("job_started") == names.count("job_finished") == 6 and names.count("step") == 12
    job, step, to_output = next(args for name, args in tiled.calls if name == "job_started")
    assert (job.tile, step) == (1, 0) and np.array_equal(to_output(content), content)
    video = Calls()
    stylize_video(settings, [random_image(32, 40, seed=seed) for seed in (3, 4)], 2, [style], network, video)
    finished = [args for name, args in video.calls if name == "frame_finished"]
    assert [(frame, frames) for frame, frames, _ in finished] == [(1, 2), (2, 2)]
    assert all(picture.shape == (26, 32, 3) for _, _, picture in finished)
