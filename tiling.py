"""High resolution in bounded memory: cut an image into overlapping tiles, blend them back without
seams, and compute a whole image's Gram matrices tile by tile.

Memory of one optimization step grows with the pixel count, so a poster is refined tile after tile,
each tile starting from the current canvas (so it sees its already-refined neighbours in the overlap)
and pasted back with weights that ramp linearly across the overlap.
"""
import numpy as np

ALIGN_PX = 16  # VGG19 halves the resolution four times before conv5_1


def tile_starts(length, tile, overlap):
    """Starts of tiles of `tile` pixels covering 0..length, neighbours overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    count = int(np.ceil((length - overlap) / (tile - overlap)))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_boxes(height, width, tile_px, overlap_px):
    """(top, left, bottom, right) of each tile, row by row."""
    return [(top, left, min(top + tile_px, height), min(left + tile_px, width))
            for top in tile_starts(height, tile_px, overlap_px) for left in tile_starts(width, tile_px, overlap_px)]


def feather(box, shape, overlap_px):
    """Paste weights (height, width, 1) of a tile: 1 inside, ramping to 0 across the overlap on every
    side that has a neighbour, so that a tile fades into what is already on the canvas."""
    top, left, bottom, right = box
    height, width = shape[:2]

    def ramp(length, low_edge_inside, high_edge_inside):
        weights = np.ones(length, np.float32)
        span = min(overlap_px, length // 2)
        rising = (np.arange(span, dtype=np.float32) + 1) / (span + 1)
        if span and low_edge_inside:
            weights[:span] = rising
        if span and high_edge_inside:
            weights[length - span:] = rising[::-1]
        return weights

    rows = ramp(bottom - top, top > 0, bottom < height)
    columns = ramp(right - left, left > 0, right < width)
    return (rows[:, None] * columns[None, :])[:, :, None]


def paste(canvas, tile, box, overlap_px):
    top, left, bottom, right = box
    weights = feather(box, canvas.shape, overlap_px)
    canvas[top:bottom, left:right] = weights * tile + (1 - weights) * canvas[top:bottom, left:right]


def tiled_gram_matrices(network, image, layers, tile_px, margin_px=64):
    """The Gram matrices F^T F / M of `image` at `layers`, computed in tiles of at most tile_px.

    Every tile is run with `margin_px` of context around its core, and only the core's feature
    positions are counted, so each position of the whole feature map is counted once. Cores start and
    end on multiples of 16 pixels, where the positions of every layer down to conv5_1 line up.
    """
    import tensorflow as tf
    height, width = image.shape[:2]
    margin_px = -(-margin_px // ALIGN_PX) * ALIGN_PX
    if max(height, width) <= tile_px:  # one tile: exactly the whole image's Gram matrices
        core_px = max(height, width)
    else:
        core_px = max(ALIGN_PX, (tile_px - 2 * margin_px) // ALIGN_PX * ALIGN_PX)
    sums = {name: 0.0 for name in layers}
    for core_top in range(0, height, core_px):
        for core_left in range(0, width, core_px):
            core_bottom, core_right = min(core_top + core_px, height), min(core_left + core_px, width)
            top, left = max(0, core_top - margin_px), max(0, core_left - margin_px)
            bottom, right = min(height, core_bottom + margin_px), min(width, core_right + margin_px)
            features = network(tf.constant(image[None, top:bottom, left:right]))
            for name in layers:
                stride = network_stride(name)
                core = features[name][0, (core_top - top) // stride:-(-(core_bottom - top) // stride),
                                      (core_left - left) // stride:-(-(core_right - left) // stride)]
                flat = tf.reshape(core, (-1, core.shape[-1]))
                sums[name] += tf.matmul(flat, flat, transpose_a=True)
    return {name: sums[name] / float(feature_positions(height, width, network_stride(name))) for name in layers}


def network_stride(layer):
    """How many pixels one position of `layer` spans: 2 to the number of poolings up to it."""
    from vgg_model import LAYERS
    return 2 ** sum(1 for name in LAYERS[:LAYERS.index(layer) + 1] if name.startswith("pool"))


def feature_positions(height, width, stride):
    """M of a layer: its feature map's height x width (SAME pooling rounds up)."""
    return -(-height // stride) * -(-width // stride)
