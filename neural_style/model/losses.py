"""The losses of Gatys, Ecker and Bethge: how far an image's VGG19 features are from the photo's
content and the painting's style.

Following the paper (arXiv 1508.06576, eqs. 1-5):
  content = sum over content layers l of w_l * 1/2 * sum (F_l - P_l)^2
  style   = sum over style layers l of w_l * 1/(4 N_l^2 M_l^2) * sum (G_l - A_l)^2
  total   = content_weight * content + style_weight * style + tv_weight * total variation
where F_l is the (M_l positions x N_l channels) feature map of the generated image, P_l the photo's,
and G_l = F_l^T F_l, A_l the Gram matrices of the generated image and of the painting. Each Gram
matrix is divided by its own M_l before the difference (the same thing when both images have the
same size), so that a painting of any size gives targets on the right scale. Several paintings
blend by a weighted sum of their Gram matrices. Total variation is the sum of squared differences
between neighbouring pixels; it smooths away high-frequency speckle.
"""

from neural_style.model.guides import layer_guides
from neural_style.model.memory import tile_size
from neural_style.model.tf_setup import tf
from vgg_model import layer_stride

ALIGN_PX = 16  # VGG19 halves the resolution four times before conv5_1
GRAM_BLOCKS = 16  # row blocks a Gram matrix is summed in (summed_in_blocks)


def gram_matrix(features, guide=None):
    """The guided Gram matrix (F g)^T (F g) / sum(g^2) of a (1, height, width, N) feature map, F being
    its (M = height*width) x N reshape and g a (height, width) guide (guides.py); without a guide, a
    guide of ones: F^T F / M. Summed in float32 whatever the network's precision (summed_in_blocks).

    Its gradient g (F g) (dG + dG^T) / sum(g^2) is one matmul instead of autodiff's two; without a
    guide it is taken in the features' own precision: the gradient goes on into the network in that
    precision anyway."""
    weights = None if guide is None else tf.reshape(tf.cast(guide, tf.float32), (-1, 1))

    @tf.custom_gradient
    def gram(features):
        flat = tf.reshape(features, (-1, features.shape[-1]))
        if weights is None:
            weighted, norm = flat, tf.cast(tf.shape(flat)[0], tf.float32)
        else:
            weighted, norm = tf.cast(flat, tf.float32) * weights, tf.reduce_sum(tf.square(weights))

        def gradient(upstream):
            symmetric = (upstream + tf.transpose(upstream)) / norm
            if weights is None:
                flat_gradient = tf.matmul(flat, tf.cast(symmetric, features.dtype))
            else:
                flat_gradient = tf.cast(weights * tf.matmul(weighted, symmetric), features.dtype)
            return tf.reshape(flat_gradient, tf.shape(features))

        return summed_in_blocks(weighted) / norm, gradient

    return gram(features)


def summed_in_blocks(flat):
    """flat^T flat for an (M x N) matrix, in float32: the sum of GRAM_BLOCKS products of its row blocks,
    each computed in flat's own precision. One product over all M rows is a single long reduction that
    the threads do not share, and in float32 it leaves the bfloat16 matrix units idle; the blocks are a
    batch the threads split. In bfloat16 each block's product is rounded once to 8 bits of mantissa
    before the float32 sum (tests/test_network.py bounds the error)."""
    rows, columns = tf.shape(flat)[0], flat.shape[-1]
    padded = tf.pad(flat, [[0, (-rows) % GRAM_BLOCKS], [0, 0]])  # rows of zeros add nothing
    blocks = tf.reshape(padded, (GRAM_BLOCKS, -1, columns))
    return tf.reduce_sum(tf.cast(tf.matmul(blocks, blocks, transpose_a=True), tf.float32), axis=0)


def total_variation(image):
    """The sum of squared differences between vertically and horizontally neighbouring pixels."""

    @tf.custom_gradient  # applied here, not on import: TensorFlow loads only once a run needs it (tf_setup)
    def summed(image):
        down = image[:, 1:, :, :] - image[:, :-1, :, :]
        right = image[:, :, 1:, :] - image[:, :, :-1, :]

        def gradient(upstream):
            # Each pixel's differences with the pixels before and after it, zero beyond the border: what
            # autodiff builds from StridedSliceGrad, many times slower (benchmarks/README.md).
            down_padded = tf.pad(down, [[0, 0], [1, 1], [0, 0], [0, 0]])
            right_padded = tf.pad(right, [[0, 0], [0, 0], [1, 1], [0, 0]])
            return (
                2.0
                * upstream
                * (down_padded[:, :-1] - down_padded[:, 1:] + right_padded[:, :, :-1] - right_padded[:, :, 1:])
            )

        return tf.reduce_sum(tf.square(down)) + tf.reduce_sum(tf.square(right)), gradient

    return summed(image)


def style_targets(network, styles, style_blend, style_layers):
    """The blended Gram matrices {layer: G / M} of the paintings, each computed whole where memory
    allows, else in the largest tiles that fit, so that a painting as large as a poster fits too."""
    grams = [painting_grams(network, style, list(style_layers)) for style in styles]
    return {name: tf.add_n([blend * gram[name] for blend, gram in zip(style_blend, grams)]) for name in style_layers}


