"""Gatys et al.'s losses: Stylizer.losses against the same formulas in float64 numpy on the network's
features, its gradient against finite differences, and one Adam step against numpy."""

import numpy as np
import pytest
from conftest import adam_step, loss_values, make_optimizer, random_image

import vgg_model
from neural_style.model.losses import total_variation

# Unequal weights, so that a layer's weight applied to the wrong layer shows.
CONTENT_LAYERS = {"conv4_2": 1.0}
STYLE_LAYERS = {"conv1_1": 0.1, "conv2_1": 0.3, "conv3_1": 0.2, "conv4_1": 0.25, "conv5_1": 0.15}
CONTENT_WEIGHT, STYLE_WEIGHT = 1.0, 2.0


@pytest.fixture(scope="module")
def network(tf, vgg_weights):
    return vgg_model.VGG19(vgg_weights, [*CONTENT_LAYERS, *STYLE_LAYERS])


def features(network, image):
    """{layer: (M, N) float64 array} of the network's features of an (h, w, 3) image."""
    import tensorflow as tf

    return {
        name: value.numpy()[0].reshape(-1, value.shape[-1]).astype(np.float64)
        for name, value in network(tf.constant(np.asarray(image, np.float32)[None])).items()
    }


def numpy_losses(network, content, styles, blend, image):
    """(content, style, total) as in the paper, in float64. Each Gram matrix is divided by its own
    number of positions M, so for one painting of the photo's size this is exactly
    w_l / (4 N^2 M^2) * sum (G - A)^2."""
    f_image, f_content = features(network, image), features(network, content)
    f_styles = [features(network, style) for style in styles]
    content_loss = sum(
        weight * 0.5 * np.sum((f_image[name] - f_content[name]) ** 2) for name, weight in CONTENT_LAYERS.items()
    )
    style_loss = 0.0
    for name, weight in STYLE_LAYERS.items():
        F = f_image[name]
        M, N = F.shape
        G = F.T @ F
        A = sum(b * (S[name].T @ S[name]) / S[name].shape[0] for b, S in zip(blend, f_styles))
        style_loss += weight * np.sum((G / M - A) ** 2) / (4.0 * N**2)
    return content_loss, style_loss, CONTENT_WEIGHT * content_loss + STYLE_WEIGHT * style_loss


def paper_style_loss(network, style, image):
    """Eq. 4-5 of the paper literally (same-size images): sum_l w_l / (4 N^2 M^2) sum (G - A)^2."""
    f_image, f_style = features(network, image), features(network, style)
    total = 0.0
    for name, weight in STYLE_LAYERS.items():
        F, S = f_image[name], f_style[name]
        M, N = F.shape
        assert S.shape == (M, N)
        total += weight / (4.0 * N**2 * M**2) * np.sum((F.T @ F - S.T @ S) ** 2)
    return total


def build(network, content, styles, start, blend=None, optimizer="adam"):
    return make_optimizer(
        network,
        content,
        styles,
        start,
        style_blend=blend,
        content_layers=CONTENT_LAYERS,
        style_layers=STYLE_LAYERS,
        content_weight=CONTENT_WEIGHT,
        style_weight=STYLE_WEIGHT,
        optimizer=optimizer,
    )


# Images with different colour statistics, so that no loss term is a small difference of large numbers.
CONTENT = random_image(24, 32, seed=10)
STYLE = random_image(24, 32, seed=11, low=0, high=120)
START = random_image(24, 32, seed=12, low=60, high=255)


def test_losses_match_numpy(network):
    optimizer = build(network, CONTENT, [STYLE], START)
    expected = numpy_losses(network, CONTENT, [STYLE], [1.0], START)
    actual = loss_values(optimizer, START)
    np.testing.assert_allclose(actual, expected, rtol=1e-4)
    np.testing.assert_allclose(actual[1], paper_style_loss(network, STYLE, START), rtol=1e-4)
    assert min(expected) > 0 and CONTENT_WEIGHT * expected[0] > 0.05 * STYLE_WEIGHT * expected[1]  # both count


def test_losses_are_zero_at_the_targets(network):
    optimizer = build(network, CONTENT, [CONTENT], START)
    content, style, total = loss_values(optimizer, CONTENT)
    reference = loss_values(optimizer, START)
    assert content == 0.0
    assert abs(style) <= 1e-6 * reference[1] and abs(total) <= 1e-6 * reference[2]


def test_style_image_of_another_size(network):
    style = random_image(40, 20, seed=13, low=0, high=120)  # other size and aspect than the 24 x 32 photo
    optimizer = build(network, CONTENT, [style], START)
    np.testing.assert_allclose(
        loss_values(optimizer, START), numpy_losses(network, CONTENT, [style], [1.0], START), rtol=1e-4
    )


def test_style_of_a_painting_does_not_depend_on_its_size(network):
    """A tiled painting has (nearly) the Gram matrices of one tile: the per-M normalization makes the
    style target independent of the painting's size."""
    tile = random_image(24, 32, seed=14, low=0, high=120)
    tiled = np.tile(tile, (2, 2, 1))
    small = loss_values(build(network, CONTENT, [tile], START), START)[1]
    large = loss_values(build(network, CONTENT, [tiled], START), START)[1]
    assert 0.8 < large / small < 1.25  # not 4x or 16x: only the borders differ


def test_two_paintings_blend_by_their_weights(network):
    other = random_image(28, 20, seed=15, low=100, high=200)
    optimizer = build(network, CONTENT, [STYLE, other], START, blend=[0.25, 0.75])
    np.testing.assert_allclose(
        loss_values(optimizer, START), numpy_losses(network, CONTENT, [STYLE, other], [0.25, 0.75], START), rtol=1e-4
    )


