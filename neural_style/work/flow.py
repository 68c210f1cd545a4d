"""Optical flow and temporal consistency for styling videos, after Ruder, Dosovitskiy and Brox,
"Artistic style transfer for videos" (2016), with OpenCV's DIS optical flow.

Direction convention. The flow from frame A to frame B is a float32 array (h, w, 2) on A's pixel
grid: flow[y, x] = (dx, dy), in pixels, says that the point at (x, y) in A is at (x + dx, y + dy) in
B, so that A[y, x] ~ B[y + dy, x + dx]. To style frame i from frame i-1, the paper uses

    backward = flow(current, previous)   # on the current frame's grid: where each pixel was before
    forward = flow(previous, current)    # on the previous frame's grid
    warped = warp(previous_stylized, backward)  # the previous result in the current frame's geometry
    weights = reliability(forward, backward)    # 1 where warped can be trusted, else 0
    start = warped                              # every pixel, as the paper initialises
    loss = temporal_weight * temporal_loss(image, warped, weights)

Motion.between computes the flows and the weights, with two changes to the paper's where the frame is
plain: a flow no better than no motion is 0 (still_where_unmoved), and a pixel whose warped previous
frame matches the current one is trusted (warp_matches).
"""

import dataclasses

import cv2
import numpy as np

from neural_style.model.tf_setup import tf

# A frame with fewer of its pixels reliable than this is a new scene. Between frames of one scene, at
# 128x96, 98 % or more were reliable (the synthetic clips of benchmarks/clips.py, box.mp4, vtest.avi);
# across the cut of clips.scene_cut, 2 %.
SCENE_CUT_RELIABLE = 0.3
STILL_MARGIN = 0.5  # see still_where_unmoved: grey levels
MATCH_GREY_LEVELS = 6.0  # see warp_matches: above the noise of compressed video, below a moved edge's difference


@dataclasses.dataclass(frozen=True)
class Motion:
    """From a previous frame to the current one: the backward flow (current -> previous) and the
    reliability of each of the current frame's pixels."""

    backward: np.ndarray
    reliability: np.ndarray

    @classmethod
    def between(cls, previous_frame, frame):
        backward = still_where_unmoved(flow(frame, previous_frame), frame, previous_frame)
        forward = still_where_unmoved(flow(previous_frame, frame), previous_frame, frame)
        paper = reliability(forward, backward)
        return cls(backward, np.maximum(paper, warp_matches(previous_frame, frame, backward)))

    @property
    def scene_cut(self):
        """Whether the current frame is a new scene: most of its pixels unreliable."""
        return float(self.reliability.mean()) < SCENE_CUT_RELIABLE


def flow(from_frame, to_frame):
    """The optical flow from from_frame to to_frame (see the convention above), float32 (h, w, 2).

    Frames are RGB or grey, uint8 or float 0..255, of the same size.
    """
    # MEDIUM (not ULTRAFAST or FAST) because it searches down to finer scales with more iterations,
    # and a finest scale of 0 (the preset stops at 1, half resolution) because full-resolution flow
    # follows thin edges better: on box.mp4 at 384x288 this lowers the warping error between frames
    # a third of a second apart from 1.95 (MEDIUM) to 1.71 grey levels (2.47 with FAST). It costs
    # 25 to 40 ms a flow at 384x288 on this 2-core machine (MEDIUM: 7 ms), two flows a frame:
    # nothing next to the seconds that styling a frame takes.
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)
    return dis.calc(_gray_uint8(from_frame), _gray_uint8(to_frame), None)


