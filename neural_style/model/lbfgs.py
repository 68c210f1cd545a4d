"""L-BFGS on the image, inside TensorFlow: the two-loop recursion (Nocedal and Wright, algorithm 7.4)
over the last HISTORY_PAIRS steps, the pixel range 0..255 kept by L-BFGS-B's active set and a
projection, and a weak Wolfe line search (line_search.py) that, once the history has the problem's scale,
accepts its first trial almost always: about one evaluation of the loss and gradient per iteration.

Everything an iteration computes stays in TensorFlow variables: only scalars are read back (five per
trial point for the line search, and the four losses the progress line prints). What an iteration
starts from is all in state(), so that a run resumes bit for bit.
"""

from neural_style.model.line_search import ARMIJO_C1, CURVATURE_C2, LineSearch
from neural_style.model.tf_setup import tf

HISTORY_PAIRS = 10  # (step, gradient change) pairs kept, as scipy's L-BFGS-B keeps by default
TRIALS = 20  # points one line search tries before it gives up
PIXEL_MAX = 255.0

TAKEN, NO_DECREASE, NOT_FINITE, EVALUATED = 0, 1, 2, 3  # how an iteration ended


class LBFGS:
    """The L-BFGS state of `image` (a (1, height, width, 3) variable) on `loss`: a callable giving
    (content, style, total variation, total) for an image tensor."""

    STATE = ("history", "sy", "yy", "rho", "newest", "pairs", "gamma", "gradient", "losses", "evaluated")
    START = {"newest": HISTORY_PAIRS - 1, "gamma": 1.0}  # a new run's state; the rest of STATE starts at zero

    def __init__(self, image, loss):
        self.image, self.loss = image, loss

        def variable(value, name):
            return tf.Variable(value, trainable=False, name=f"lbfgs_{name}")

        # Slot i (newest: slot `newest`) of the steps s_i = x_{k+1} - x_k, then slot i of the gradient
        # changes y_i = g_{k+1} - g_k; and their products sy[i, j] = s_i'y_j, yy[i, j] = y_i'y_j.
        self.history = variable(tf.zeros((2 * HISTORY_PAIRS, *image.shape[1:])), "history")
        self.sy = variable(tf.zeros((HISTORY_PAIRS, HISTORY_PAIRS)), "sy")
        self.yy = variable(tf.zeros((HISTORY_PAIRS, HISTORY_PAIRS)), "yy")
        self.rho = variable(tf.zeros(HISTORY_PAIRS), "rho")  # 1 / s'y; 0 in a slot not in use
        self.newest = variable(self.START["newest"], "newest")
        self.pairs = variable(0, "pairs")
        self.gamma = variable(self.START["gamma"], "gamma")  # s'y / y'y of the newest pair: the inverse Hessian's scale
        self.gradient = variable(tf.zeros_like(image), "gradient")  # at the current image
        self.losses = variable(tf.zeros(4), "losses")  # at the current image
        self.evaluated = variable(False, "evaluated")  # whether gradient and losses are the image's
        # The iteration under way: its direction and slope, and the point its line search tried last.
        self.direction, self.slope = variable(tf.zeros_like(image), "direction"), variable(0.0, "slope")
        self.trial = {name: variable(tf.zeros_like(v), f"trial_{name}") for name, v in self._current().items()}
        # Three compiled parts, the loss in one of them only: traced once, no loss graph inside control flow.
        # Without autograph: its rewriting of every function the loss calls was most of a process's first trace.
        self.find_direction = tf.function(self._find_direction, jit_compile=True, autograph=False)
        self.try_step = tf.function(self._try_step, autograph=False)
        self.accept = tf.function(self._accept, autograph=False)

    def _current(self):
        return {"image": self.image, "gradient": self.gradient, "losses": self.losses}

    def state(self):
        return {f"lbfgs_{name}": getattr(self, name).numpy() for name in self.STATE}

    def restore(self, state):
        """Puts back a state(); a state without one (saved by Adam, or before the history was saved)
        starts L-BFGS afresh at the restored image."""
        if "lbfgs_history" not in state:
            self.forget()
            self.evaluated.assign(False)
            return
        for name in self.STATE:
            getattr(self, name).assign(state[f"lbfgs_{name}"])

    def reset(self):
        """A new run's state (START): no history, nothing evaluated; every number as a new LBFGS has it,
        so that a run on a reused one computes what it would on a new one, bit for bit."""
        for name in self.STATE:
            variable = getattr(self, name)
            variable.assign(tf.fill(variable.shape, tf.cast(self.START.get(name, 0), variable.dtype)))

    def forget(self):
        """Drops the history: the next iteration starts as a steepest descent."""
        self.rho.assign(tf.zeros_like(self.rho))
        self.pairs.assign(0)

    def iterate(self, step):
        """One iteration from the current image: TAKEN (image, history and the `step` variable moved on),
        NO_DECREASE or NOT_FINITE (nothing changed); a run's first call only evaluates the start image:
        EVALUATED. Only scalars leave TensorFlow: what a trial point gives the line search."""
        if not self.evaluated:
            finite, _, _, _, _ = self.try_step(tf.constant(0.0)).numpy()
            if not finite:
                return NOT_FINITE
            self.accept(step, tf.constant(False))
            return EVALUATED
        self.find_direction()
        search = LineSearch(float(self.losses[-1]), float(self.slope))
        step_size = 1.0
        for _ in range(TRIALS):
            finite, loss, slope, sufficient, flat = self.try_step(tf.constant(step_size)).numpy()
            if not finite:
                return NOT_FINITE
            if sufficient and flat:
                self.accept(step, tf.constant(True))
                return TAKEN
            step_size = search.next_step_size(step_size, loss, slope, sufficient)
        if search.lo == 0.0:
            return NO_DECREASE
        # Out of trials with a step that lowered the loss but kept its slope: taken all the same.
        self.try_step(tf.constant(search.lo))
        self.accept(step, tf.constant(True))
        return TAKEN

    def _loss_and_gradient(self, image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            losses = self.loss(image)
        return tf.stack(losses), tape.gradient(losses[-1], image)

    def _find_direction(self):
        """The L-BFGS direction and the slope of the loss along it, over the pixels free to move: by
        L-BFGS-B's active set, a pixel at a bound that the gradient pushes outward stays where it is.
        A direction the loss does not go down along means the history no longer describes the loss
        here: it is dropped, and the direction is the steepest descent's, as without a history."""
        image, gradient = tf.convert_to_tensor(self.image), tf.convert_to_tensor(self.gradient)
        free = ~(((image <= 0.0) & (gradient > 0.0)) | ((image >= PIXEL_MAX) & (gradient < 0.0)))
        free_gradient = tf.where(free, gradient, 0.0)
        direction = tf.where(free, -self._inverse_hessian_times(free_gradient), 0.0)
        uphill = tf.reduce_sum(gradient * direction) >= 0.0
        self.rho.assign(tf.where(uphill, 0.0, self.rho))
        self.pairs.assign(tf.where(uphill, 0, self.pairs))
        # Without a history, L-BFGS-B's first step: to the projection of x - g onto the pixel range (its
        # Cauchy point, the Hessian taken as the identity). The trial points up to it are inside the range,
        # so the slope along it is exact, however far a huge gradient would throw the pixels.
        cauchy = tf.clip_by_value(image - free_gradient, 0.0, PIXEL_MAX) - image
        direction = tf.where(self.pairs == 0, cauchy, direction)
        self.direction.assign(direction)
        self.slope.assign(tf.reduce_sum(gradient * direction))

    def _try_step(self, step_size):
        """Evaluates the point step_size along the direction, projected into the pixel range. Returns, as
        numbers: whether all it computed is finite, its loss, the slope of the loss there along the step
        taken, whether the loss went down enough (Armijo; at step size 0, the start image's evaluation,
        any finite loss does) and whether the slope flattened (curvature: then s'y > 0)."""
        image = tf.convert_to_tensor(self.image)
        candidate = tf.clip_by_value(image + step_size * self.direction, 0.0, PIXEL_MAX)
        losses, gradient = self._loss_and_gradient(candidate)
        self.trial["image"].assign(candidate)
        self.trial["gradient"].assign(gradient)
        self.trial["losses"].assign(losses)
        moved = candidate - image
        promised = tf.minimum(tf.reduce_sum(self.gradient * moved), 0.0)
        sufficient = (step_size == 0.0) | (losses[-1] <= self.losses[-1] + ARMIJO_C1 * promised)
        slope = tf.reduce_sum(gradient * moved)
        flat = slope >= CURVATURE_C2 * promised
        numbers = [all_finite(losses, gradient), losses[-1], slope / tf.maximum(step_size, 1e-30), sufficient, flat]
        return tf.stack([tf.cast(number, tf.float32) for number in numbers])

    def _accept(self, step, moved):
        """Makes the last trial point the current one; if it `moved`, a step: counted and remembered."""

        def take_step():
            self._remember(self.trial["image"] - self.image, self.trial["gradient"] - self.gradient)
            step.assign_add(1)

        tf.cond(moved, take_step, lambda: None)
        for name, current in self._current().items():
            current.assign(self.trial[name])
        self.evaluated.assign(True)

    def _inverse_hessian_times(self, vector):
        """The two-loop recursion over the pairs, its inner products taken from the pairs' own (sy, yy)
        and two products of the history with a vector: each loop is a triangular solve of size
        HISTORY_PAIRS, and the history is read twice, not four times per pair. A slot not in use has rho
        0 and adds nothing. Without pairs, the vector itself."""
        flat = tf.reshape(self.history, (2 * HISTORY_PAIRS, -1))
        products = tf.linalg.matvec(flat, tf.reshape(vector, (-1,)))  # s_i'q, then y_i'q
        ages = (self.newest - tf.range(HISTORY_PAIRS)) % HISTORY_PAIRS  # slot of each age, newest first
        rho = tf.gather(self.rho, ages)[:, None]
        sq, yq = tf.gather(products[:HISTORY_PAIRS], ages)[:, None], tf.gather(products[HISTORY_PAIRS:], ages)[:, None]
        sy = tf.gather(tf.gather(self.sy, ages), ages, axis=1)
        yy = tf.gather(tf.gather(self.yy, ages), ages, axis=1)
        identity = tf.eye(HISTORY_PAIRS)
        # First loop, newest first: alpha_i = rho_i (s_i'q - sum over newer j of alpha_j s_i'y_j).
        newer = tf.linalg.band_part(sy, -1, 0) - tf.linalg.band_part(sy, 0, 0)
        alpha = tf.linalg.triangular_solve(identity + rho * newer, rho * sq, lower=True)
        scale = tf.where(self.pairs > 0, self.gamma, 1.0)
        # Second loop, oldest first: beta_i = rho_i y_i'r_i, r_i = scale (q - sum alpha_j y_j) + sum over
        # older j of (alpha_j - beta_j) s_j.
        older = tf.linalg.band_part(tf.transpose(sy), 0, -1) - tf.linalg.band_part(sy, 0, 0)
        start = scale * (yq - tf.matmul(yy, alpha))
        beta = tf.linalg.triangular_solve(identity + rho * older, rho * (start + tf.matmul(older, alpha)), lower=False)
        coefficients = tf.concat([tf.gather(alpha - beta, ages), tf.gather(-scale * alpha, ages)], 0)[:, 0]
        return scale * vector + tf.reshape(tf.linalg.matvec(flat, coefficients, transpose_a=True), vector.shape)

    def _remember(self, s, y):
        """Keeps the pair in the oldest slot if it has the positive curvature L-BFGS needs, with its
        products with every pair kept (one more read of the history)."""
        sy, yy = tf.reduce_sum(s * y), tf.reduce_sum(y * y)

        def keep():
            slot = (self.newest + 1) % HISTORY_PAIRS
            # One scatter of both rows: a sliced assign would copy the whole history (47 MB at 512 px).
            self.history.scatter_update(tf.IndexedSlices(tf.concat([s, y], 0), tf.stack([slot, HISTORY_PAIRS + slot])))
            flat = tf.reshape(self.history, (2 * HISTORY_PAIRS, -1))
            products = tf.stack([tf.linalg.matvec(flat, tf.reshape(v, (-1,))) for v in (s, y)], axis=1)
            row = tf.cast(tf.range(HISTORY_PAIRS) == slot, tf.bool)
            rows, columns = row[:, None] & tf.ones_like(row)[None, :], tf.ones_like(row)[:, None] & row[None, :]
            y_s, s_y, y_y = products[HISTORY_PAIRS:, 0], products[:HISTORY_PAIRS, 1], products[HISTORY_PAIRS:, 1]
            self.sy.assign(tf.where(rows, y_s[None, :], tf.where(columns, s_y[:, None], self.sy)))
            self.yy.assign(tf.where(rows, y_y[None, :], tf.where(columns, y_y[:, None], self.yy)))
            self.rho.assign(tf.where(row, 1.0 / sy, self.rho))
            self.newest.assign(slot)
            self.pairs.assign(tf.minimum(self.pairs + 1, HISTORY_PAIRS))
            self.gamma.assign(sy / yy)

        tf.cond((sy > 2.2e-16 * yy) & (yy > 0.0), keep, lambda: None)


def all_finite(*tensors):
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tensor)) for tensor in tensors])
