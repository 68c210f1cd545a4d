"""The baselines our step is measured against: the same problem written the way TensorFlow's style
transfer tutorial writes it, and the step's convolutions alone, the floor of any step that computes
them."""

import time

import numpy as np

from neural_style.model.tf_setup import tf


class TutorialBaseline:
    """The same problem written the way TensorFlow's style transfer tutorial writes it
    (tensorflow.org/tutorials/generative/style_transfer): keras.applications.VGG19 with its weights
    set from ours, a Keras Model returning the style and content layers, Gram matrices by einsum,
    total variation from shifted slices of the image, and a tf.function train step with GradientTape
    and a Keras Adam. The image lives in 0..1 as in the tutorial.

    It solves exactly our problem, so that its time to our loss can be measured: its max pooling
    layers are replaced by average pooling when ours averages (and pool as ours do, padding "same"),
    its total variation is the squared one ours uses, and its weights and layers are ours;
    `same_problem` checks that its loss at the start equals ours.

    In bfloat16 it is the tutorial with the one line a Keras user would add, the global policy
    "mixed_bfloat16", set only while its network is built (a Keras layer keeps the policy it was built
    under), so that another baseline in the same process stays float32; its outputs are cast to float32
    before the Gram matrices, as ours are summed."""

    def __init__(self, settings, weights, content, styles, start_image, precision="float32"):
        s = settings
        mixed_precision = tf.keras.mixed_precision
        previous_policy = mixed_precision.global_policy()
        mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
        try:
            vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
            pooling = {"avg": tf.keras.layers.AveragePooling2D, "max": tf.keras.layers.MaxPooling2D}[s.pooling]

            def our_pooling(layer):
                if isinstance(layer, tf.keras.layers.MaxPooling2D):
                    return pooling(2, 2, padding="same", name=layer.name, dtype=layer.dtype_policy)
                return layer.__class__.from_config(layer.get_config())

            vgg = tf.keras.models.clone_model(vgg, clone_function=our_pooling)
        finally:
            mixed_precision.set_global_policy(previous_policy)
        for name, kernel in weights.kernels.items():
            if name == "conv1_1":
                kernel = kernel[:, :, ::-1, :]  # preprocess_input hands Keras' network BGR
            vgg.get_layer(keras_layer(name)).set_weights([kernel, weights.biases[name]])
        vgg.trainable = False
        self.style_layers, self.content_layers = list(s.style_layers), list(s.content_layers)
        self.model = tf.keras.Model(
            vgg.input, [vgg.get_layer(keras_layer(name)).output for name in self.style_layers + self.content_layers]
        )
        if {output.dtype for output in self.model.outputs} != {precision}:
            raise RuntimeError(f"the {precision} baseline's network computes in {self.model.outputs[0].dtype}")
        self.style_targets = self.extract(tf.constant(styles[0][None] / 255.0))[0]  # the first painting
        self.content_targets = self.extract(tf.constant(content[None] / 255.0))[1]
        self.style_weights, self.content_weights = list(s.style_layers.values()), list(s.content_layers.values())
        self.settings, self.precision = s, precision
        self.image = tf.Variable(start_image[None] / 255.0, dtype=tf.float32)
        self.optimizer = tf.keras.optimizers.Adam(learning_rate=s.learning_rate / 255.0)
        self.compiled_train_step = tf.function(self.train_step)

    def gram_matrix(self, features):
        shape = tf.shape(features)
        return tf.linalg.einsum("bijc,bijd->bcd", features, features) / tf.cast(shape[1] * shape[2], tf.float32)

    def extract(self, image):
        """(Gram matrices of the style layers, features of the content layers) of a 0..1 image."""
        outputs = [
            tf.cast(output, tf.float32)
            for output in self.model(tf.keras.applications.vgg19.preprocess_input(image * 255.0))
        ]
        return (
            [self.gram_matrix(output) for output in outputs[: len(self.style_layers)]],
            outputs[len(self.style_layers) :],
        )

    def loss(self):
        s = self.settings
        grams, features = self.extract(self.image)
        style = tf.add_n(
            [
                w * tf.reduce_sum((g - t) ** 2) / (4.0 * g.shape[-1] ** 2)
                for w, g, t in zip(self.style_weights, grams, self.style_targets)
            ]
        )
        content = tf.add_n(
            [
                w * 0.5 * tf.reduce_sum((f - t) ** 2)
                for w, f, t in zip(self.content_weights, features, self.content_targets)
            ]
        )
        pixels = self.image * 255.0
        x_deltas, y_deltas = pixels[:, :, 1:, :] - pixels[:, :, :-1, :], pixels[:, 1:, :, :] - pixels[:, :-1, :, :]
        tv = tf.reduce_sum(x_deltas**2) + tf.reduce_sum(y_deltas**2)
        return s.content_weight * content + s.style_weight * style + s.tv_weight * tv

    def same_problem(self, ours):
        """Raise unless this baseline's loss at its current image is ours (`ours`: an ImageOptimizer at
        the same image), within the rounding of its precision."""
        baseline_loss, our_loss = float(self.loss()), float(ours.loss(ours.image)[-1])
        tolerance = 0.02 if self.precision == "bfloat16" else 1e-3
        if abs(baseline_loss - our_loss) > tolerance * our_loss:
            raise RuntimeError(f"the tutorial baseline's loss {baseline_loss:.6g} is not ours {our_loss:.6g}")

    def train_step(self):
        with tf.GradientTape() as tape:
            loss = self.loss()
        gradient = tape.gradient(loss, self.image)
        self.optimizer.apply_gradients([(gradient, self.image)])
        self.image.assign(tf.clip_by_value(self.image, 0.0, 1.0))
        return loss

    def timed_iterations(self, count):
        return seconds_of_each(lambda: float(self.compiled_train_step()), count)


