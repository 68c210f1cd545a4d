"""The optimization of Gatys, Ecker and Bethge: find the image whose VGG19 features match the photo's
content and the painting's style.

Losses follow the paper (arXiv 1508.06576, eqs. 1-5):
  content = sum over content layers l of w_l * 1/2 * sum (F_l - P_l)^2
  style   = sum over style layers l of w_l * 1/(4 N_l^2 M_l^2) * sum (G_l - A_l)^2
  total   = content_weight * content + style_weight * style
where F_l is the (M_l positions x N_l channels) feature map of the generated image, P_l the photo's,
and G_l = F_l^T F_l, A_l the Gram matrices of the generated image and of the painting. Each Gram
matrix is divided by its own M_l before the difference (the same thing when both images have the
same size), so that a painting of any size gives targets on the right scale.
"""
import os
import time
from dataclasses import dataclass

import numpy as np

from vgg_model import import_tensorflow

tf = import_tensorflow()

ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8


@dataclass
class Progress:
    step: int  # optimizer steps taken so far
    content_loss: float
    style_loss: float
    total_loss: float
    step_s: float  # wall time of this step


def gram_matrix(features):
    """F^T F / M for a (1, height, width, N) feature map, F being its (M = height*width) x N reshape."""
    channels = features.shape[-1]
    flat = tf.reshape(features, (-1, channels))
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(tf.shape(flat)[0], tf.float32)


def initial_image(content, noise_ratio, seed):
    """The content image mixed with uniform noise over the pixel range, from a seeded generator."""
    noise = np.random.default_rng(seed).uniform(0, 255, content.shape).astype(np.float32)
    return noise_ratio * noise + (1 - noise_ratio) * content


class Stylizer:
    """Owns the generated image (the program's only trainable variable), the targets and the optimizer."""

    def __init__(self, network, content, styles, style_blend, content_layers, style_layers,
                 content_weight, style_weight, learning_rate, start_image):
        self.network = network
        self.content_layers, self.style_layers = dict(content_layers), dict(style_layers)
        self.content_weight, self.style_weight = float(content_weight), float(style_weight)
        self.learning_rate = float(learning_rate)
        content_features = network(tf.constant(content[None]))
        self.content_targets = {name: tf.constant(content_features[name]) for name in self.content_layers}
        self.style_targets = {name: 0 for name in self.style_layers}
        for style, blend in zip(styles, style_blend):
            features = network(tf.constant(style[None]))
            for name in self.style_layers:
                self.style_targets[name] += blend * gram_matrix(features[name])
        self.style_targets = {name: tf.constant(gram) for name, gram in self.style_targets.items()}

        self.image = tf.Variable(start_image[None].astype(np.float32), name="image")
        self.adam_m = tf.Variable(tf.zeros_like(self.image), trainable=False, name="adam_m")
        self.adam_v = tf.Variable(tf.zeros_like(self.image), trainable=False, name="adam_v")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(image=self.image, adam_m=self.adam_m, adam_v=self.adam_v,
                                              step=self.step)

    def losses(self, image):
        features = self.network(image)
        content = tf.add_n([weight * 0.5 * tf.reduce_sum(tf.square(features[name] - self.content_targets[name]))
                            for name, weight in self.content_layers.items()])
        style_terms = []
        for name, weight in self.style_layers.items():
            channels = features[name].shape[-1]
            difference = gram_matrix(features[name]) - self.style_targets[name]
            style_terms.append(weight * tf.reduce_sum(tf.square(difference)) / (4.0 * channels ** 2))
        style = tf.add_n(style_terms)
        total = self.content_weight * content + self.style_weight * style
        return content, style, total

    @tf.function
    def adam_step(self):
        """One Adam step on the image, kept inside the pixel range; returns the losses before it."""
        with tf.GradientTape() as tape:
            content, style, total = self.losses(self.image)
        gradient = tape.gradient(total, self.image)
        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float32)
        self.adam_m.assign(ADAM_BETA1 * self.adam_m + (1 - ADAM_BETA1) * gradient)
        self.adam_v.assign(ADAM_BETA2 * self.adam_v + (1 - ADAM_BETA2) * tf.square(gradient))
        m_hat = self.adam_m / (1 - ADAM_BETA1 ** t)
        v_hat = self.adam_v / (1 - ADAM_BETA2 ** t)
        update = self.learning_rate * m_hat / (tf.sqrt(v_hat) + ADAM_EPSILON)
        self.image.assign(tf.clip_by_value(self.image - update, 0.0, 255.0))
        return content, style, total

    def run(self, iterations):
        """Step until `iterations` steps have been taken in all (a restored run continues), yielding Progress."""
        while int(self.step) < iterations:
            started = time.perf_counter()
            content, style, total = (float(x) for x in self.adam_step())
            yield Progress(int(self.step), content, style, total, time.perf_counter() - started)

    def result(self):
        return self.image.numpy()[0]

    def checkpoint_manager(self, run_dir):
        return tf.train.CheckpointManager(self.checkpoint, os.path.join(run_dir, "checkpoints"), max_to_keep=2)
