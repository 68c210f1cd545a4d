"""The optimization of Gatys, Ecker and Bethge: find the image whose VGG19 features match the photo's
content and the painting's style.

Losses follow the paper (arXiv 1508.06576, eqs. 1-5):
  content = sum over content layers l of w_l * 1/2 * sum (F_l - P_l)^2
  style   = sum over style layers l of w_l * 1/(4 N_l^2 M_l^2) * sum (G_l - A_l)^2
  total   = content_weight * content + style_weight * style + tv_weight * total variation
where F_l is the (M_l positions x N_l channels) feature map of the generated image, P_l the photo's,
and G_l = F_l^T F_l, A_l the Gram matrices of the generated image and of the painting. Each Gram
matrix is divided by its own M_l before the difference (the same thing when both images have the
same size), so that a painting of any size gives targets on the right scale. Several paintings
blend by a weighted sum of their Gram matrices. Total variation is the sum of squared differences
between neighbouring pixels; it smooths away high-frequency speckle.
"""
import time
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from vgg_model import import_tensorflow

tf = import_tensorflow()

ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8
OPTIMIZERS = ("adam", "lbfgs")


@dataclass
class Progress:
    step: int  # optimizer iterations taken so far in this pass
    content_loss: float
    style_loss: float
    tv_loss: float
    total_loss: float
    step_s: float  # wall time of this iteration


def gram_matrix(features):
    """F^T F / M for a (1, height, width, N) feature map, F being its (M = height*width) x N reshape."""
    channels = features.shape[-1]
    flat = tf.reshape(features, (-1, channels))
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(tf.shape(flat)[0], tf.float32)


def total_variation(image):
    return (tf.reduce_sum(tf.square(image[:, 1:, :, :] - image[:, :-1, :, :]))
            + tf.reduce_sum(tf.square(image[:, :, 1:, :] - image[:, :, :-1, :])))


def style_targets(network, styles, style_blend, style_layers, tile_px):
    """The blended Gram matrices {layer: G / M} of the paintings, each computed in tiles of at most
    tile_px so that a painting as large as a poster needs no more memory than one tile."""
    from tiling import tiled_gram_matrices
    grams = [tiled_gram_matrices(network, style, list(style_layers), tile_px) for style in styles]
    return {name: tf.add_n([blend * gram[name] for blend, gram in zip(style_blend, grams)]) for name in style_layers}


class Stylizer:
    """Owns the generated image (the program's only trainable variable), the loss targets, and the
    optimizer state, and runs Adam or L-BFGS on it."""

    def __init__(self, network, content, style_targets, start_image, content_layers, style_layers,
                 content_weight, style_weight, tv_weight):
        self.network = network
        self.content_layers, self.style_layers = dict(content_layers), dict(style_layers)
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        content_features = network(tf.constant(content[None]))
        self.content_targets = {name: content_features[name] for name in self.content_layers}
        self.style_targets = style_targets

        self.image = tf.Variable(start_image[None].astype(np.float32), name="image")
        self.adam_m = tf.Variable(tf.zeros_like(self.image), trainable=False, name="adam_m")
        self.adam_v = tf.Variable(tf.zeros_like(self.image), trainable=False, name="adam_v")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(image=self.image, adam_m=self.adam_m, adam_v=self.adam_v,
                                              step=self.step)

    def losses(self, image):
        """(content, style, total variation, total) for a (1, height, width, 3) image."""
        features = self.network(image)
        content = tf.add_n([weight * 0.5 * tf.reduce_sum(tf.square(features[name] - self.content_targets[name]))
                            for name, weight in self.content_layers.items()])
        style = tf.add_n([weight * tf.reduce_sum(tf.square(gram_matrix(features[name]) - self.style_targets[name]))
                          / (4.0 * features[name].shape[-1] ** 2) for name, weight in self.style_layers.items()])
        tv = total_variation(image)
        total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return content, style, tv, total

    @tf.function
    def loss_and_gradient(self):
        with tf.GradientTape() as tape:
            losses = self.losses(self.image)
        return losses, tape.gradient(losses[-1], self.image)

    @tf.function
    def adam_step(self, learning_rate):
        """One Adam step on the image, kept inside the pixel range; returns the losses before it."""
        losses, gradient = self.loss_and_gradient()
        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float32)
        self.adam_m.assign(ADAM_BETA1 * self.adam_m + (1 - ADAM_BETA1) * gradient)
        self.adam_v.assign(ADAM_BETA2 * self.adam_v + (1 - ADAM_BETA2) * tf.square(gradient))
        m_hat = self.adam_m / (1 - ADAM_BETA1 ** t)
        v_hat = self.adam_v / (1 - ADAM_BETA2 ** t)
        self.image.assign(tf.clip_by_value(self.image - learning_rate * m_hat / (tf.sqrt(v_hat) + ADAM_EPSILON),
                                           0.0, 255.0))
        return losses

    def run(self, optimizer, iterations, learning_rate, on_step):
        """Optimize until `iterations` iterations have been taken in all (a restored run continues),
        calling on_step(Progress) after each; on_step may raise StopIteration to stop early."""
        if optimizer == "adam":
            self._run_adam(iterations, learning_rate, on_step)
        else:
            self._run_lbfgs(iterations, on_step)

    def _run_adam(self, iterations, learning_rate, on_step):
        learning_rate = tf.constant(learning_rate, tf.float32)
        while int(self.step) < iterations:
            started = time.perf_counter()
            losses = [float(x) for x in self.adam_step(learning_rate)]
            try:
                on_step(Progress(int(self.step), *losses, time.perf_counter() - started))
            except StopIteration:
                return

    def _run_lbfgs(self, iterations, on_step):
        """One scipy L-BFGS-B run with the pixel range as bounds, driven by the compiled loss and gradient.

        L-BFGS keeps its curvature history in scipy, so a checkpoint holds only the image and the step:
        a resumed run restarts L-BFGS from the saved image.
        """
        shape, evaluated = self.image.shape, {}
        iteration_started = [time.perf_counter()]

        def loss_and_gradient(x):
            self.image.assign(x.reshape(shape).astype(np.float32))
            losses, gradient = self.loss_and_gradient()
            evaluated["losses"] = [float(value) for value in losses]
            return np.float64(evaluated["losses"][-1]), gradient.numpy().ravel().astype(np.float64)

        def callback(intermediate_result):
            self.image.assign(intermediate_result.x.reshape(shape).astype(np.float32))
            self.step.assign_add(1)
            now = time.perf_counter()
            step_s, iteration_started[0] = now - iteration_started[0], now
            on_step(Progress(int(self.step), *evaluated["losses"], step_s))  # StopIteration ends the run

        remaining = iterations - int(self.step)
        if remaining > 0:
            scipy.optimize.minimize(loss_and_gradient, self.image.numpy().ravel().astype(np.float64), jac=True,
                                    method="L-BFGS-B", bounds=scipy.optimize.Bounds(0.0, 255.0),
                                    callback=callback, options={"maxiter": remaining, "maxfun": remaining * 2 + 20})

    def checkpoint_manager(self, directory):
        return tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=2)

    def result(self):
        return self.image.numpy()[0]
