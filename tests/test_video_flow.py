"""neural_style/work/flow.py: optical flow, warping, the reliability mask and the temporal loss, on small synthetic
frames whose motion is known."""

import cv2
import numpy as np
import pytest

from benchmarks import clips
from neural_style.model.tf_setup import tf
from neural_style.work import flow

HEIGHT, WIDTH = 96, 128
MARGIN_PX = 10  # DIS is least sure near the borders, where its patches do not fit


def texture(height, width, seed):
    """Smooth random RGB texture spanning 0..255: enough structure everywhere for the flow to lock on."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.uniform(0, 255, (height, width, 3)).astype(np.float32), (0, 0), 2.0)
    image -= image.min()
    return image * (255 / image.max())


def shifted_pair(dx, dy):
    """(previous, current): two windows of one texture, the current one moved by (dx, dy), so that
    current[y, x] = previous[y + dy, x + dx]: the backward flow is (dx, dy) everywhere."""
    scene = texture(HEIGHT + 40, WIDTH + 40, seed=0)
    previous = scene[20 : 20 + HEIGHT, 20 : 20 + WIDTH]
    current = scene[20 + dy : 20 + dy + HEIGHT, 20 + dx : 20 + dx + WIDTH]
    return previous, current


def interior(array):
    return array[MARGIN_PX:-MARGIN_PX, MARGIN_PX:-MARGIN_PX]


def test_flow_finds_a_known_shift_in_both_directions():
    previous, current = shifted_pair(dx=6, dy=-4)
    backward = flow.flow(current, previous)
    forward = flow.flow(previous, current)
    assert backward.shape == (HEIGHT, WIDTH, 2) and backward.dtype == np.float32
    assert np.abs(interior(backward) - [6, -4]).max() < 0.25
    assert np.abs(interior(forward) - [-6, 4]).max() < 0.25


def test_flow_takes_grey_and_uint8_frames():
    previous, current = shifted_pair(dx=3, dy=2)
    grey = [cv2.cvtColor(np.rint(frame).astype(np.uint8), cv2.COLOR_RGB2GRAY) for frame in (current, previous)]
    np.testing.assert_allclose(flow.flow(*grey), flow.flow(current, previous), atol=1e-4)


def test_warp_follows_the_direction_convention_exactly():
    image = texture(HEIGHT, WIDTH, seed=1)
    flow_px = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    flow_px[...] = (3, -2)  # integer flow: bilinear sampling lands on pixels, so the result is exact
    warped = flow.warp(image, flow_px)
    np.testing.assert_allclose(warped[2:, :-3], image[:-2, 3:], atol=1e-3)
    np.testing.assert_array_equal(warped[:, -1], image[np.r_[0, 0, : HEIGHT - 2], -1])  # beyond: the edge


def test_warping_the_previous_frame_gives_the_current_one():
    previous, current = shifted_pair(dx=6, dy=-4)
    warped = flow.warp(previous, flow.flow(current, previous))
    assert np.abs(interior(warped - current)).mean() < 0.1
    assert np.abs(interior(warped - current)).max() < 3  # of 255, against a mean of 36 unwarped
    assert np.abs(previous - current).mean() > 20


def test_reliability_of_exact_flows_marks_only_pixels_that_left_the_frame():
    dx, dy = 4, -3
    backward = np.broadcast_to(np.float32([dx, dy]), (HEIGHT, WIDTH, 2))
    weights = flow.reliability(-backward, backward)
    expected = np.ones((HEIGHT, WIDTH), np.float32)
    expected[:, WIDTH - dx :] = 0  # x + 4 > WIDTH - 1
    expected[:-dy] = 0  # y - 3 < 0
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights, expected)


def test_reliability_of_exact_flows_marks_a_motion_boundary_and_a_disocclusion():
    # The right half moved 2 px to the right since the previous frame, the left half stayed.
    middle = WIDTH // 2
    backward = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    backward[:, middle:, 0] = -2
    forward = np.zeros_like(backward)
    forward[:, middle:, 0] = 2
    weights = flow.reliability(forward, backward)
    expected = np.ones((HEIGHT, WIDTH), np.float32)
    expected[:, middle - 1] = 0  # a motion boundary only: central differences see the step from both sides
    expected[:, middle] = 0  # both
    expected[:, middle + 1] = 0  # disoccluded only: it comes from the still half, whose forward flow is 0
    np.testing.assert_array_equal(weights, expected)


def test_reliability_is_one_inside_and_zero_where_the_content_is_new():
    dx, dy = 6, -4
    previous, current = shifted_pair(dx, dy)
    weights = flow.reliability(flow.flow(previous, current), flow.flow(current, previous))
    assert interior(weights).all()
    # The new strips: columns whose x + 6 > WIDTH - 1 and rows whose y - 4 < 0, less one pixel of slack
    assert not weights[:, WIDTH - dx + 1 :].any()
    assert not weights[: -dy - 1].any()


def test_reliability_marks_the_edges_of_a_moving_square():
    background = texture(HEIGHT, WIDTH, seed=1)
    square = texture(30, 30, seed=2)[..., ::-1] * 0.5
    previous, current = background.copy(), background.copy()
    previous[30:60, 40:70] = square
    current[30:60, 46:76] = square  # 6 px to the right: columns 40-45 are uncovered background
    weights = flow.reliability(flow.flow(previous, current), flow.flow(current, previous))
    assert weights[32:58, 41:45].mean() < 0.2  # the trailing edge: disoccluded
    assert weights[32:58, 75:79].mean() < 0.5  # the leading edge: a motion boundary
    assert weights[np.r_[0:20, 70:HEIGHT], MARGIN_PX:-MARGIN_PX].mean() > 0.98  # far from the square
    assert weights[38:52, 54:68].mean() > 0.9  # inside the square, which only moved


def tiny_frames(seed=3, height=4, width=5):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32)
    warped = rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32)
    weights = (rng.uniform(size=(height, width)) > 0.3).astype(np.float32)
    return image, warped, weights


def test_temporal_loss_is_the_weighted_mean_square_difference():
    image, warped, weights = tiny_frames()
    expected = np.sum(weights[None, :, :, None].astype(np.float64) * (image.astype(np.float64) - warped) ** 2)
    expected /= image.size  # D = h * w * 3
    loss = flow.temporal_loss(tf.constant(image), warped, weights)
    assert loss.dtype == tf.float32 and loss.shape == ()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(flow.temporal_loss(image, warped, np.zeros_like(weights))) == 0


def test_temporal_loss_gradient():
    image, warped, weights = tiny_frames()
    variable = tf.Variable(image)
    with tf.GradientTape() as tape:
        loss = flow.temporal_loss(variable, warped, weights)
    gradient = tape.gradient(loss, variable).numpy()
    analytic = 2 * weights[None, :, :, None] * (image.astype(np.float64) - warped) / image.size
    np.testing.assert_allclose(gradient, analytic, rtol=1e-5, atol=1e-7)

    # and by central differences on a few values (float32 loss: steps of 1 grey level keep them exact enough)
    for index in [(0, 0, 0, 0), (0, 1, 2, 1), (0, 3, 4, 2)]:
        step = np.zeros_like(image)
        step[index] = 1.0
        difference = (
            flow.temporal_loss(image + step, warped, weights) - flow.temporal_loss(image - step, warped, weights)
        ) / 2
        assert float(difference) == pytest.approx(gradient[index], rel=1e-3, abs=1e-6)


def test_long_term_weights_count_each_earlier_frame_only_where_no_nearer_one_is_reliable():
    previous = np.array([[1, 1, 0, 0]], np.float32)
    ten_back = np.array([[1, 0, 1, 0]], np.float32)
    twenty_back = np.array([[1, 1, 1, 1]], np.float32)
    weights = flow.long_term_weights([previous, ten_back, twenty_back])
    np.testing.assert_array_equal(weights[0], previous)
    np.testing.assert_array_equal(weights[1], [[0, 0, 1, 0]])  # where the previous frame is not reliable
    np.testing.assert_array_equal(weights[2], [[0, 0, 0, 1]])  # where neither nearer one is
    assert all(weight.dtype == np.float32 for weight in weights)


def test_scene_cut_is_most_pixels_unreliable():
    """A textured disc moving over a flat field, then a cut to a blue wall (benchmarks/clips.py): the
    frame after the cut, and only it, is a new scene."""
    frames = [frame.astype(np.float32) for frame in clips.scene_cut(6, 64, 48, cut_at=3)]
    cuts = [flow.Motion.between(previous, frame).scene_cut for previous, frame in zip(frames, frames[1:])]
    assert cuts == [False, False, True, False, False]


def test_a_still_plain_background_does_not_move_with_the_object_before_it():
    """DIS alone spreads the disc's motion into the flat field around it; the field's flow is 0."""
    previous, current = (frame.astype(np.float32) for frame in clips.moving_object(2, 128, 96))
    disc = np.abs(current - clips.FIELD_GREY).sum(axis=2) > 0
    far = cv2.dilate(disc.astype(np.uint8), np.ones((21, 21), np.uint8)) == 0
    assert np.abs(flow.flow(current, previous)[far]).mean() > 0.5  # what is fixed
    backward = flow.Motion.between(previous, current).backward
    assert (backward[far] == 0).all()
    np.testing.assert_allclose(np.median(backward[disc], axis=0), (-3, 0), atol=0.25)  # the disc moved 3 px right
