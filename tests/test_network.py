"""The frozen VGG19: its outputs against a plain numpy forward pass, how far it is built, and that
the generated image is the program's only trainable variable."""

import gc

import numpy as np
import pytest
from conftest import CONTENT_LAYERS, STYLE_LAYERS, adam_step, make_optimizer, random_image

import vgg_model
from neural_style.model import tf_setup
from neural_style.model.losses import gram_matrix


def numpy_forward(weights, image, layers, pooling):
    """VGG19 in float64 numpy: mean subtraction, 3x3 'same' cross-correlations + bias + ReLU, 2x2 pooling."""
    x, features = image.astype(np.float64) - weights.mean_rgb.astype(np.float64), {}
    for name in vgg_model.LAYERS[: max(vgg_model.LAYERS.index(n) for n in layers) + 1]:
        if name.startswith("conv"):
            kernel, bias = weights.kernels[name].astype(np.float64), weights.biases[name].astype(np.float64)
            height, width = x.shape[:2]
            padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
            out = np.broadcast_to(bias, (height, width, bias.size)).copy()
            for dy in range(3):
                for dx in range(3):
                    out += padded[dy : dy + height, dx : dx + width] @ kernel[dy, dx]
            x = np.maximum(out, 0)
        else:
            height, width, channels = x.shape
            assert height % 2 == 0 and width % 2 == 0, "use sizes that pool evenly"
            blocks = x.reshape(height // 2, 2, width // 2, 2, channels)
            x = blocks.mean(axis=(1, 3)) if pooling == "avg" else blocks.max(axis=(1, 3))
        if name in layers:
            features[name] = x
    return features


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_features_match_a_numpy_forward_pass(tf, vgg_weights, pooling):
    layers = ["conv1_1", "conv1_2", "pool1", "conv2_1", "pool2", "conv3_1"]
    image = random_image(12, 16, seed=3)
    features = vgg_model.VGG19(vgg_weights, layers, pooling)(tf.constant(image[None]))
    expected = numpy_forward(vgg_weights, image, layers, pooling)
    assert set(features) == set(layers)
    for name in layers:
        actual = features[name].numpy()[0]
        assert actual.shape == expected[name].shape, name
        scale = np.abs(expected[name]).max()
        assert scale > 0, name
        np.testing.assert_allclose(actual, expected[name], rtol=1e-4, atol=1e-5 * scale, err_msg=name)


@pytest.mark.parametrize("forward", [vgg_model.convolve_forward, vgg_model.convolve_as_input_gradient])
@pytest.mark.parametrize("backward", [vgg_model.convolve_forward, vgg_model.convolve_as_input_gradient])
def test_each_way_to_convolve_gives_the_plain_networks_features_and_gradient(tf, vgg_weights, forward, backward):
    """The network picks its convolution kernels by the CPU; whichever it picks, its features and their
    gradient are those of the plain network differentiated by autodiff."""
    layers = ["conv1_1", "conv2_1", "conv3_1"]
    network = vgg_model.VGG19(vgg_weights, layers)
    network.forward, network.backward = forward, backward

    def plain(x):
        x, features = x - network.mean, {}
        for name in network.pipeline:
            if name in network.kernels:
                x = tf.nn.relu(tf.nn.conv2d(x, network.kernels[name], 1, "SAME") + network.biases[name])
            else:
                x = tf.nn.avg_pool2d(x, 2, 2, "SAME")
            if name in layers:
                features[name] = x
        return features

    image = tf.Variable(random_image(12, 16, seed=5)[None])
    rng = np.random.default_rng(6)
    results = []
    for run in (plain, network):
        with tf.GradientTape() as tape:
            features = run(image)
            if not results:
                projections = {name: rng.normal(size=f.shape).astype(np.float32) for name, f in features.items()}
            total = tf.add_n([tf.reduce_sum(features[name] * projections[name]) for name in layers])
        results.append(({name: f.numpy() for name, f in features.items()}, tape.gradient(total, image).numpy()))
    (expected_features, expected_gradient), (features, gradient) = results
    for name in layers:
        scale = np.abs(expected_features[name]).max()
        np.testing.assert_allclose(features[name], expected_features[name], rtol=1e-4, atol=1e-5 * scale, err_msg=name)
    scale = np.abs(expected_gradient).max()
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-4, atol=1e-5 * scale)


def test_network_is_built_only_up_to_the_deepest_layer_asked(tf, vgg_weights):
    network = vgg_model.VGG19(vgg_weights, ["conv2_1"])
    assert tuple(network.pipeline) == ("conv1_1", "conv1_2", "pool1", "conv2_1")
    assert set(network.kernels) == {"conv1_1", "conv1_2", "conv2_1"}
    features = network(tf.constant(random_image(20, 24, seed=1)[None]))
    assert set(features) == {"conv2_1"}
    assert features["conv2_1"].shape == (1, 10, 12, 128)

    network = vgg_model.VGG19(vgg_weights, ["conv3_1", "conv1_1"])  # the order asked does not matter
    assert tuple(network.pipeline) == vgg_model.LAYERS[: vgg_model.LAYERS.index("conv3_1") + 1]
    features = network(tf.constant(random_image(20, 24, seed=1)[None]))
    assert set(features) == {"conv1_1", "conv3_1"}
    assert features["conv1_1"].shape == (1, 20, 24, 64) and features["conv3_1"].shape == (1, 5, 6, 256)


@pytest.mark.parametrize("layers", [["conv9_9"], ["conv1_1", "relu1_1"], ["conv4_2", "fc6"]])
def test_unknown_layer_raises_value_error(vgg_weights, layers):
    with pytest.raises(ValueError, match=layers[-1]):
        vgg_model.VGG19(vgg_weights, layers)


