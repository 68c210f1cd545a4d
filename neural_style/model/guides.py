"""Spatial control: paint regions of the photo in different styles with guided Gram matrices (Gatys,
Ecker, Bethge, Hertzmann, Shechtman, "Controlling Perceptual Factors in Neural Style Transfer", CVPR
2017, section 4; reference code: github.com/leongatys/NeuralImageSynthesis, SpatialControl notebook).

A region is a mask over an image (white is in it). Its guide g_l at a layer l weights each position of
that layer's feature map F_l (M_l positions x N_l channels); the region's style is the guided Gram matrix

    G_l = (F_l * g_l)^T (F_l * g_l) / sum(g_l^2)

and the style loss is sum over regions r and style layers l of v_r w_l sum (G_l^r(x) - A_l^r)^2 / (4 N_l^2),
A_l^r being the guided Gram matrix of region r's painting over its own region (or its whole), and v_r
the region's weight (losses.gram_matrix and losses.style_loss: the unguided case is a guide of ones).

Normalisation, as in the paper's code: it divides each guide by sqrt(sum(g^2) / M) and the Gram matrix by
M, which is dividing by sum(g^2). So a small region gets the same style strength as a large one, and a
guide of ones gives exactly the unguided F^T F / M of losses.gram_matrix. Where a guide is empty (with
"inside", a region narrower than a deep layer's receptive field) its term is left out, as the paper's
code does.

Guides at the layers (the paper's get_fm_guides):
* "inside": the mask is made binary at 0.5, and a neuron's guide is 1 only if its whole receptive
  field lies in the region. The paper finds those neurons by feeding noise outside the region and
  keeping the neurons whose response does not vary; the same set is computed here directly: each 3x3
  convolution takes the minimum of the guide over the 3x3 neighbourhood, each 2x2 pooling the minimum
  over its window. Zero padding carries no noise, so the image's border does not shrink a region;
  only its edges within the image do.
* "simple": the mask averaged over the pixels of each feature position (2x2 average pooling at each
  pooling, as the network pools), soft values kept. The paper resizes the mask to each feature map's
  size with a cubic spline; averaging on the network's own grid keeps guide and positions aligned at
  odd sizes.
* grow_positions is the paper's k: it widens (k > 0) or narrows (k < 0) each layer's guide by k
  positions, a maximum or minimum over (2k+1)^2 positions.
The paper's notebook uses "inside" with k = 3 (winning back some of what the deep layers' large
receptive fields take away) to paint the regions of a photo after the same regions of one painting,
and "simple" with k = 0 to paint them in several paintings, one a region.
Guides do not depend on the pooling (average or max): the receptive fields are the same.
"""

import cv2
import numpy as np

from neural_style.errors import ImageError, MaskError
from utils import load_image, resize
from vgg_model import LAYERS

GUIDE_MODES = ("inside", "simple")
REGION_THRESHOLD = 0.5  # the paper's: mask values from here up are in the region ("inside" makes it binary)
ASPECT_TOLERANCE = 0.02  # relative difference of width/height allowed beyond rounding to whole pixels


def load_mask(path, height, width, load=load_image, image_name="the photo"):
    """(mask, (file height, file width)): the image at path as float32 (height, width) grey levels in
    0..1, resized if the file has another size (of the same aspect ratio) than its image's, the one
    `image_name` names (the photo, or a region mask's painting). `load`
    reads the image (utils.load_image, or a Run's, which has the bytes a cluster's driver shipped).

    A transparent pixel is outside the region, whatever colour it hides: the file is composed over
    black, so that white strokes drawn on a transparent layer are the region, and an opaque mask is
    its grey levels."""
    try:
        grey = load(path, background=0).mean(axis=2)
    except ImageError as error:
        raise MaskError(f"mask {error}") from None
    if grey.max() < REGION_THRESHOLD * 255:
        raise MaskError(
            f"mask {path} has no region: no pixel is brighter than mid-grey "
            "(transparent counts as black); paint the region opaque white"
        )
    mask_ratio, photo_ratio = grey.shape[1] / grey.shape[0], width / height
    if abs(mask_ratio / photo_ratio - 1) > ASPECT_TOLERANCE + 1 / min(height, width, *grey.shape):
        raise MaskError(
            f"mask {path} is {grey.shape[1]}x{grey.shape[0]} px (width/height {mask_ratio:.3f}) but "
            f"{image_name} is {width}x{height} px ({photo_ratio:.3f}); draw the mask at {image_name}'s shape"
        )
    return resize(grey, height, width) / np.float32(255), grey.shape


def layer_guides(mask, layers, mode="inside", grow_positions=0):
    """{layer: float32 guide} of a (height, width) mask at each of `layers`, on that layer's grid:
    ceil(height / 2^k) x ceil(width / 2^k) after k poolings."""
    if mode not in GUIDE_MODES:
        raise ValueError(f"unknown guide mode {mode}; choose from {', '.join(GUIDE_MODES)}")
    unknown = sorted(set(layers) - set(LAYERS))
    if unknown:
        raise ValueError(f"unknown layer {unknown[0]}; choose from {', '.join(LAYERS)}")
    inside = mode == "inside"
    guide = np.asarray(mask >= REGION_THRESHOLD if inside else mask, np.float32)
    guides = {}
    for name in LAYERS[: max(LAYERS.index(layer) for layer in layers) + 1]:
        if name.startswith("pool"):
            guide = _pool(guide, np.min if inside else np.mean)
        elif inside:  # padding is no part of the outside: a cell beyond the border counts as in (1)
            guide = cv2.erode(guide, np.ones((3, 3), np.uint8))  # cv2's default border: left out of the minimum
        if name in layers:
            guides[name] = _grow(guide, grow_positions)
    return guides


def _pool(guide, reduce):
    """2x2 pooling, SAME padding: a window at an odd edge covers only the cells that exist (repeating
    the edge gives exactly their minimum and their mean, as TensorFlow's pooling does)."""
    height, width = guide.shape
    padded = np.pad(guide, ((0, height % 2), (0, width % 2)), mode="edge")
    return reduce(padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2), axis=(1, 3)).astype(np.float32)


def _grow(guide, positions):
    if positions == 0:
        return guide
    extreme = cv2.dilate if positions > 0 else cv2.erode
    return extreme(guide, np.ones((2 * abs(positions) + 1,) * 2, np.uint8), borderType=cv2.BORDER_REPLICATE)


def soften_edge(mask, sigma_share=0.005):
    """The mask with its edge blurred over about sigma_share of the image's longer side (at least a
    pixel), so that what is kept and what is painted meet without a seam."""
    sigma_px = max(1.0, sigma_share * max(mask.shape))
    return np.clip(cv2.GaussianBlur(np.asarray(mask, np.float32), (0, 0), sigma_px), 0, 1)