class ConvolutionFloor:
    """The step's convolutions alone: every convolution of `network`, forward and as the input gradient,
    on inputs of the shapes they have in a step on a height x width image, in the network's precision,
    by the same kernels its step uses, and nothing else (no bias, ReLU, pooling, losses or update).
    The step can be no faster than this."""

    def __init__(self, network, height, width):
        rng = np.random.default_rng(0)
        self.inputs = []
        for name in network.pipeline:
            if name not in network.kernels:
                height, width = -(-height // 2), -(-width // 2)  # SAME pooling rounds up
                continue
            channels_in, channels_out = network.kernels[name].shape[2:]
            self.inputs += [
                tf.constant(rng.uniform(0, 1, (1, height, width, channels_in)), network.dtype),
                tf.constant(rng.normal(0, 1, (1, height, width, channels_out)), network.dtype),
            ]
        convolutions = [
            (network.kernels[name], network.turned_kernels[name])
            for name in network.pipeline
            if name in network.kernels
        ]

        def convolve_all(*inputs):
            outputs = []
            for (kernel, turned_kernel), x, dy in zip(convolutions, inputs[::2], inputs[1::2]):
                outputs += [network.forward(x, kernel, turned_kernel), network.backward(dy, turned_kernel, kernel)]
            return tf.stack([tf.cast(output[0, 0, 0, 0], tf.float32) for output in outputs])  # every one is run

        # The inputs are arguments, not constants, so that Grappler cannot compute the convolutions ahead.
        self.compiled = tf.function(convolve_all)

    def timed_iterations(self, count):
        return seconds_of_each(lambda: self.compiled(*self.inputs).numpy(), count)


def seconds_of_each(call, count):
    """Wall seconds of each of `count` calls of call(), which returns only once its work is done."""
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def keras_layer(name):
    """conv4_2 -> block4_conv2"""
    block, index = name[4:].split("_")
    return f"block{block}_conv{index}"


def baseline_name(precision):
    return "the tutorial with mixed_bfloat16" if precision == "bfloat16" else "the tutorial"
