"""L-BFGS on the image, inside TensorFlow: the two-loop recursion (Nocedal and Wright, algorithm 7.4)
over the last HISTORY_PAIRS steps, the pixel range 0..255 kept by L-BFGS-B's active set and a
projection, and a backtracking line search that, once the history has the problem's scale, accepts its
first trial almost always: about one evaluation of the loss and gradient per iteration.

Everything an iteration computes stays in TensorFlow variables: only scalars are read back (whether a
trial point is finite and low enough, and the four losses the progress line prints). What an iteration
starts from is all in state(), so that a run resumes bit for bit.
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
        # The iteration under way: its direction and slope, and the point its line search tried last.
        self.direction, self.slope = variable(tf.zeros_like(image), "direction"), variable(0.0, "slope")
        self.trial = {name: variable(tf.zeros_like(v), f"trial_{name}") for name, v in self._current().items()}
        # Three compiled parts, the loss in one of them only: traced once, no loss graph inside control flow.
        self.find_direction = tf.function(self._find_direction)
        self.try_step = tf.function(self._try_step)
        self.accept = tf.function(self._accept)

    def _current(self):
        return {"image": self.image, "gradient": self.gradient, "losses": self.losses}

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

    def iterate(self, step):
        """One iteration from the current image: TAKEN (image, history and the `step` variable moved on),
        NO_DECREASE or NOT_FINITE (nothing changed); a run's first call only evaluates the start image:
        EVALUATED. Only scalars leave TensorFlow: whether a trial point is finite and low enough."""
        if not self.evaluated:
            finite, _, _ = self.try_step(tf.constant(0.0))
            if not finite:
                return NOT_FINITE
            self.accept(step, tf.constant(False))
            return EVALUATED
        self.find_direction()
        step_size = tf.constant(1.0)
        for _ in range(TRIALS):
            finite, decreased, step_size = self.try_step(step_size)
            if not finite:
                return NOT_FINITE
            if decreased:
                self.accept(step, tf.constant(True))
                return TAKEN
        return NO_DECREASE

    def _loss_and_gradient(self, image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            losses = self.loss(image)
        return tf.stack(losses), tape.gradient(losses[-1], image)

    def _find_direction(self):
        """The L-BFGS direction and the slope of the loss along it, over the pixels free to move: by
        L-BFGS-B's active set, a pixel at a bound that the gradient pushes outward stays where it is.
        A direction the loss does not go down along means the history no longer describes the loss
        here: it is dropped, and the direction is the steepest descent's."""
        image, gradient = tf.convert_to_tensor(self.image), tf.convert_to_tensor(self.gradient)
        free = ~(((image <= 0.0) & (gradient > 0.0)) | ((image >= PIXEL_MAX) & (gradient < 0.0)))
        free_gradient = tf.where(free, gradient, 0.0)
        direction = tf.where(free, -self._inverse_hessian_times(free_gradient), 0.0)
        uphill = tf.reduce_sum(gradient * direction) >= 0.0
        steepest = -free_gradient / tf.maximum(tf.norm(free_gradient), 1e-30)
        direction = tf.where(uphill, steepest, direction)
        self.rho.assign(tf.where(uphill, 0.0, self.rho))
        self.pairs.assign(tf.where(uphill, 0, self.pairs))
        self.direction.assign(direction)
        self.slope.assign(tf.reduce_sum(gradient * direction))

    def _try_step(self, step_size):
        """Evaluates the point step_size along the direction, projected into the pixel range. Returns
        whether all it computed is finite, whether the loss went down enough (Armijo; at step size 0,
        the start image's evaluation, any finite loss does), and the step size to try next: the
        minimum of the quadratic through what is known, kept within a tenth and a half of this one."""
        image = tf.convert_to_tensor(self.image)
        candidate = tf.clip_by_value(image + step_size * self.direction, 0.0, PIXEL_MAX)
        losses, gradient = self._loss_and_gradient(candidate)
        self.trial["image"].assign(candidate)
        self.trial["gradient"].assign(gradient)
        self.trial["losses"].assign(losses)
        loss, slope = self.losses[-1], self.slope
        promised = tf.minimum(tf.reduce_sum(self.gradient * (candidate - image)), 0.0)
        decreased = (step_size == 0.0) | (losses[-1] <= loss + ARMIJO_C1 * promised)
        curvature = 2.0 * (losses[-1] - loss - slope * step_size)
        quadratic_minimum = -slope * step_size * step_size / tf.maximum(curvature, 1e-30)
        next_step_size = tf.clip_by_value(quadratic_minimum, 0.1 * step_size, 0.5 * step_size)
        return all_finite(losses, gradient), decreased, next_step_size

    def _accept(self, step, moved):
        """Makes the last trial point the current one; if it `moved`, a step: counted and remembered."""
        if moved:
            self._remember(self.trial["image"] - self.image, self.trial["gradient"] - self.gradient)
            step.assign_add(1)
        for name, current in self._current().items():
            current.assign(self.trial[name])
        self.evaluated.assign(True)

    def _inverse_hessian_times(self, vector):
        """The two-loop recursion over the pairs in use, newest first (a loop in the graph: a small one
        to compile, whatever HISTORY_PAIRS is). Without pairs, a step of length 1, as L-BFGS-B's first."""
        pairs, alphas, q = self.pairs.read_value(), tf.TensorArray(tf.float32, size=HISTORY_PAIRS), vector
        for age in tf.range(pairs):
            slot = (self.newest - age) % HISTORY_PAIRS
            alpha = self.rho[slot] * tf.reduce_sum(tf.gather(self.s, slot) * q)
            q -= alpha * tf.gather(self.y, slot)
            alphas = alphas.write(age, alpha)
        r = tf.where(pairs > 0, self.gamma, 1.0 / tf.maximum(tf.norm(vector), 1e-30)) * q
        for age in tf.range(pairs - 1, -1, -1):
            slot = (self.newest - age) % HISTORY_PAIRS
            beta = self.rho[slot] * tf.reduce_sum(tf.gather(self.y, slot) * r)
            r += (alphas.read(age) - beta) * tf.gather(self.s, slot)
        return r

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