def painting_grams(network, painting, layers, mask=None, mode="inside", grow_positions=0):
    """{layer: A_l}: the Gram matrices of a (height, width, 3) painting, over the region of `mask` (at
    the painting's size; guides.layer_guides says how it reaches each layer) or over all of it, in
    tiles where it is too large to compute whole. Layers where the region's guide is empty are left out."""
    if mask is None:
        return tiled_gram_matrices(network, painting, layers, tile_size(*painting.shape[:2]))
    features = network(tf.constant(painting[None]))
    guides = layer_guides(mask, layers, mode, grow_positions)
    return {name: gram_matrix(features[name], guide) for name, guide in guides.items() if guide.any()}


def tiled_gram_matrices(network, image, layers, tile_px, margin_px=64):
    """The Gram matrices F^T F / M of `image` at `layers`, computed in tiles of at most tile_px.

    Every tile is run with `margin_px` of context around its core, and only the core's feature
    positions are counted, so each position of the whole feature map is counted once. Cores start and
    end on multiples of 16 pixels, where the positions of every layer down to conv5_1 line up.
    """
    height, width = image.shape[:2]
    if max(height, width) <= tile_px:
        features = network(tf.constant(image[None]))
        return {name: gram_matrix(features[name]) for name in layers}
    margin_px = -(-margin_px // ALIGN_PX) * ALIGN_PX
    core_px = max(ALIGN_PX, (tile_px - 2 * margin_px) // ALIGN_PX * ALIGN_PX)
    sums = {name: 0.0 for name in layers}
    for core_top in range(0, height, core_px):
        for core_left in range(0, width, core_px):
            core_bottom, core_right = min(core_top + core_px, height), min(core_left + core_px, width)
            top, left = max(0, core_top - margin_px), max(0, core_left - margin_px)
            bottom, right = min(height, core_bottom + margin_px), min(width, core_right + margin_px)
            features = network(tf.constant(image[None, top:bottom, left:right]))
            for name in layers:
                stride = layer_stride(name)
                core = features[name][
                    0,
                    (core_top - top) // stride : -(-(core_bottom - top) // stride),
                    (core_left - left) // stride : -(-(core_right - left) // stride),
                ]
                sums[name] += gram_matrix(core[None]) * float(core.shape[0] * core.shape[1])
    return {name: sums[name] / float(feature_positions(height, width, layer_stride(name))) for name in layers}


def feature_positions(height, width, stride):
    """M of a layer: its feature map's height x width (SAME pooling rounds up)."""
    return -(-height // stride) * -(-width // stride)


def style_loss(features, regions, style_layers):
    """sum over regions r and style layers l of v_r w_l sum (G_l^r - A_l^r)^2 / (4 N_l^2).

    features: {layer: (1, h, w, N)} of the image; regions: [(guides, targets, v_r)], guides being
    guides.layer_guides of the region on the image (None: the whole image) and targets painting_grams
    of its painting; style_layers: {layer: w_l}. Terms with an empty guide or without a target are
    left out (as the paper's code does)."""
    terms = []
    for guides, targets, region_weight in regions:
        for name, weight in style_layers.items():
            guide = None if guides is None else guides[name]
            if name in targets and (guide is None or guide.any()):
                difference = gram_matrix(features[name], guide) - targets[name]
                terms.append(
                    region_weight
                    * weight
                    * tf.reduce_sum(tf.square(difference))
                    / (4.0 * features[name].shape[-1] ** 2)
                )
    return tf.add_n(terms) if terms else tf.constant(0.0)


class StyleTransferLoss:
    """The total loss of an image against one photo's content and the paintings' style targets over
    the whole image; or, given `regions` [(guides, targets, weight)] (spatial control, guides.py),
    the style of each region against its own targets."""

    def __init__(
        self,
        network,
        content,
        style_targets,
        content_layers,
        style_layers,
        content_weight,
        style_weight,
        tv_weight,
        regions=None,
    ):
        self.network = network
        self.content_layers, self.style_layers = dict(content_layers), dict(style_layers)
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        # Variables, so that a compiled loss can be aimed at another photo of the same size (aim).
        self.content_targets = {
            name: tf.Variable(features, trainable=False, name=f"content_{name}")
            for name, features in self.content_features(content).items()
        }
        self.style_targets = style_targets
        self.regions = regions or [(None, style_targets, 1.0)]

    def content_features(self, content):
        features = self.network(tf.constant(content[None]))
        return {name: tf.cast(features[name], tf.float32) for name in self.content_layers}

    def aim(self, content):
        """The content term against `content`, a photo the size of the one it was built with."""
        for name, features in self.content_features(content).items():
            self.content_targets[name].assign(features)

    def __call__(self, image):
        """(content, style, total variation, total) for a (1, height, width, 3) image."""
        features = self.network(image)
        content = tf.add_n(
            [
                weight
                * 0.5
                * tf.reduce_sum(tf.square(tf.cast(features[name], tf.float32) - self.content_targets[name]))
                for name, weight in self.content_layers.items()
            ]
        )
        style = style_loss(features, self.regions, self.style_layers)
        tv = total_variation(image)
        total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return content, style, tv, total
