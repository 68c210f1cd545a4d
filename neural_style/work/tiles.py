"""High resolution in tiles: the overlapping tiles of a pass, and each pasted back without seams.

Memory of one optimization step grows with the pixel count (memory.py), so a poster is refined tile
after tile, each tile starting from the current canvas (so it sees its already-refined neighbours in
the overlap) and pasted back with weights that ramp linearly across the overlap.
"""

import numpy as np


def tile_starts(length, tile, overlap):
    """Starts of tiles of `tile` pixels covering 0..length, neighbours overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    count = int(np.ceil((length - overlap) / (tile - overlap)))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_boxes(height, width, tile_px, overlap_px):
    """(top, left, bottom, right) of each tile, row by row."""
    return [
        (top, left, min(top + tile_px, height), min(left + tile_px, width))
        for top in tile_starts(height, tile_px, overlap_px)
        for left in tile_starts(width, tile_px, overlap_px)
    ]


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
            weights[length - span :] = rising[::-1]
        return weights

    rows = ramp(bottom - top, top > 0, bottom < height)
    columns = ramp(right - left, left > 0, right < width)
    return (rows[:, None] * columns[None, :])[:, :, None]


def paste(canvas, tile, box, overlap_px):
    top, left, bottom, right = box
    weights = feather(box, canvas.shape, overlap_px)
    canvas[top:bottom, left:right] = weights * tile + (1 - weights) * canvas[top:bottom, left:right]