def _gray_uint8(frame):
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def warp(image, flow_px):
    """image (h, w, channels) as seen from the frame that the flow starts from: out[y, x] =
    image[y + dy, x + dx] with (dx, dy) = flow_px[y, x], bilinear. With flow_px = flow(current, previous),
    warp(previous, flow_px) brings the previous frame (or its stylized result) into the current frame's
    geometry. Points that fall outside the image take the nearest edge pixel (reliability marks them)."""
    map_x, map_y = _targets(flow_px)
    return cv2.remap(np.asarray(image, np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _targets(flow_px):
    """Where each pixel of the flow's grid lands: (x + dx, y + dy) as two float32 maps (h, w)."""
    height, width = flow_px.shape[:2]
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    return grid_x + flow_px[..., 0], grid_y + flow_px[..., 1]


def reliability(forward_flow, backward_flow):
    """The paper's weights c on the current frame's grid, float32 (h, w): 1 where the warped previous
    frame can be trusted, 0 at disocclusions, motion boundaries and where the flow leaves the frame.

    forward_flow = flow(previous, current), backward_flow = flow(current, previous); with ŵ the
    backward flow and w~ the forward flow warped by it (w~(p) = w(p + ŵ(p))), a pixel is unreliable if
      disoccluded:        |w~ + ŵ|² > 0.01 (|w~|² + |ŵ|²) + 0.5   (the two flows do not undo each other)
      a motion boundary:  |∇û|² + |∇v̂|² > 0.01 |ŵ|² + 0.002      (ŵ = (û, v̂) changes fast around it)
    or its ŵ points outside the previous frame (new content entering at the borders).
    Thresholds are the paper's, in pixels; gradients are central differences. DIS's flow is noisy
    where the frame has little texture, so such areas (a plain table) get scattered boundary pixels.
    """
    backward_flow = np.asarray(backward_flow, np.float32)
    forward_warped = warp(forward_flow, backward_flow)
    backward_sq = np.sum(backward_flow**2, axis=2)
    disoccluded = (
        np.sum((forward_warped + backward_flow) ** 2, axis=2)
        > 0.01 * (np.sum(forward_warped**2, axis=2) + backward_sq) + 0.5
    )
    du_dy, du_dx = np.gradient(backward_flow[..., 0])
    dv_dy, dv_dx = np.gradient(backward_flow[..., 1])
    boundary = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2 > 0.01 * backward_sq + 0.002
    height, width = backward_flow.shape[:2]
    x, y = _targets(backward_flow)
    outside = (x < 0) | (x > width - 1) | (y < 0) | (y > height - 1)
    return (~(disoccluded | boundary | outside)).astype(np.float32)


def still_where_unmoved(flow_px, from_frame, to_frame):
    """flow_px (from from_frame to to_frame), 0 where no motion explains the frames (to within
    MATCH_GREY_LEVELS) as well as the flow, to within STILL_MARGIN grey levels (the mean over R, G
    and B of the absolute difference, over 5x5 pixels).

    On plain areas any flow matches, and DIS's spreads the motion of a moving thing into the still
    plain background around it (a disc moving 3 px a frame over a flat field: 1.5 px on average far
    from it), which would drag the background's painted strokes along in every frame. With this, the
    DIS flow's mean distance to Farneback's on that clip falls from 1.25 to 0.17 px, on a slow pan over
    a plain wall from 0.95 to 0.46 px (benchmarks/clips.py, 128x96)."""
    errors = [_match_error(from_frame, to_frame, candidate) for candidate in (flow_px, np.zeros_like(flow_px))]
    still = (errors[1] <= errors[0] + STILL_MARGIN) & (errors[1] <= MATCH_GREY_LEVELS)
    return np.where(still[..., None], 0, flow_px).astype(np.float32)


def _match_error(from_frame, to_frame, flow_px):
    """|from_frame - to_frame warped by flow_px|, the mean over R, G and B, averaged over 5x5 pixels."""
    difference = np.abs(np.asarray(from_frame, np.float32) - warp(to_frame, flow_px))
    return cv2.blur(difference.mean(axis=2) if difference.ndim == 3 else difference, (5, 5))


def warp_matches(previous_frame, frame, backward_flow):
    """1 where the previous frame warped by backward_flow matches the current frame, float32 (h, w): the
    mean over R, G and B of their absolute difference, averaged over 5x5 pixels, within MATCH_GREY_LEVELS.

    The paper's tests fail on plain areas, where DIS's flow is noise (a plain wall: 30 % of its pixels
    fail the motion-boundary test); but any small flow warps a plain area to itself, so the warped
    previous picture is a sound target there. Without this those pixels had no temporal loss and were
    repainted in every frame."""
    return (_match_error(frame, previous_frame, backward_flow) <= MATCH_GREY_LEVELS).astype(np.float32)


def temporal_loss(image, warped_previous, weights):
    """The paper's short-term temporal loss (1/D) Σ c (x - ω)², summed over pixels and channels, with
    D = h·w·3 the number of values: a float32 scalar tensor, differentiable in image.

    image and warped_previous are RGB 0..255, shape (1, h, w, 3) (tensors, variables or arrays);
    weights c is (h, w), the same for the three channels. Dividing by D, that is the mean over every
    value, reliable or not, makes the loss independent of the image size: it is the reliable fraction
    of the values times their mean squared difference in grey levels (of 255), so 1.0 means one grey
    level in root mean square where every pixel is reliable. The paper's weight for it went with other
    scalings of the content and style losses than this program's, so it has to be chosen anew here.
    """
    weights = tf.convert_to_tensor(weights, tf.float32)[None, :, :, None]
    difference = tf.convert_to_tensor(image, tf.float32) - tf.convert_to_tensor(warped_previous, tf.float32)
    return tf.reduce_mean(weights * tf.square(difference))


def long_term_weights(reliabilities):
    """The long-term loss's weights (Ruder et al. §3.3) of earlier frames, nearest first: each frame's
    reliability where no nearer frame is reliable, max(c_j - Σ_{k nearer} c_k, 0), float32 (h, w) each."""
    weights, nearer = [], np.zeros_like(reliabilities[0], np.float32)
    for reliability in reliabilities:
        weights.append(np.maximum(reliability - nearer, 0).astype(np.float32))
        nearer = nearer + reliability
    return weights


def temporal_error(picture, previous_picture, backward_flow, weights):
    """The flicker of a stylized frame: the mean squared difference between `picture` and the previous
    frame's `previous_picture` warped by backward_flow = flow(current, previous), over the reliable
    pixels (weights 1) and the three channels, with pixel values taken as 0..1. 0 without reliable pixels."""
    difference = (np.asarray(picture, np.float64) - warp(previous_picture, backward_flow)) / 255
    reliable = np.asarray(weights, np.float64)[..., None]
    return float(np.sum(reliable * difference**2) / max(3 * reliable.sum(), 1))
