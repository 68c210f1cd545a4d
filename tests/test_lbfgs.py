"""L-BFGS in TensorFlow (neural_style/model/lbfgs.py): against scipy's L-BFGS-B as the reference, the
pixel bounds, the evaluations it needs, divergence, and a resume that is bit for bit."""

import numpy as np
import pytest
import scipy.optimize
from conftest import CONTENT_LAYERS, STYLE_LAYERS, make_optimizer, random_image

from neural_style.errors import Diverged
from neural_style.model.optimizers import ImageOptimizer
from neural_style.runs.folder import load_npz, save_npz


@pytest.fixture(scope="module")
def network(vgg_weights):
    from vgg_model import VGG19

    return VGG19(vgg_weights, [*CONTENT_LAYERS, *STYLE_LAYERS], precision="float32")


def style_problem(network, size=(48, 64)):
    content, style = random_image(*size, seed=1), random_image(40, 56, seed=2, low=0, high=120)
    return make_optimizer(network, content, [style], random_image(*size, seed=3), optimizer="lbfgs")


class Counted:
    """A loss that counts its evaluations (in a variable: they happen inside compiled functions) and,
    from evaluation `poisoned_from` on, gives a NaN total."""

    def __init__(self, loss, poisoned_from=None):
        from neural_style.model.tf_setup import tf

        self.loss, self.poisoned_from = loss, poisoned_from
        self.evaluations = tf.Variable(0, trainable=False)

    def __call__(self, image):
        from neural_style.model.tf_setup import tf

        self.evaluations.assign_add(1)
        content, style, tv, total = self.loss(image)
        if self.poisoned_from is not None:
            total = tf.where(self.evaluations >= self.poisoned_from, float("nan"), total)
        return content, style, tv, total


def scipy_reference_losses(optimizer, iterations):
    """The total loss at the optimizer's image, and the one scipy's L-BFGS-B (10 pairs, bounds 0..255)
    reaches from there on its loss after `iterations` iterations, with its stopping tests off."""
    shape, start_loss = optimizer.image.shape, float(optimizer.loss_and_gradient()[0][-1])

    def loss_and_gradient(x):
        optimizer.image.assign(x.reshape(shape).astype(np.float32))
        losses, gradient = optimizer.loss_and_gradient()
        return float(losses[-1]), gradient.numpy().ravel().astype(np.float64)

    found = scipy.optimize.minimize(
        loss_and_gradient,
        optimizer.image.numpy().ravel().astype(np.float64),
        jac=True,
        method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(0.0, 255.0),
        options={"maxiter": iterations, "maxfun": 10 * iterations, "ftol": 0.0, "gtol": 0.0},
    )
    assert found.nit == iterations, found.message
    return start_loss, found.fun


def test_lbfgs_reaches_scipys_loss_in_as_many_iterations_with_one_evaluation_each(network):
    iterations = 20
    start_loss, reference = scipy_reference_losses(style_problem(network), iterations)
    ours = style_problem(network)
    ours.loss = ours.lbfgs.loss = counted = Counted(ours.loss)
    progress = []
    ours.run(iterations, progress.append)
    assert [p.step for p in progress] == list(range(1, iterations + 1))
    assert progress[-1].total_loss < 0.2 * start_loss  # it went a long way: the tolerance below means something
    # Stated tolerance: within 10% of scipy's loss. The two part at the first line search (scipy's needs
    # two evaluations, ours one), then L-BFGS-B's subspace minimization against a projected two-loop
    # direction: on this problem ours is 6-16% below scipy's at every iteration, 7% below at 20.
    assert progress[-1].total_loss == pytest.approx(reference, rel=0.1)
    # One evaluation of the start image, then about one per iteration.
    assert int(counted.evaluations) <= 1 + 1.2 * iterations


def test_lbfgs_resumes_bit_for_bit_from_a_saved_state(network, tmp_path):
    straight = style_problem(network, (32, 32))
    straight.run(8, lambda progress: None)

    first = style_problem(network, (32, 32))
    first.run(4, lambda progress: None)
    save_npz(str(tmp_path / "state.npz"), first.state())  # through a checkpoint file, as a run saves it
    resumed = style_problem(network, (32, 32))
    resumed.restore(load_npz(str(tmp_path / "state.npz")))
    resumed.run(8, lambda progress: None)
    np.testing.assert_array_equal(resumed.result(), straight.result())


