"""Spatial control's guides: guided Gram matrices against float64 numpy, guides on every layer's grid,
"inside" guides against the paper's way of finding them (probing the network with noise outside the
region), the guided style loss, and the masks a user can get wrong. VGG19 runs with random weights:
only its structure matters here, so no weights are fetched."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import vgg_model
from neural_style.errors import MaskError
from neural_style.model.guides import layer_guides, load_mask
from neural_style.model.losses import gram_matrix, painting_grams, style_loss
from neural_style.model.tf_setup import tf


@pytest.fixture(scope="module")
def network():
    """VGG19 with random He-scaled kernels and no biases, every layer out, in float32."""
    rng = np.random.default_rng(0)
    kernels = {
        name: rng.normal(0, np.sqrt(2 / np.prod(kernel[:3])), kernel).astype(np.float32)
        for name, (kernel, _) in vgg_model.expected_shapes().items()
    }
    biases = {name: np.zeros(bias, np.float32) for name, (_, bias) in vgg_model.expected_shapes().items()}
    weights = SimpleNamespace(kernels=kernels, biases=biases, mean_rgb=np.full(3, 127.5, np.float32))
    return vgg_model.VGG19(weights, vgg_model.LAYERS, precision="float32")


def numpy_guided_gram(features, guide):
    flat = features.reshape(-1, features.shape[-1]).astype(np.float64) * guide.reshape(-1, 1)
    return flat.T @ flat / np.sum(guide.astype(np.float64) ** 2)


def test_guided_gram_matrix_matches_numpy():
    rng = np.random.default_rng(1)
    features = rng.uniform(0, 3, (1, 7, 9, 5)).astype(np.float32)
    guide = rng.uniform(0, 1, (7, 9)).astype(np.float32)
    got = gram_matrix(tf.constant(features), guide).numpy()
    np.testing.assert_allclose(got, numpy_guided_gram(features, guide), rtol=1e-5)


def test_guided_gram_matrix_gradient_matches_numpy():
    rng = np.random.default_rng(11)
    features = rng.uniform(0, 3, (1, 5, 6, 4)).astype(np.float32)
    guide = rng.uniform(0, 1, (5, 6)).astype(np.float32)
    upstream = rng.uniform(-1, 1, (4, 4)).astype(np.float32)
    tensor = tf.constant(features)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        weighted = tf.reduce_sum(gram_matrix(tensor, guide) * upstream)
    got = tape.gradient(weighted, tensor).numpy()
    g = guide.reshape(-1, 1).astype(np.float64)  # d/dF sum(U * (F g)^T (F g) / sum(g^2))
    flat = features.reshape(-1, 4).astype(np.float64) * g
    expected = g * (flat @ (upstream + upstream.T)) / np.sum(g**2)
    np.testing.assert_allclose(got, expected.reshape(features.shape), rtol=1e-5, atol=1e-6)


def test_a_guide_of_ones_gives_exactly_the_unguided_gram_matrix():
    features = np.random.default_rng(2).uniform(0, 3, (1, 6, 11, 4)).astype(np.float32)
    got = gram_matrix(tf.constant(features), np.ones((6, 11), np.float32)).numpy()
    flat = features.reshape(-1, 4).astype(np.float64)
    np.testing.assert_allclose(got, flat.T @ flat / flat.shape[0], rtol=1e-6)
    np.testing.assert_array_equal(got, gram_matrix(tf.constant(features)).numpy())


@pytest.mark.parametrize("mode", ["inside", "simple"])
def test_guides_lie_on_the_grid_of_every_layer_at_odd_sizes(network, mode):
    features = network(tf.constant(np.full((1, 37, 53, 3), 100.0, np.float32)))
    guides = layer_guides(np.ones((37, 53), np.float32), vgg_model.LAYERS, mode)
    assert {name: guide.shape for name, guide in guides.items()} == {
        name: tuple(value.shape[1:3]) for name, value in features.items()
    }
    assert all(guide.dtype == np.float32 and np.all(guide == 1) for guide in guides.values())


def disc_and_corner(rows, columns):
    mask = ((rows - 40) ** 2 + (columns - 30) ** 2 < 20**2).astype(np.float32)  # a disc near the bottom border
    mask[:12, :10] = 1  # and a patch in a corner, narrower than most receptive fields
    return mask


def all_but_a_corner(rows, columns):  # a region that deep layers still see
    return ((rows >= 6) | (columns >= 6)).astype(np.float32)


@pytest.mark.parametrize("region", [disc_and_corner, all_but_a_corner])
def test_inside_guides_are_the_neurons_that_see_only_the_region(network, region):
    """The paper's own way: noise outside the region, the mean colour inside; a neuron is inside when
    its response is the same for two noise images."""
    height, width = 64, 56
    mask = region(*np.mgrid[:height, :width])
    outside = mask < 0.5
    noise = np.random.default_rng(3).normal(0, 100, (2, height, width, 3)).astype(np.float32)
    features = network(tf.constant(127.5 + noise * outside[None, :, :, None]))
    guides = layer_guides(mask, vgg_model.LAYERS, "inside")
    for name, value in features.items():
        variance = value.numpy().var(axis=0).mean(axis=-1)
        assert np.array_equal(guides[name], (variance <= 1e-9 * variance.max()).astype(np.float32)), name
    assert guides["conv3_1"].any() and not guides["pool5"].any()


def test_inside_guides_shrink_a_region_along_its_edges_within_the_image():
    rows, columns = np.mgrid[:48, :64]
    mask = (columns < 40).astype(np.float32)  # touches the top, bottom and left borders
    inside, simple = layer_guides(mask, vgg_model.LAYERS, "inside"), layer_guides(mask, vgg_model.LAYERS, "simple")
    np.testing.assert_array_equal(simple["conv1_1"], mask)
    np.testing.assert_array_equal(inside["conv1_1"], (columns < 39).astype(np.float32))  # the edge, not the borders
    for name in vgg_model.LAYERS:
        assert np.all(inside[name] <= simple[name]), name
        assert inside[name].sum() < simple[name].sum(), name
    grown = layer_guides(mask, ["conv4_1"], "inside", grow_positions=2)["conv4_1"]
    assert np.all(grown >= inside["conv4_1"]) and grown.sum() == inside["conv4_1"].sum() + 2 * grown.shape[0]


def test_half_and_half_guides_hold_half_the_mass_on_every_layer():
    left = np.zeros((48, 64), np.float32)
    left[:, :32] = 1
    for name in vgg_model.LAYERS:
        simple = [layer_guides(region, [name], "simple")[name] for region in (left, 1 - left)]
        assert [guide.mean() for guide in simple] == [0.5, 0.5], name
        inside = [layer_guides(region, [name], "inside")[name].mean() for region in (left, 1 - left)]
        assert inside[0] == inside[1] <= 0.5, name
    assert layer_guides(left, ["conv1_1"], "inside")["conv1_1"].mean() == 31 / 64


def test_guided_style_targets_of_a_whole_painting_are_its_gram_matrices(network):
    painting = np.random.default_rng(4).uniform(0, 255, (32, 40, 3)).astype(np.float32)
    features = network(tf.constant(painting[None]))
    whole = painting_grams(network, painting, ["conv1_1", "conv3_1", "conv5_1"])
    for name, target in whole.items():
        np.testing.assert_array_equal(target.numpy(), gram_matrix(features[name]).numpy())
    left = np.zeros((32, 40), np.float32)
    left[:, :20] = 1
    region = painting_grams(network, painting, ["conv1_1", "conv5_1"], left)
    assert list(region) == ["conv1_1"]  # no conv5_1 neuron sees only half of a 40 px painting
    expected = numpy_guided_gram(features["conv1_1"].numpy(), layer_guides(left, ["conv1_1"])["conv1_1"])
    np.testing.assert_allclose(region["conv1_1"].numpy(), expected, rtol=1e-5)


def test_guided_style_loss_matches_numpy_and_is_the_plain_style_loss_for_one_whole_region():
    rng = np.random.default_rng(5)
    style_layers = {"conv1_1": 0.3, "conv2_1": 0.7}
    features = {"conv1_1": rng.uniform(0, 2, (1, 8, 12, 3)), "conv2_1": rng.uniform(0, 2, (1, 4, 6, 5))}
    targets = [{name: rng.uniform(0, 1, (f.shape[-1],) * 2) for name, f in features.items()} for _ in range(2)]
    sky = np.zeros((8, 12), np.float32)
    sky[:3] = 1
    guides = [layer_guides(region, list(style_layers), "simple") for region in (sky, 1 - sky)]
    guides[0]["conv2_1"][:] = 0  # an empty guide: its term is left out
    tensors = {name: tf.constant(f, tf.float32) for name, f in features.items()}
    targets_f32 = [{name: tf.constant(a, tf.float32) for name, a in t.items()} for t in targets]

    def numpy_term(region_weight, name, guide, target):
        gram = numpy_guided_gram(features[name], guide)
        return region_weight * style_layers[name] * np.sum((gram - target) ** 2) / (4 * features[name].shape[-1] ** 2)

    expected = sum(
        numpy_term(v, name, g[name], t[name])
        for v, g, t in zip([0.25, 0.75], guides, targets)
        for name in style_layers
        if g[name].any()
    )
    got = style_loss(tensors, list(zip(guides, targets_f32, [0.25, 0.75])), style_layers)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)

    def plain_term(name, weight):  # the unguided loss of losses.py: F^T F / M against the target
        flat = features[name].reshape(-1, features[name].shape[-1])
        return weight * np.sum((flat.T @ flat / flat.shape[0] - targets[0][name]) ** 2) / (4 * flat.shape[1] ** 2)

    whole = [layer_guides(np.ones((8, 12), np.float32), list(style_layers))]
    got = style_loss(tensors, [(whole[0], targets_f32[0], 1.0)], style_layers)
    np.testing.assert_allclose(float(got), sum(plain_term(*item) for item in style_layers.items()), rtol=1e-5)
    got = style_loss(tensors, [(None, targets_f32[0], 1.0)], style_layers)  # no guide: the same
    np.testing.assert_allclose(float(got), sum(plain_term(*item) for item in style_layers.items()), rtol=1e-5)


def write_grey(path, pixels):
    assert cv2.imwrite(str(path), np.asarray(pixels, np.uint8))
    return str(path)


def test_a_mask_of_another_size_and_the_same_aspect_is_resized(tmp_path):
    pixels = np.zeros((40, 60), np.uint8)
    pixels[:, :30] = 255
    mask, file_shape = load_mask(write_grey(tmp_path / "half.png", pixels), 20, 30)
    assert file_shape == (40, 60) and mask.shape == (20, 30) and mask.dtype == np.float32
    np.testing.assert_allclose(mask[:, :15], 1)
    np.testing.assert_allclose(mask[:, 15:], 0, atol=1e-7)
    same, file_shape = load_mask(str(tmp_path / "half.png"), 40, 60)
    assert file_shape == (40, 60) and np.array_equal(same, pixels / np.float32(255))


@pytest.mark.parametrize("kind, words", [("text", "not in a format"), ("black", "no region"), ("aspect", "1.500")])
def test_a_mask_that_cannot_be_used_is_refused_in_one_line(tmp_path, kind, words):
    if kind == "text":
        path = tmp_path / "mask.png"
        path.write_text("the sky, please\n")
        path = str(path)
    elif kind == "black":
        path = write_grey(tmp_path / "mask.png", np.full((40, 60), 20))
    else:
        path = write_grey(tmp_path / "mask.png", np.full((40, 60), 255))
    with pytest.raises(MaskError) as error:
        load_mask(path, 40, 40)
    message = str(error.value)
    assert "\n" not in message and path in message and words in message
    if kind == "aspect":
        assert "1.000" in message


@pytest.mark.parametrize("hidden", [0, 255], ids=["black", "white"])
def test_a_mask_drawn_on_a_transparent_layer_is_its_strokes(tmp_path, hidden):
    """Whatever colour the transparent part hides, it is outside the region; opaque grey levels stay."""
    bgra = np.full((40, 60, 4), hidden, np.uint8)
    bgra[:, :20] = (255, 255, 255, 255)  # a white stroke
    bgra[:, 20:30] = (128, 128, 128, 255)  # an opaque mid-grey one
    bgra[:, 30:, 3] = 0
    assert cv2.imwrite(str(tmp_path / "strokes.png"), bgra)
    mask, _ = load_mask(str(tmp_path / "strokes.png"), 40, 60)
    np.testing.assert_array_equal(mask[:, :20], 1)
    np.testing.assert_array_equal(mask[:, 20:30], np.float32(128 / 255))
    np.testing.assert_array_equal(mask[:, 30:], 0)


def test_a_region_mask_of_the_wrong_shape_names_its_painting_not_the_photo(tmp_path):
    from argparse import Namespace

    from neural_style.runs.painting import load_masks

    region = write_grey(tmp_path / "sky.png", np.full((40, 40), 255))
    settings = Namespace(style_masks=[], style_region_masks=[region], style_images=["wave.png"], content_mask=None,
                         mask_mode="inside")  # fmt: skip
    photo, painting = np.zeros((40, 40, 3), np.float32), np.zeros((40, 80, 3), np.float32)
    with pytest.raises(MaskError) as error:
        load_masks(settings, photo, [painting])
    assert "its painting wave.png is 80x40 px" in str(error.value) and "photo" not in str(error.value)
