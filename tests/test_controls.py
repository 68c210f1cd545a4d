"""The controls beyond the original: colour, start images, several styles, total variation, L-BFGS,
coarse-to-fine passes, and what a finished run leaves behind."""

import csv
import glob
import json
import os

import cv2
import numpy as np
import pytest
from conftest import make_optimizer, printed_steps, random_image, run_cli

import style_transfer
import utils

# --- Colour -------------------------------------------------------------------------------------------


def test_histogram_matching_gives_the_painting_the_photos_colour_statistics():
    rng = np.random.default_rng(1)
    content = np.clip(rng.normal([150, 90, 60], [30, 20, 10], (40, 50, 3)), 0, 255).astype(np.float32)
    style = np.clip(rng.normal([60, 80, 170], [15, 35, 25], (30, 30, 3)), 0, 255).astype(np.float32)
    matched = utils.match_colour_histogram(style, content)
    assert matched.shape == style.shape
    np.testing.assert_allclose(matched.reshape(-1, 3).mean(0), content.reshape(-1, 3).mean(0), atol=2.0)
    np.testing.assert_allclose(
        np.cov(matched.reshape(-1, 3), rowvar=False), np.cov(content.reshape(-1, 3), rowvar=False), rtol=0.1, atol=15
    )


def test_luminance_transfer_keeps_the_photos_chroma_and_the_results_brightness():
    content = random_image(20, 30, seed=2)
    result_gray = utils.luminance(random_image(20, 30, seed=3))
    combined = utils.recombine_colour(result_gray, content)
    y = np.array([0.299, 0.587, 0.114])
    iq = np.array([[0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    inside = (combined > 1).all(axis=2) & (combined < 254).all(axis=2)  # clipping changes clipped pixels only
    np.testing.assert_allclose((combined @ y)[inside], result_gray[:, :, 0][inside], atol=0.05)
    np.testing.assert_allclose((combined @ iq.T)[inside], (content @ iq.T)[inside], atol=0.05)


def test_painting_luminance_is_matched_to_the_photos_mean_and_spread():
    content_gray = utils.luminance(random_image(20, 20, seed=4, low=100, high=200))
    style_gray = utils.luminance(random_image(20, 20, seed=5, low=0, high=80))
    matched = utils.match_luminance(style_gray, content_gray)
    assert matched.mean() == pytest.approx(content_gray.mean(), abs=0.5)
    assert matched.std() == pytest.approx(content_gray.std(), rel=0.02)


# --- Start images and settings --------------------------------------------------------------------------


def test_start_images():
    content, style = random_image(12, 16, seed=6), random_image(30, 20, seed=7)
    mix = utils.start_image("mix", content, style, 0.25, seed=3)
    grey_noise = (mix - 0.75 * content) / 0.25 - content.mean(axis=(0, 1))  # the original's +-20 noise
    assert np.abs(grey_noise).max() <= 20.01 and grey_noise.std() > 10
    noise = utils.start_image("noise", content, style, 0.25, seed=3)
    assert (noise >= 0).all() and (noise <= 255).all() and noise.std() > 50
    np.testing.assert_array_equal(utils.start_image("content", content, style, 0.25, seed=3), content)
    painting_resized = cv2.resize(style, (16, 12), interpolation=cv2.INTER_AREA)  # shrunk: area averaging
    np.testing.assert_allclose(utils.start_image("style", content, style, 0.25, seed=3), painting_resized, atol=1e-3)
    np.testing.assert_array_equal(mix, utils.start_image("mix", content, style, 0.25, seed=3))


def test_start_image_from_a_file(tmp_path):
    path = str(tmp_path / "start.png")
    cv2.imwrite(path, np.full((10, 10, 3), (10, 20, 30), np.uint8))
    image = utils.start_image(path, np.zeros((12, 16, 3), np.float32), None, 0.5, seed=0)
    assert image.shape == (12, 16, 3)
    np.testing.assert_allclose(image[6, 8], [30, 20, 10], atol=1)  # BGR on disk, RGB in memory


@pytest.mark.parametrize(
    "flags, scales, iterations",
    [
        (["--size", "400"], [200, 400], [50, 100]),
        (["--size", "400", "--scales", "1", "--iterations", "300"], [400], [300]),
        (["--size", "20", "--scales", "3"], [20], [100]),
        (["--size", "400", "--scales", "3", "--iterations", "200"], [100, 200, 400], [50, 100, 200]),
        (["--size", "400", "--scales", "128", "256"], [128, 256, 400], [25, 50, 100]),
        (["--size", "400", "--scales", "200", "400", "--iterations", "50", "10"], [200, 400], [50, 10]),
    ],
)
def test_scales_and_iterations(flags, scales, iterations):
    settings = style_transfer.parse_args(flags)
    assert settings.scales == tuple(scales) and settings.iterations == tuple(iterations)


def test_style_blend_is_normalized():
    settings = style_transfer.parse_args(["--style", "a.jpg", "b.jpg", "--style-blend", "3", "1"])
    assert settings.style_blend == (0.75, 0.25)
    assert style_transfer.parse_args(["--style", "a.jpg", "b.jpg"]).style_blend == (0.5, 0.5)
    huge = style_transfer.parse_args(["--style", "a.jpg", "b.jpg", "--style-blend", "1e308", "1e308"])
    assert huge.style_blend == (0.5, 0.5)  # not 0, 0 from a sum that overflowed


# --- Losses and optimizers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def network(vgg_weights):
    from vgg_model import VGG19

    return VGG19(vgg_weights, ["conv4_2", "conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"])


def test_blended_style_target_is_the_weighted_sum_of_each_paintings_gram_matrix(network):
    content, style_a, style_b = (random_image(24, 24, seed=s) for s in (10, 11, 12))
    blended = make_optimizer(network, content, [style_a, style_b], content, style_blend=[0.7, 0.3])
    only_a = make_optimizer(network, content, [style_a], content, style_blend=[1.0])
    only_b = make_optimizer(network, content, [style_b], content, style_blend=[1.0])
    for name in blended.loss.style_targets:
        expected = 0.7 * only_a.loss.style_targets[name].numpy() + 0.3 * only_b.loss.style_targets[name].numpy()
        np.testing.assert_allclose(blended.loss.style_targets[name].numpy(), expected, rtol=1e-5, atol=1e-3)


def test_total_variation_matches_numpy(network):
    import tensorflow as tf

    image = random_image(10, 14, seed=13)
    optimizer = make_optimizer(network, image, [image], image)
    expected = (
        np.square(np.diff(image.astype(np.float64), axis=0)).sum()
        + np.square(np.diff(image.astype(np.float64), axis=1)).sum()
    )
    assert float(optimizer.loss(tf.constant(image[None]))[2]) == pytest.approx(expected, rel=1e-5)


def test_lbfgs_lowers_the_loss_and_keeps_pixels_in_range(network):
    content, style = random_image(32, 32, seed=14), random_image(32, 32, seed=15)
    optimizer = make_optimizer(
        network, content, [style], utils.start_image("noise", content, style, 1, seed=0), optimizer="lbfgs"
    )
    progress = []
    optimizer.run(8, progress.append)
    assert [p.step for p in progress] == list(range(1, 9))
    assert progress[-1].total_loss < 0.5 * progress[0].total_loss
    result = optimizer.result()
    assert result.min() >= 0 and result.max() <= 255


class Enough(Exception):
    pass


@pytest.mark.parametrize("kind", ["adam", "lbfgs"])
def test_an_optimizer_stops_when_its_observer_raises(network, kind):
    content = random_image(16, 16, seed=16)
    optimizer = make_optimizer(
        network, content, [content], utils.start_image("noise", content, content, 1, 0), optimizer=kind
    )
    steps, images = [], {}

    def on_step(progress):
        steps.append(progress.step)
        images[progress.step] = optimizer.result()
        if progress.step == 3:
            raise Enough

    with pytest.raises(Enough):
        optimizer.run(10, on_step)
    assert steps == [1, 2, 3] and int(optimizer.step) == 3
    np.testing.assert_array_equal(optimizer.result(), images[3])  # the image of the last step, not a trial point


# --- A whole run ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("controls")
    flags = [
        "--size",
        "64",
        "--scales",
        "2",
        "--iterations",
        "6",
        "--optimizer",
        "lbfgs",
        "--save-every",
        "2",
        "--print-every",
        "1",
        "--style",
        "images/starry_night.jpg",
        "images/great_wave.png",
        "--preserve-colors",
        "luminance",
        "--tv-weight",
        "1e-4",
        "--output-dir",
        str(output_dir),
    ]
    result = run_cli(*flags)
    assert result.returncode == 0, result.stderr
    return output_dir, flags, result


def tensorboard_scalars(folder, tag):
    """{step: value} of one scalar in the run's TensorBoard event files, read back with TensorFlow."""
    from neural_style.model.tf_setup import tf

    values = {}
    for path in glob.glob(os.path.join(folder, "tensorboard", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def test_a_run_leaves_result_sheet_loss_log_settings_and_tensorboard(finished_run):
    output_dir, _, result = finished_run
    (folder,) = glob.glob(str(output_dir / "*"))
    (final,) = glob.glob(os.path.join(folder, "*-final.png"))
    image = cv2.imread(final)
    assert image.shape[:2] == (47, 64)  # the photo is 1302x953
    sheet = cv2.imread(glob.glob(os.path.join(folder, "*-sheet.png"))[0])
    assert sheet.shape[0] == 47 and sheet.shape[1] > 3 * 47
    with open(os.path.join(folder, "losses.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [(r["pass"], r["size_px"]) for r in rows] == [("1", "32")] * 3 + [("2", "64")] * 6
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 1, 2, 3, 4, 5, 6]
    settings = json.load(open(os.path.join(folder, "settings.json")))
    assert settings["status"] == "finished" and settings["scales"] == [32, 64]
    assert settings["precision"] in ("float32", "bfloat16")
    assert len(settings["weights_sha256"]) == 64 and "tensorflow" in settings["library_versions"]
    # TensorBoard's total loss at each step, which runs on across the passes, is the loss log's
    totals = tensorboard_scalars(folder, "loss/total")
    assert sorted(totals) == list(range(1, 10))
    np.testing.assert_allclose([totals[step] for step in range(1, 10)], [float(r["total"]) for r in rows], rtol=1e-6)
    assert [step for step, _ in printed_steps(result.stdout)] == [1, 2, 3, 1, 2, 3, 4, 5, 6]


def test_the_same_command_and_seed_give_the_same_picture(finished_run, tmp_path):
    output_dir, flags, _ = finished_run
    again = run_cli(*flags[:-1], str(tmp_path))
    assert again.returncode == 0, again.stderr
    (first,) = glob.glob(str(output_dir / "*" / "*-final.png"))
    (second,) = glob.glob(str(tmp_path / "*" / "*-final.png"))
    np.testing.assert_array_equal(cv2.imread(first), cv2.imread(second))
