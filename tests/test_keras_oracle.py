"""The network and its weights against an oracle that is not ours: Keras' own VGG19, which loads the
weights from a Keras .h5 with its own reader and preprocesses with its own preprocess_input. Our
cached weights are written back as the .h5 Keras publishes (the first layer's inputs in BGR)."""

import numpy as np
from conftest import random_image
from test_weights import write_h5

import vgg_model

LAYERS = {"conv1_1": "block1_conv1", "conv4_2": "block4_conv2"}


def test_our_vgg19_gives_keras_own_features_at_two_layers(tf, vgg_weights, tmp_path):
    path = write_h5(tmp_path / "vgg19_notop.h5", vgg_weights.kernels, vgg_weights.biases)
    keras = tf.keras.applications.VGG19(include_top=False, weights=path)
    model = tf.keras.Model(keras.input, [keras.get_layer(name).output for name in LAYERS.values()])
    image = random_image(48, 64, seed=11)  # RGB, 0..255
    expected = model(tf.keras.applications.vgg19.preprocess_input(image[None].copy()))
    ours = vgg_model.VGG19(vgg_weights, list(LAYERS), pooling="max", precision="float32")(tf.constant(image[None]))
    for (name, keras_name), keras_features in zip(LAYERS.items(), expected):
        want = keras_features.numpy()
        assert np.abs(want).max() > 1, keras_name  # a real response, not zeros
        np.testing.assert_allclose(ours[name].numpy(), want, rtol=1e-4, atol=1e-3 * np.abs(want).max(), err_msg=name)
