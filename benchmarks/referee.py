"""An independent referee of a painted clip: it shares no code with the program's method (never import
it from neural_style/). The method follows DIS optical flow and trusts pixels by Ruder et al.'s tests;
the referee follows OpenCV's Farneback flow on the input frames and trusts a pixel by its own
forward-backward check only, so that plain areas (where DIS's flow is noise and the method's
motion-boundary test fires) are judged, not left out.

    flicker(inputs, paintings)    per later frame: the mean squared difference, on 0..1 values, between
                                  the painting and the previous painting warped by the input frames' flow,
                                  over the pixels the referee trusts anywhere in the frame
    ContentDistance(weights)      per frame: ||F(painting) - F(input)||² / ||F(input)||² with F Keras'
                                  own VGG19 block4_conv2, its weights set from the VGG19 file

Frames are RGB, uint8 or float 0..255, all of one size (resize the inputs to the paintings' size first).
"""

import os

import cv2
import numpy as np

# A pixel is trusted if the backward flow and the forward flow it lands on undo each other to within
# FB_TOLERANCE_PX, and if the input frames agree there to within MATCH_TOLERANCE grey levels (the mean of
# R, G and B), which a cut to another scene does not.
FB_TOLERANCE_PX = 1.0
CUT_TRUSTED = 0.5  # see flicker
MATCH_TOLERANCE = 30.0


def farneback(from_frame, to_frame):
    """Farneback's dense flow from from_frame to to_frame, float32 (h, w, 2): from_frame[y, x] ~
    to_frame[y + dy, x + dx]."""
    frames = (np.clip(np.rint(frame), 0, 255).astype(np.uint8) for frame in (from_frame, to_frame))
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    return cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, 0.5, 4, 15, 5, 5, 1.1, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)


def pull(image, flow_px):
    """image sampled at (x + dx, y + dy) for each pixel (x, y) of the flow's grid, bilinear."""
    height, width = flow_px.shape[:2]
    x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(np.asarray(image, np.float32), x + flow_px[..., 0], y + flow_px[..., 1], cv2.INTER_LINEAR)


def trusted(current, previous):
    """(the backward flow current -> previous, a bool mask of the current frame's pixels the referee trusts):
    the backward flow lands inside the previous frame, the forward flow there brings the pixel back, and
    the previous input frame warped matches the current one."""
    backward, forward = farneback(current, previous), farneback(previous, current)
    round_trip = backward + pull(forward, backward)
    height, width = backward.shape[:2]
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    inside = (x + backward[..., 0] >= 0) & (x + backward[..., 0] <= width - 1)
    inside &= (y + backward[..., 1] >= 0) & (y + backward[..., 1] <= height - 1)
    matches = np.abs(np.asarray(current, np.float32) - pull(previous, backward)).mean(axis=2) <= MATCH_TOLERANCE
    return backward, inside & matches & (np.hypot(round_trip[..., 0], round_trip[..., 1]) <= FB_TOLERANCE_PX)


def flicker(inputs, paintings):
    """[(flicker, trusted fraction)] for each frame after the first (see the module's docstring); the
    flicker is None at a scene cut, where the referee trusts under CUT_TRUSTED of the frame: a new scene
    is no flicker, and the few pixels that pass there would weigh as much as a whole frame."""
    results = []
    for index in range(1, len(paintings)):
        backward, mask = trusted(inputs[index], inputs[index - 1])
        warped = pull(paintings[index - 1], backward)
        squared = ((np.asarray(paintings[index], np.float64) - warped) / 255) ** 2
        results.append((float(squared[mask].mean()) if mask.mean() >= CUT_TRUSTED else None, float(mask.mean())))
    return results


def weights_path():
    """The program's VGG19 cache (the ImageNet weights converted to RGB input, numpy arrays)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.environ.get("STYLE_TRANSFER_CACHE") or os.path.join(base, "style-transfer")
    return os.path.join(folder, "vgg19_conv.npz")


class ContentDistance:
    """Keras' VGG19 (its own layers and max pooling), the conv weights read from the .npz file with numpy."""

    def __init__(self, path=None):
        import keras

        vgg = keras.applications.VGG19(weights=None, include_top=False, input_shape=(None, None, 3))
        with np.load(path or weights_path()) as data:
            self.mean_rgb = data["mean_rgb"].astype(np.float32)
            for layer in vgg.layers:
                if "_conv" in layer.name:  # block4_conv2 is conv4_2
                    block, index = layer.name[5:].split("_conv")
                    layer.set_weights([data[f"conv{block}_{index}/kernel"], data[f"conv{block}_{index}/bias"]])
        self.features = keras.Model(vgg.input, vgg.get_layer("block4_conv2").output)

    def __call__(self, painting, frame):
        batch = np.stack([np.asarray(painting, np.float32), np.asarray(frame, np.float32)]) - self.mean_rgb
        painted, original = np.asarray(self.features(batch), np.float64)
        return float(np.sum((painted - original) ** 2) / np.sum(original**2))
