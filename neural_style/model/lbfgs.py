"""L-BFGS on the image, inside TensorFlow: the two-loop recursion (Nocedal and Wright, algorithm 7.4)
over the last HISTORY_PAIRS steps, the pixel range 0..255 kept by L-BFGS-B's active set and a
projection, and a backtracking line search that, once the history has the problem's scale, accepts its
first trial almost always: about one evaluation of the loss and gradient per iteration.

Everything an iteration computes stays in TensorFlow variables (nothing is copied to numpy but the four
losses the progress line prints), and all of it is in state(), so that a run resumes bit for bit.
"""

from neural_style.model.tf_setup import tf

HISTORY_PAIRS = 10  # (step, gradient change) pairs kept, as scipy's L-BFGS-B keeps by default
ARMIJO_C1 = 1e-4  # the sufficient decrease a step must give, as a share of the slope's promise
TRIALS = 20  # points one line search tries before it gives up
PIXEL_MAX = 255.0

TAKEN, NO_DECREASE, NOT_FINITE, EVALUATED = 0, 1, 2, 3  # how an iteration ended


class LBFGS:
    """The L-BFGS state of `image` (a (1, height, width, 3) variable) on `loss`: a callable giving
    (content, style, total variation, total) for an image tensor."""

    STATE = ("s", "y", "rho", "newest", "pairs", "gamma", "gradient", "losses", "evaluated")

    def __init__(self, image, loss):
        self.image, self.loss = image, loss
        history = (HISTORY_PAIRS, *image.shape)

        def variable(value, name):
            return tf.Variable(value, trainable=False, name=f"lbfgs_{name}")

        self.s = variable(tf.zeros(history), "s")  # the steps x_{k+1} - x_k, newest in slot `newest`
        self.y = variable(tf.zeros(history), "y")  # the gradient changes g_{k+1} - g_k
        self.rho = variable(tf.zeros(HISTORY_PAIRS), "rho")  # 1 / s'y; 0 in a slot not in use
        self.newest = variable(HISTORY_PAIRS - 1, "newest")
        self.pairs = variable(0, "pairs")
        self.gamma = variable(1.0, "gamma")  # s'y / y'y of the newest pair: the inverse Hessian's scale
        self.gradient = variable(tf.zeros_like(image), "gradient")  # at the current image
        self.losses = variable(tf.zeros(4), "losses")  # at the current image
        self.evaluated = variable(False, "evaluated")  # whether gradient and losses are the image's
        self.iterate = tf.function(self._iterate)

    def state(self):
        return {f"lbfgs_{name}": getattr(self, name).numpy() for name in self.STATE}

    def restore(self, state):
        """Puts back a state(); a state without one (saved by Adam, or before the history was saved)
        starts L-BFGS afresh at the restored image."""
        if "lbfgs_s" not in state:
            self.forget()
            self.evaluated.assign(False)
            return
        for name in self.STATE:
            getattr(self, name).assign(state[f"lbfgs_{name}"])

    def forget(self):
        """Drops the history: the next iteration is a short steepest descent step."""
        self.rho.assign(tf.zeros_like(self.rho))
        self.pairs.assign(0)

    def _loss_and_gradient(self, image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            losses = self.loss(image)
        return tf.stack(losses), tape.gradient(losses[-1], image)

    def _iterate(self, step):
        """One iteration from the current image: TAKEN (image, history and `step` moved on), NO_DECREASE
        or NOT_FINITE (nothing changed). A run's first call only evaluates the start image, as a line
        search along nothing (one loss graph in one compiled function, traced once): EVALUATED."""
        image, gradient = tf.convert_to_tensor(self.image), tf.convert_to_tensor(self.gradient)
        evaluated = self.evaluated.read_value()
        if evaluated:
            direction, slope, loss = *self._direction(image, gradient), self.losses[-1]
        else:
            direction, slope, loss = tf.zeros_like(image), tf.constant(0.0), tf.constant(float("inf"))
        losses, new_gradient, candidate, status = self._line_search(image, gradient, loss, direction, slope)
        if status == TAKEN:
            if evaluated:
                self._remember(candidate - image, new_gradient - gradient)
                step.assign_add(1)
            else:
                status = tf.constant(EVALUATED)
            self.image.assign(candidate)
            self.gradient.assign(new_gradient)
            self.losses.assign(losses)
            self.evaluated.assign(True)
        return status

    def _direction(self, image, gradient):
        """The L-BFGS direction and the slope of the loss along it, over the pixels free to move: by
        L-BFGS-B's active set, a pixel at a bound that the gradient pushes outward stays where it is."""
        free = ~(((image <= 0.0) & (gradient > 0.0)) | ((image >= PIXEL_MAX) & (gradient < 0.0)))
        free_gradient = tf.where(free, gradient, 0.0)
        direction = tf.where(free, -self._inverse_hessian_times(free_gradient), 0.0)
        slope = tf.reduce_sum(gradient * direction)
        if slope >= 0.0:  # the history no longer describes the loss here: start it again
            self.forget()
            direction = -free_gradient / tf.maximum(tf.norm(free_gradient), 1e-30)
            slope = tf.reduce_sum(gradient * direction)
        return direction, slope

    def _inverse_hessian_times(self, vector):
        """The two-loop recursion over the pairs, newest first; a slot not in use has rho 0 and adds
        nothing. Without pairs, a step of length 1, as L-BFGS-B's first one."""
        alphas, q = [], vector
        for age in range(HISTORY_PAIRS):
            slot = (self.newest - age) % HISTORY_PAIRS
            alpha = self.rho[slot] * tf.reduce_sum(self.s[slot] * q)
            q -= alpha * self.y[slot]
            alphas.append((slot, alpha))
        scale = tf.where(self.pairs > 0, self.gamma, 1.0 / tf.maximum(tf.norm(vector), 1e-30))
        r = scale * q
        for slot, alpha in reversed(alphas):
            beta = self.rho[slot] * tf.reduce_sum(self.y[slot] * r)
            r += (alpha - beta) * self.s[slot]
        return r

    def _line_search(self, image, gradient, loss, direction, slope):
        """Backtracks from the full step along `direction`, projected into the pixel range, until the
        loss decreases enough (Armijo), each new trial at the minimum of the quadratic through what is
        known, kept within a tenth and a half of the last. Returns the accepted point's losses,
        gradient, the point and TAKEN, or NO_DECREASE / NOT_FINITE."""
        step_size, trials, status = tf.constant(1.0), tf.constant(0), tf.constant(NO_DECREASE)
        losses, new_gradient, candidate = tf.zeros(4), tf.zeros_like(image), image
        while status == NO_DECREASE and trials < TRIALS:
            candidate = tf.clip_by_value(image + step_size * direction, 0.0, PIXEL_MAX)
            losses, new_gradient = self._loss_and_gradient(candidate)
            promised = tf.minimum(tf.reduce_sum(gradient * (candidate - image)), 0.0)
            if not all_finite(losses, new_gradient):
                status = tf.constant(NOT_FINITE)
            elif losses[-1] <= loss + ARMIJO_C1 * promised:
                status = tf.constant(TAKEN)
            else:
                curvature = 2.0 * (losses[-1] - loss - slope * step_size)
                quadratic_minimum = -slope * step_size * step_size / tf.maximum(curvature, 1e-30)
                step_size = tf.clip_by_value(quadratic_minimum, 0.1 * step_size, 0.5 * step_size)
            trials += 1
        return losses, new_gradient, candidate, status

    def _remember(self, s, y):
        """Keeps the pair in the oldest slot if it has the positive curvature L-BFGS needs."""
        sy, yy = tf.reduce_sum(s * y), tf.reduce_sum(y * y)
        if sy > 2.2e-16 * yy and yy > 0.0:
            slot = (self.newest + 1) % HISTORY_PAIRS
            self.s[slot].assign(s)
            self.y[slot].assign(y)
            self.rho[slot].assign(1.0 / sy)
            self.newest.assign(slot)
            self.pairs.assign(tf.minimum(self.pairs + 1, HISTORY_PAIRS))
            self.gamma.assign(sy / yy)


def all_finite(*tensors):
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tensor)) for tensor in tensors])