def test_gradient_matches_finite_differences(tf, network):
    """d total / d image from the tape against central differences of Stylizer.losses.

    The loss is a float32 scalar near 1e8, so each evaluation is rounded by ~1e-7 of it; and the
    ReLUs make it only piecewise smooth, so steps much above 0.1 gray level straddle kinks. A step
    of 0.1 keeps both errors near 1e-3 of the largest gradients; pixels with a small gradient are
    judged against the gradient's RMS over the image, as their rounding error does not shrink.
    """
    size = 16
    content, style = random_image(size, size, seed=1), random_image(size + 4, size - 2, seed=2, low=0, high=120)
    start = random_image(size, size, seed=3)
    optimizer = build(network, content, [style], start)
    image = tf.Variable(start[None])
    with tf.GradientTape() as tape:
        total = optimizer.loss(image)[-1]
    gradient = tape.gradient(total, image).numpy()[0].astype(np.float64)
    rms = np.sqrt(np.mean(gradient**2))
    assert rms > 0

    largest = [np.unravel_index(i, gradient.shape) for i in np.argsort(-np.abs(gradient).ravel())[:4]]
    rng = np.random.default_rng(0)
    random = [(int(rng.integers(size)), int(rng.integers(size)), int(rng.integers(3))) for _ in range(4)]
    h, x = 0.1, start.astype(np.float64)

    def central_difference(pixel):
        plus, minus = x.copy(), x.copy()
        plus[pixel] += h
        minus[pixel] -= h
        return (loss_values(optimizer, plus)[2] - loss_values(optimizer, minus)[2]) / (2 * h)

    for pixels, tolerance in ((largest, 1e-2), (random, 3e-2)):
        for pixel in pixels:
            estimate = central_difference(pixel)
            error = abs(estimate - gradient[pixel]) / max(abs(gradient[pixel]), rms)
            assert error < tolerance, f"pixel {pixel}: tape {gradient[pixel]:.6g}, differences {estimate:.6g}"


def test_total_variation_gradient_matches_numpy(tf):
    image = random_image(9, 13, seed=16)
    variable = tf.Variable(image[None])
    with tf.GradientTape() as tape:
        scaled = 3.0 * total_variation(variable)  # the gradient flowing in is passed on, times its own
    x = image.astype(np.float64)
    down, right = np.diff(x, axis=0), np.diff(x, axis=1)
    expected = np.zeros_like(x)
    expected[1:] += 2 * down
    expected[:-1] -= 2 * down
    expected[:, 1:] += 2 * right
    expected[:, :-1] -= 2 * right
    np.testing.assert_allclose(tape.gradient(scaled, variable).numpy()[0], 3.0 * expected, rtol=1e-5, atol=1e-3)


def test_adam_steps_match_numpy(tf, network):
    learning_rate, beta1, beta2, epsilon = 2.0, 0.9, 0.999, 1e-8
    start = START.copy()
    start[:4, :4] = 255.0  # pixels at the top of the range: the step must keep them inside it
    optimizer = build(network, CONTENT, [STYLE], start)

    def gradient_at(image):
        variable = tf.Variable(np.asarray(image, np.float32)[None])
        with tf.GradientTape() as tape:
            total = optimizer.loss(variable)[-1]
        return tape.gradient(total, variable).numpy()[0].astype(np.float64)

    x, m, v = start.astype(np.float64), 0.0, 0.0
    for t in (1, 2):
        g = gradient_at(x)
        expected_losses = loss_values(optimizer, x)
        losses = adam_step(optimizer)
        np.testing.assert_allclose(losses, expected_losses, rtol=1e-5)  # the losses before the step
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g**2
        x = np.clip(x - learning_rate * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + epsilon), 0, 255)
        assert int(optimizer.step) == t
        np.testing.assert_allclose(optimizer.result(), x, atol=2e-3)
    assert np.abs(x - start).max() > 1.0 and x.max() <= 255.0


def test_bfloat16_gradient_and_optimization_follow_float32(tf, vgg_weights, network):
    """bfloat16 is the default where the CPU multiplies it: its gradient must point where float32's
    does, and L-BFGS driven by it must lower the float32 loss as far as float32 itself does."""
    rounded_network = vgg_model.VGG19(vgg_weights, [*CONTENT_LAYERS, *STYLE_LAYERS], precision="bfloat16")
    content, style = random_image(48, 64, seed=21), random_image(40, 56, seed=22, low=0, high=120)
    start = random_image(48, 64, seed=23, low=60, high=255)
    exact, rounded = (build(n, content, [style], start, optimizer="lbfgs") for n in (network, rounded_network))
    exact_gradient, rounded_gradient = (
        s.loss_and_gradient()[1].numpy().ravel().astype(np.float64) for s in (exact, rounded)
    )
    cosine = exact_gradient @ rounded_gradient / np.linalg.norm(exact_gradient) / np.linalg.norm(rounded_gradient)
    assert cosine > 0.99

    start_loss, reached = loss_values(exact, start)[2], {}
    for name, optimizer in (("float32", exact), ("bfloat16", rounded)):
        optimizer.run(30, lambda progress: None)
        reached[name] = loss_values(exact, optimizer.result())[2]  # judged in float32
    assert reached["float32"] < 0.5 * start_loss, (start_loss, reached)
    assert reached["bfloat16"] < 1.05 * reached["float32"], reached
