"""The step size along an L-BFGS direction: a weak Wolfe line search (Nocedal and Wright, section 3.1)
with bracketing. A step is taken when the loss went down enough (Armijo) and its slope has flattened
(curvature): the second test is what makes a step too short to teach the history anything get
lengthened, and it keeps every step's s'y positive. Until a trial overshoots, the step grows; once one
has, the next trial is inside the bracket, at the minimum of the quadratic through what is known.

Pure arithmetic on the scalars a trial reports: the loss and the gradient stay in TensorFlow.
"""

import math

ARMIJO_C1 = 1e-4  # the sufficient decrease a step must give, as a share of the slope's promise
CURVATURE_C2 = 0.9  # the slope a step must flatten to, as a share of the start's: L-BFGS's usual
EXTRAPOLATION = 4.0  # how much a step grows while no trial has overshot
SAFEGUARD = 0.1  # a trial inside a bracket keeps this share of the bracket's width from either end
FIRST_SAFEGUARD = 0.01  # from a start (lo = 0) a step may shrink faster: a first step can be far too long


class LineSearch:
    """The bracket [lo, hi] of step sizes, from the start's loss and slope (negative: a descent)."""

    def __init__(self, loss, slope):
        loss, slope = float(loss), float(slope)  # in double precision: float32 losses may be near 3e38
        self.lo, self.lo_loss, self.lo_slope = 0.0, loss, slope
        self.hi, self.hi_loss = math.inf, math.inf

    def next_step_size(self, step_size, loss, slope, sufficient):
        """The step size to try after `step_size` failed a Wolfe test: with its loss, its slope and
        whether it passed Armijo's (if so, it failed the curvature test: the step was too short)."""
        loss, slope = float(loss), float(slope)
        if sufficient:
            self.lo, self.lo_loss, self.lo_slope = step_size, loss, slope
        else:
            self.hi, self.hi_loss = step_size, loss
        if math.isinf(self.hi):
            return step_size * EXTRAPOLATION
        width = self.hi - self.lo
        curvature = 2.0 * (self.hi_loss - self.lo_loss - self.lo_slope * width)
        minimum = self.lo - self.lo_slope * width * width / curvature if curvature > 0.0 else math.nan
        if not math.isfinite(minimum):  # no curvature, or losses near the float range's end: halved
            minimum = self.lo + 0.5 * width
        low_share = FIRST_SAFEGUARD if self.lo == 0.0 else SAFEGUARD
        return min(max(minimum, self.lo + low_share * width), self.hi - SAFEGUARD * width)
