"""The optimization of the generated image: Adam (the original's) or L-BFGS, on any loss. The image is
the program's only trainable variable; its optimizer state can be taken out and put back, so that a
run resumes exactly where it was saved."""

import time
from dataclasses import dataclass

import numpy as np

from neural_style.errors import Diverged
from neural_style.model.lbfgs import EVALUATED, LBFGS, NO_DECREASE, NOT_FINITE
from neural_style.model.tf_setup import tf

ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8
OPTIMIZERS = ("adam", "lbfgs")


@dataclass
class Progress:
    step: int  # optimizer iterations taken so far in this job
    content_loss: float
    style_loss: float
    tv_loss: float
    total_loss: float
    step_s: float  # wall time of this iteration


class ImageOptimizer:
    """Runs `optimizer` ("adam" or "lbfgs") on the image from `start_image`, against `loss`: a callable
    giving (content, style, total variation, total) for a (1, height, width, 3) image.

    A non-finite loss, gradient or image at any step raises Diverged and leaves the image at its last
    finite value: a step that would break it is never taken.
    """

    def __init__(self, loss, start_image, optimizer="lbfgs", learning_rate=2.0):
        self.loss, self.optimizer, self.learning_rate = loss, optimizer, learning_rate
        self.image = tf.Variable(start_image[None].astype(np.float32), name="image")
        self.adam_m = tf.Variable(tf.zeros_like(self.image), trainable=False, name="adam_m")
        self.adam_v = tf.Variable(tf.zeros_like(self.image), trainable=False, name="adam_v")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.loss_and_gradient = tf.function(self._loss_and_gradient, autograph=False)  # as in lbfgs.py
        self.adam_step = tf.function(self._adam_step, autograph=False)
        self.lbfgs = LBFGS(self.image, loss) if optimizer == "lbfgs" else None

    def restart(self, start_image):
        """A new job from start_image, as a new optimizer would start it, on the functions compiled already."""
        self.image.assign(start_image[None])
        self.step.assign(0)
        self.adam_m.assign(tf.zeros_like(self.adam_m))
        self.adam_v.assign(tf.zeros_like(self.adam_v))
        if self.lbfgs is not None:
            self.lbfgs.reset()

    def state(self):
        """What a checkpoint must hold to go on exactly from here: numpy arrays and the step."""
        state = {"image": self.result(), "step": int(self.step)}
        if self.optimizer == "adam":
            state.update(adam_m=self.adam_m.numpy(), adam_v=self.adam_v.numpy())
        else:
            state.update(self.lbfgs.state())
        return state

    def restore(self, state):
        self.image.assign(state["image"][None])
        self.step.assign(int(state["step"]))
        if "adam_m" in state:
            self.adam_m.assign(state["adam_m"])
            self.adam_v.assign(state["adam_v"])
        if self.lbfgs is not None:
            self.lbfgs.restore(state)

    def result(self):
        return self.image.numpy()[0]

    def _loss_and_gradient(self):
        with tf.GradientTape() as tape:
            losses = self.loss(self.image)
        return losses, tape.gradient(losses[-1], self.image)

    def _adam_step(self, learning_rate):
        """One Adam step on the image, kept inside the pixel range, taken only if everything it computes
        is finite; returns the losses before it and whether it was taken."""
        losses, gradient = self.loss_and_gradient()
        t = tf.cast(self.step + 1, tf.float32)
        m = ADAM_BETA1 * self.adam_m + (1 - ADAM_BETA1) * gradient
        v = ADAM_BETA2 * self.adam_v + (1 - ADAM_BETA2) * tf.square(gradient)
        m_hat, v_hat = m / (1 - ADAM_BETA1**t), v / (1 - ADAM_BETA2**t)
        image = tf.clip_by_value(self.image - learning_rate * m_hat / (tf.sqrt(v_hat) + ADAM_EPSILON), 0.0, 255.0)
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(x)) for x in (losses[-1], m, v, image)])

        def take_step():
            self.adam_m.assign(m)
            self.adam_v.assign(v)
            self.image.assign(image)
            self.step.assign_add(1)

        tf.cond(finite, take_step, lambda: None)
        return losses, finite

    def run(self, iterations, on_step):
        """Optimize until `iterations` iterations have been taken in all (a restored state continues),
        calling on_step(Progress) after each; whatever on_step raises ends the run at that step."""
        if self.optimizer == "adam":
            self._run_adam(iterations, on_step)
        else:
            self._run_lbfgs(iterations, on_step)

    def _run_adam(self, iterations, on_step):
        learning_rate = tf.constant(self.learning_rate, tf.float32)
        while int(self.step) < iterations:
            started = time.perf_counter()
            losses, finite = self.adam_step(learning_rate)
            if not finite:
                raise Diverged(int(self.step))
            on_step(Progress(int(self.step), *[float(x) for x in losses], time.perf_counter() - started))

    def _run_lbfgs(self, iterations, on_step):
        """L-BFGS (lbfgs.py) with the pixel range as bounds. An iteration whose line search finds no
        decrease drops the history and tries again from a steepest descent; when even that
        one finds none, the image is where L-BFGS converges and the run ends early."""
        started = time.perf_counter()
        while int(self.step) < iterations:
            status = self.lbfgs.iterate(self.step)
            if status == NOT_FINITE:
                raise Diverged(int(self.step))
            if status == EVALUATED:
                continue
            if status == NO_DECREASE:
                if int(self.lbfgs.pairs) == 0:
                    return
                self.lbfgs.forget()
                continue
            on_step(Progress(int(self.step), *map(float, self.lbfgs.losses.numpy()), time.perf_counter() - started))
            started = time.perf_counter()  # the observer's own time is no iteration's
