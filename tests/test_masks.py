"""Spatial control in a run: masks that change nothing when they cover everything, regions that take
their own painting's style, a content mask that keeps the photo outside it."""

import dataclasses
import functools

import cv2
import numpy as np
import pytest
from conftest import CONTENT_LAYERS, STYLE_LAYERS, loss_values, random_image, run_main
from conftest import stripes as stripes_of_size

import style_transfer
from neural_style.model.guides import layer_guides
from neural_style.model.losses import gram_matrix
from neural_style.work import passes
from utils import load_image

SIZE = 64


@pytest.fixture(scope="module")
def network(vgg_weights):
    from vgg_model import VGG19

    return VGG19(vgg_weights, [*CONTENT_LAYERS, *STYLE_LAYERS])


def settings(*flags):
    parsed = style_transfer.parse_args(["--size", str(SIZE), "--scales", "1", *flags])
    return dataclasses.replace(parsed, precision="float32")


stripes = functools.partial(stripes_of_size, size_px=SIZE)


def test_a_mask_over_everything_gives_the_loss_without_masks(network):
    s = settings()
    content, painting, image = (random_image(40, 56, seed=seed) for seed in (1, 2, 3))
    plain = passes.PassStyle(s, network, [painting], passes.Masks(), 40, 56)
    everywhere = passes.PassStyle(s, network, [painting], passes.Masks(styles=(np.ones((40, 56), np.float32),)), 40, 56)
    box = (0, 0, 40, 56)
    assert plain.regions(box) is None
    unmasked = passes.build_optimizer(s, network, content, plain.targets, image)
    masked = passes.build_optimizer(s, network, content, None, image, everywhere.regions(box))
    np.testing.assert_allclose(loss_values(masked, image), loss_values(unmasked, image), rtol=1e-6)


def region_gram(network, image, mask, layer):
    from neural_style.model.tf_setup import tf

    features = network(tf.constant(image[None]))[layer]
    return gram_matrix(features, layer_guides(mask, [layer], "simple")[layer]).numpy()


