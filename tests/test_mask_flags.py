"""The mask flags through the command line, the result judged by measures of our own (colour and stroke
direction, computed with numpy): a content mask keeps the photo outside it, style masks put each
painting in its half, a region mask takes the style from its part of the painting only."""

import functools
import glob
import json

import cv2
import numpy as np
import pytest
from conftest import random_image, run_main
from conftest import stripes as stripes_of_size

SIZE = 48
RED, BLUE = (200, 30, 30), (30, 30, 200)
RUN = ["--size", SIZE, "--scales", 1, "--optimizer", "lbfgs", "--save-every", 100, "--print-every", 100]


def write_png(path, rgb):
    cv2.imwrite(str(path), np.asarray(np.rint(rgb), np.uint8)[:, :, ::-1])
    return path


stripes = functools.partial(stripes_of_size, size_px=SIZE)


def half_mask(side):
    mask = np.zeros((SIZE, SIZE, 3), np.float32)
    if side == "left":
        mask[:, : SIZE // 2] = 255
    else:
        mask[:, SIZE // 2 :] = 255
    return mask


def write_strokes_on_transparent(path):
    """The left half as a white stroke on a transparent layer that hides white too (as editors save it)."""
    bgra = np.full((SIZE, SIZE, 4), 255, np.uint8)
    bgra[:, SIZE // 2 :, 3] = 0
    cv2.imwrite(str(path), bgra)
    return path


def result(output_dir):
    (path,) = glob.glob(str(output_dir / "*" / "*-final.png"))
    return cv2.imread(path)[:, :, ::-1].astype(np.float32)


def looks(picture):
    """What a painting of stripes looks like, independently of the network: the mean colour's red minus
    blue (-170..170) and the stripes' direction, the share of vertical-stripe (horizontal) gradient
    energy in all the gradient energy (1 for vertical stripes, 0 for horizontal ones)."""
    grey = picture.mean(axis=2)
    across = np.square(np.diff(grey, axis=1)).sum()  # large for vertical stripes
    down = np.square(np.diff(grey, axis=0)).sum()
    red_minus_blue = float(picture[:, :, 0].mean() - picture[:, :, 2].mean())
    return red_minus_blue, float(across / (across + down + 1e-9))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mask-files")
    return {
        "photo": write_png(folder / "photo.png", random_image(SIZE, SIZE, seed=5)),
        "grey": write_png(folder / "grey.png", np.full((SIZE, SIZE, 3), 128.0)),
        "red": write_png(folder / "red.png", stripes(True, RED)),
        "blue": write_png(folder / "blue.png", stripes(False, BLUE)),
        "both": write_png(
            folder / "both.png",
            np.concatenate([stripes(True, RED)[:, : SIZE // 2], stripes(False, BLUE)[:, SIZE // 2 :]], 1),
        ),
        "left": write_png(folder / "left.png", half_mask("left")),
        "right": write_png(folder / "right.png", half_mask("right")),
        "left on transparent": write_strokes_on_transparent(folder / "left-alpha.png"),
    }


@pytest.mark.parametrize("mask", ["left", "left on transparent"])
def test_a_content_mask_keeps_the_photo_outside_it_and_paints_inside(files, tmp_path, mask):
    done = run_main(*RUN, "--iterations", 10, "--content", files["photo"], "--style", files["red"],
                   "--content-mask", files[mask], "--output-dir", tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    picture, photo = result(tmp_path), cv2.imread(str(files["photo"]))[:, :, ::-1].astype(np.float32)
    beyond_the_edge = SIZE // 2 + 4  # the feathered edge is about a pixel wide at this size
    np.testing.assert_array_equal(picture[:, beyond_the_edge:], photo[:, beyond_the_edge:])
    assert np.abs(picture[:, : SIZE // 2 - 4] - photo[:, : SIZE // 2 - 4]).mean() > 10  # painted inside


@pytest.fixture(scope="module")
def two_halves(files, tmp_path_factory):
    """{mask mode: the result} of a grey photo with red vertical stripes left, blue horizontal right."""
    pictures = {}
    for mode in ("inside", "simple"):
        output_dir = tmp_path_factory.mktemp(f"two-halves-{mode}")
        done = run_main(*RUN, "--iterations", 60, "--style-weight", 100, "--content", files["grey"],
                       "--style", files["red"], files["blue"], "--style-masks", files["left"], files["right"],
                       "--mask-mode", mode, "--output-dir", output_dir)  # fmt: skip
        assert done.returncode == 0, done.stderr
        pictures[mode] = result(output_dir)
    return pictures


@pytest.mark.parametrize("mode", ["inside", "simple"])
def test_style_masks_put_each_painting_in_its_half(two_halves, mode):
    picture = two_halves[mode]
    margin = 4
    (left_colour, left_direction), (right_colour, right_direction) = (
        looks(picture[:, : SIZE // 2 - margin]),
        looks(picture[:, SIZE // 2 + margin :]),
    )
    # Without style masks both halves get the blend: directions 0.34 and 0.68 here.
    assert left_direction > 0.8 and right_direction < 0.2, (left_direction, right_direction)
    assert left_colour > right_colour + 15, (left_colour, right_colour)  # the left redder, the right bluer


def test_the_mask_mode_reaches_the_painting(two_halves):
    """The modes' guides differ at the edge between the halves and on the deep layers: so do the results."""
    assert np.abs(two_halves["inside"] - two_halves["simple"]).mean() > 5


def test_a_region_mask_takes_the_style_from_that_part_of_the_painting(files, tmp_path):
    done = run_main(*RUN, "--iterations", 60, "--style-weight", 100, "--content", files["grey"],
                   "--style", files["both"], "--style-region-masks", files["right"], "--mask-mode", "simple",
                   "--output-dir", tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    colour, direction = looks(result(tmp_path))
    assert direction < 0.2 and colour < -15, (colour, direction)  # without the region mask: 0.55 and -13


def test_a_region_too_small_for_the_deep_layers_takes_its_style_from_the_others(files, tmp_path):
    """The painting's top quarter (blue horizontal stripes over red vertical ones) at 48 px: no conv3_1,
    conv4_1 or conv5_1 neuron sees only the region: those layers are left out (and said so); the rest paints it."""
    top = np.zeros((SIZE, SIZE, 3), np.float32)
    top[: SIZE // 4] = 255
    painting = stripes(True, RED)
    painting[: SIZE // 4] = stripes(False, BLUE)[: SIZE // 4]
    sky, region = write_png(tmp_path / "sky.png", painting), write_png(tmp_path / "top.png", top)
    done = run_main(*RUN, "--iterations", 60, "--style-weight", 100, "--content", files["grey"], "--style", sky,
                   "--style-region-masks", region, "--output-dir", tmp_path / "out")  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"note: region mask {region} is too small at --size {SIZE} for conv3_1 conv4_1 conv5_1 " in done.stdout
    (record,) = glob.glob(str(tmp_path / "out" / "*" / "settings.json"))
    assert json.load(open(record))["status"] == "finished"
    colour, direction = looks(result(tmp_path / "out"))
    assert direction < 0.2 and colour < -15, (colour, direction)


def test_the_mask_mode_help_says_what_each_mode_is(capsys):
    import style_transfer

    with pytest.raises(SystemExit):
        style_transfer.parse_args(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert '"inside": neurons that see only the region count; "simple": the mask averaged to each layer' in help_text