def variables_in(obj, found=None, seen=None):
    """tf.Variables reachable from obj through attributes, dicts, lists and tuples."""
    import tensorflow as tf

    found, seen = ([] if found is None else found), (set() if seen is None else seen)
    if id(obj) in seen:
        return found
    seen.add(id(obj))
    if isinstance(obj, tf.Variable):
        found.append(obj)
    elif isinstance(obj, dict):
        for value in obj.values():
            variables_in(value, found, seen)
    elif isinstance(obj, (list, tuple, set)):
        for value in obj:
            variables_in(value, found, seen)
    elif hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] in ("vgg_model", "neural_style"):
        variables_in(vars(obj), found, seen)
    return found


def all_variables(tf):
    variables = []
    for obj in gc.get_objects():
        try:
            if isinstance(obj, tf.Variable):
                variables.append(obj)
        except Exception:  # some proxies raise on isinstance
            pass
    return variables


def test_network_weights_are_constants(tf, vgg_weights):
    network = vgg_model.VGG19(vgg_weights, [*CONTENT_LAYERS, *STYLE_LAYERS])
    assert variables_in(network) == []
    tensors = [*network.kernels.values(), *network.biases.values(), network.mean]
    assert len(tensors) == 2 * 13 + 1  # conv1_1 .. conv5_1
    for tensor in tensors:
        assert isinstance(tensor, tf.Tensor) and not isinstance(tensor, tf.Variable)


def test_the_generated_image_is_the_only_trainable_variable(tf, vgg_weights, tmp_path):
    content, style = random_image(24, 32, seed=1), random_image(20, 28, seed=2)
    existing = all_variables(tf)  # kept alive, so that no new variable can reuse an id of theirs
    before = {id(v) for v in existing}
    network = vgg_model.VGG19(vgg_weights, [*CONTENT_LAYERS, *STYLE_LAYERS])
    optimizer = make_optimizer(network, content, [style], start_image=random_image(24, 32, seed=3))
    adam_step(optimizer)  # traces the compiled step: it must not create variables either

    new = [v for v in all_variables(tf) if id(v) not in before]
    assert [v for v in new if v.trainable] == [optimizer.image]
    assert [v for v in variables_in(optimizer) if v.trainable] == [optimizer.image]

    with tf.GradientTape() as tape:
        optimizer.loss(optimizer.image)
    assert list(tape.watched_variables()) == [optimizer.image]

    state = optimizer.state()  # what a checkpoint holds: the image and Adam's moments, no weights
    assert sorted(state) == ["adam_m", "adam_v", "image", "step"] and state["image"].shape == (24, 32, 3)


# --- bfloat16 -----------------------------------------------------------------------------------------------


def test_bfloat16_is_chosen_only_where_the_cpu_multiplies_it_and_onednn_is_on(tmp_path):
    with_bfloat16, without = tmp_path / "with", tmp_path / "without"
    with_bfloat16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    assert tf_setup.native_bfloat16(str(with_bfloat16), onednn=True)
    assert not tf_setup.native_bfloat16(str(without), onednn=True)
    assert not tf_setup.native_bfloat16(str(tmp_path / "no such file"), onednn=True)
    assert not tf_setup.native_bfloat16(str(with_bfloat16), onednn=False)  # Eigen emulates bfloat16, many times slower
    assert tf_setup.resolve_precision("auto") == ("bfloat16" if tf_setup.native_bfloat16() else "float32")
    assert [tf_setup.resolve_precision(p) for p in ("float32", "bfloat16")] == ["float32", "bfloat16"]


def test_bfloat16_features_are_the_float32_features_to_within_rounding(tf, vgg_weights):
    layers = [*CONTENT_LAYERS, *STYLE_LAYERS]
    image = tf.constant(random_image(48, 64, seed=8)[None])
    exact = vgg_model.VGG19(vgg_weights, layers, precision="float32")(image)
    rounded = vgg_model.VGG19(vgg_weights, layers, precision="bfloat16")(image)
    for name in layers:
        assert rounded[name].dtype == tf.bfloat16 and gram_matrix(rounded[name]).dtype == tf.float32, name
        error = np.linalg.norm(tf.cast(rounded[name], tf.float32).numpy() - exact[name].numpy()) / np.linalg.norm(
            exact[name].numpy()
        )
        assert 0 < error < 0.015, (name, error)  # bfloat16 keeps 8 bits of mantissa: up to 0.4 % per rounding


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_gram_matrix_of_rounded_features_is_within_2_to_the_minus_9_of_the_exact_sum(tf, precision):
    # Rectified features (non-negative), more rows than blocks and not a multiple of them. One rounding
    # to bfloat16 (8 significant bits) is within 2^-8 of the value; the float32 sum of the 16 blocks'
    # roundings partly cancels them, which keeps these features' entries within 2^-9. Summing the blocks
    # in bfloat16 rounds at every addition and breaks the bound (by more than 2^-8).
    scales = np.random.default_rng(4).uniform(0, 3, 48).astype(np.float32)
    features = np.maximum(np.random.default_rng(5).normal(size=(1, 61, 67, 48)).astype(np.float32) * scales, 0)
    rounded = tf.cast(tf.constant(features), precision)
    flat = tf.cast(rounded, tf.float64).numpy().reshape(-1, 48)
    exact = flat.T @ flat / flat.shape[0]
    got = gram_matrix(rounded).numpy()
    assert got.dtype == np.float32
    bound = 2.0**-9 if precision == "bfloat16" else 1e-6
    assert np.max(np.abs(got - exact) / exact) <= bound