def test_complementary_masks_put_each_paintings_style_in_its_region(network):
    red_vertical, blue_horizontal = stripes(True, (200, 30, 30)), stripes(False, (30, 30, 200))
    left = np.zeros((SIZE, SIZE), np.float32)
    left[:, : SIZE // 2] = 1
    s = settings("--style", "a", "b", "--iterations", "40", "--style-weight", "100")
    content = np.full((SIZE, SIZE, 3), 128.0, np.float32)
    masks = passes.Masks(styles=(left, 1 - left))
    picture = passes.stylize(s, content, [red_vertical, blue_horizontal], network, tile_px=SIZE, masks=masks)
    for layer in ("conv1_1", "conv2_1", "conv3_1"):
        for region, own, other in ((left, red_vertical, blue_horizontal), (1 - left, blue_horizontal, red_vertical)):
            gram = region_gram(network, picture, region, layer)
            to_own = np.linalg.norm(gram - region_gram(network, own, np.ones_like(region), layer))
            to_other = np.linalg.norm(gram - region_gram(network, other, np.ones_like(region), layer))
            # Both paintings blended over the whole picture, without masks, give 0.47-0.55 here.
            assert to_own < 0.35 * to_other, (layer, to_own, to_other)


def test_a_content_mask_keeps_the_photo_outside_it(network):
    s = settings("--iterations", "10", "--style-weight", "100")
    photo = random_image(SIZE, SIZE, seed=5)
    inside = np.zeros((SIZE, SIZE), np.float32)
    inside[:, : SIZE // 2] = 1
    picture = passes.stylize(s, photo, [stripes(True, (200, 30, 30))], network, tile_px=SIZE,
                           masks=passes.Masks(content=inside))  # fmt: skip
    away_from_the_edge = SIZE // 2 + 4  # the feathered edge is about a pixel wide at this size
    np.testing.assert_allclose(picture[:, away_from_the_edge:], photo[:, away_from_the_edge:], atol=0.5)
    assert np.abs(picture[:, : SIZE // 2 - 4] - photo[:, : SIZE // 2 - 4]).mean() > 10  # painted inside


def test_masks_work_in_tiles_and_passes(network, tmp_path):
    """A tiled pass after a coarse one: each tile takes the guides of its own part of the masks, so
    each half of the tiled result has its own painting's style (the check of the untiled test)."""
    red_vertical, blue_horizontal = stripes(True, (200, 30, 30)), stripes(False, (30, 30, 200))
    s = settings("--style", "a", "b", "--scales", "32", "64", "--iterations", "12", "24", "--style-weight", "100")
    left = np.zeros((SIZE, SIZE), np.float32)
    left[:, : SIZE // 2] = 1
    content = np.full((SIZE, SIZE, 3), 128.0, np.float32)
    masks = passes.Masks(styles=(left, 1 - left), content=np.ones((SIZE, SIZE), np.float32))
    picture = passes.stylize(s, content, [red_vertical, blue_horizontal], network, tile_px=48, masks=masks)
    assert picture.shape == (SIZE, SIZE, 3) and np.isfinite(picture).all()
    for layer in ("conv1_1", "conv2_1"):
        for region, own, other in ((left, red_vertical, blue_horizontal), (1 - left, blue_horizontal, red_vertical)):
            gram = region_gram(network, picture, region, layer)
            to_own = np.linalg.norm(gram - region_gram(network, own, np.ones_like(region), layer))
            to_other = np.linalg.norm(gram - region_gram(network, other, np.ones_like(region), layer))
            # Both paintings blended over the whole picture, without masks, give 0.47-0.55 (the untiled test).
            assert to_own < 0.4 * to_other, (layer, to_own, to_other)


def test_a_painting_region_mask_takes_the_style_from_that_region_only(network):
    """A painting of red vertical stripes on its left and blue horizontal ones on its right: with a
    region mask of its right half, the picture takes the blue stripes' style."""
    painting = stripes(True, (200, 30, 30))
    painting[:, SIZE // 2 :] = stripes(False, (30, 30, 200))[:, SIZE // 2 :]
    right = np.zeros((SIZE, SIZE), np.float32)
    right[:, SIZE // 2 :] = 1
    s = settings("--iterations", "40", "--style-weight", "100")
    content = np.full((SIZE, SIZE, 3), 128.0, np.float32)
    masks = passes.Masks(paintings=(right,), mode="simple")
    picture = passes.stylize(s, content, [painting], network, tile_px=SIZE, masks=masks)
    everywhere = np.ones((SIZE, SIZE), np.float32)
    for layer in ("conv1_1", "conv2_1"):
        gram = region_gram(network, picture, everywhere, layer)
        to_blue = np.linalg.norm(gram - region_gram(network, painting, right, layer))
        to_red = np.linalg.norm(gram - region_gram(network, painting, 1 - right, layer))
        assert to_blue < 0.6 * to_red, (layer, to_blue, to_red)  # without the region mask: about 1


def test_a_mask_of_another_size_is_resized_and_said_once(tmp_path):
    photo = load_image("images/cincinnati_bridge.jpg")
    half = (photo.shape[1] // 2, photo.shape[0] // 2)
    mask = np.zeros((half[1], half[0], 3), np.uint8)
    mask[:, : half[0] // 2] = 255
    cv2.imwrite(str(tmp_path / "left.png"), mask)
    done = run_main(
        "--content-mask", tmp_path / "left.png", "--size", "32", "--iterations", "1", "--output-dir", tmp_path / "out"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"note: mask {tmp_path / 'left.png'} resized from {half[0]}x{half[1]} px") == 1
    # The mask used is the resized one: its right half, beyond the feathered edge, keeps the photo.
    (final,) = (tmp_path / "out").glob("*/*-final.png")
    picture = cv2.imread(str(final)).astype(np.float32)
    height, width = picture.shape[:2]
    shrunk = cv2.resize(cv2.imread("images/cincinnati_bridge.jpg"), (width, height), interpolation=cv2.INTER_AREA)
    beyond_the_edge = width // 2 + 4
    np.testing.assert_allclose(picture[:, beyond_the_edge:], shrunk[:, beyond_the_edge:], atol=1)
    assert np.abs(picture[:, : width // 2 - 4] - shrunk[:, : width // 2 - 4]).mean() > 5