def test_a_non_finite_loss_on_a_trial_point_raises_and_keeps_the_last_image(network):
    optimizer = style_problem(network, (32, 32))
    optimizer.loss = optimizer.lbfgs.loss = Counted(optimizer.loss, poisoned_from=5)
    images = {}
    with pytest.raises(Diverged):
        optimizer.run(10, lambda progress: images.update({progress.step: optimizer.result()}))
    last = max(images)
    assert int(optimizer.step) == last and 0 < last < 5
    np.testing.assert_array_equal(optimizer.result(), images[last])
    assert np.isfinite(optimizer.result()).all()


def test_pixels_pushed_out_of_range_stop_at_the_bounds_and_the_rest_reach_the_optimum():
    """A quadratic whose unbounded minimum is partly outside 0..255: the bounded one is its clipped copy."""
    from neural_style.model.tf_setup import tf

    target = np.random.default_rng(4).uniform(-100, 355, (12, 16, 3)).astype(np.float32)
    weight = np.random.default_rng(5).uniform(0.5, 2.0, (12, 16, 3)).astype(np.float32)  # not the identity

    def loss(image):
        total = tf.reduce_sum(weight * tf.square(image[0] - target))
        return total, total, total, total

    optimizer = ImageOptimizer(loss, np.full((12, 16, 3), 128, np.float32), "lbfgs")
    optimizer.run(30, lambda progress: None)
    result = optimizer.result()
    assert result.min() >= 0 and result.max() <= 255
    np.testing.assert_allclose(result, np.clip(target, 0, 255), atol=0.05)


def test_a_pixel_at_a_bound_that_its_gradient_pushes_outward_is_not_moved():
    """L-BFGS-B's active set, on the first direction (no pairs yet: to the projection of x - g)."""
    from neural_style.model.tf_setup import tf

    rng = np.random.default_rng(6)
    target = rng.uniform(-100, 355, (8, 8, 3)).astype(np.float32)
    start = rng.choice(np.array([0.0, 128.0, 255.0], np.float32), (8, 8, 3))

    def loss(image):
        total = tf.reduce_sum(tf.square(image[0] - target))
        return total, total, total, total

    optimizer = ImageOptimizer(loss, start, "lbfgs")
    optimizer.lbfgs.iterate(optimizer.step)  # evaluates the start image
    optimizer.lbfgs.find_direction()
    gradient = 2 * (start - target)
    outward = ((start == 0) & (gradient > 0)) | ((start == 255) & (gradient < 0))
    assert 0 < outward.sum() < outward.size
    expected = np.clip(start - np.where(outward, 0, gradient), 0, 255) - start  # to L-BFGS-B's Cauchy point
    np.testing.assert_allclose(optimizer.lbfgs.direction.numpy()[0], expected, rtol=1e-5, atol=1e-4)


def test_the_line_search_lengthens_a_short_step_and_bisects_once_bracketed():
    """On phi(t) = (t - 10)^2 (slope -20 at 0): step 1 lowers the loss but leaves the slope steep, so the
    step grows 4x; a trial at 64 raises it, and the next one lies inside the bracket [4, 64], at the
    exact minimum of this quadratic."""
    from neural_style.model.line_search import LineSearch

    search = LineSearch(100.0, -20.0)
    assert search.next_step_size(1.0, 81.0, -18.0, sufficient=True) == 4.0
    assert search.next_step_size(4.0, 36.0, -12.0, sufficient=True) == 16.0
    assert search.next_step_size(64.0, 54.0**2, 108.0, sufficient=False) == pytest.approx(10.0)


def test_the_line_search_gives_a_finite_step_when_the_losses_reach_the_float_range_end():
    from neural_style.model.line_search import LineSearch

    """In float32 the quadratic's terms overflow here (inf / inf): a NaN step would poison the image."""
    search = LineSearch(np.float32(3e38), np.float32(-3e38))
    step_size = search.next_step_size(4.0, np.float32(3.3e38), np.float32(-3e38), sufficient=False)
    assert 0.0 < step_size < 4.0


def test_a_first_step_under_a_gradient_near_the_float_range_end_still_lowers_the_loss():
    """A loss of 2e36 whose gradient's square norm overflows float32: along minus the gradient the
    slope would be -inf and every halved step still throw the pixels to the bounds; along the step to
    the projection of x - g the slope is exact and the line search finds a decrease."""
    from neural_style.model.tf_setup import tf

    target = np.random.default_rng(7).uniform(0, 255, (8, 8, 3)).astype(np.float32)

    def loss(image):
        total = 1e30 * tf.reduce_sum(tf.square(image[0] - target))
        return total, total, total, total

    optimizer = ImageOptimizer(loss, np.full((8, 8, 3), 128, np.float32), "lbfgs")
    start_loss = float(loss(optimizer.image)[-1])
    progress = []
    optimizer.run(3, progress.append)
    assert progress and progress[-1].total_loss < 0.5 * start_loss
