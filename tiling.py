"""High resolution in bounded memory: how much memory a run needs, the tile size that keeps it within
the machine's, and the overlapping tiles themselves, blended back without seams.

Memory of one optimization step grows with the pixel count, so a poster is refined tile after tile,
each tile starting from the current canvas (so it sees its already-refined neighbours in the overlap)
and pasted back with weights that ramp linearly across the overlap.
"""

import os

import numpy as np

from errors import TooLargeError
from utils import fit_long_side

ALIGN_PX = 16  # VGG19 halves the resolution four times before conv5_1


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


# --- Memory -------------------------------------------------------------------------------------------
# Peak resident memory of a run ~ PEAK_BASE_BYTES + PEAK_BYTES_PER_PIXEL x (pixels optimized at once:
# the image or one tile; the activations of VGG19 up to conv5_1 and their gradients, and L-BFGS's
# history) + IMAGE_BYTES_PER_PIXEL x (pixels of the full-size images held at once: the result and the
# paintings at their scale). Fitted to whole L-BFGS runs (benchmarks/README.md) and rounded up, so that
# an estimate errs on the safe side.
PEAK_BASE_BYTES = 3 << 29
PEAK_BYTES_PER_PIXEL = 4 << 10
IMAGE_BYTES_PER_PIXEL = 96
MIN_TILE_PX = 64  # smaller tiles see too little of the picture for the style to take (and cost more than they save)
TILE_BUDGET_SHARE = 0.75  # of the machine's memory; the rest is for the system and other programs


def total_memory_bytes():
    """The machine's memory, capped by a cgroup limit if there is one."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return min(total, cgroup_limit_bytes() or total)


def cgroup_limit_bytes():
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
    except OSError:
        return None
    return None if limit == "max" else int(limit)


def available_memory_bytes():
    """Memory this process may still use: MemAvailable, capped by a cgroup limit if there is one."""
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    return min(available, cgroup_limit_bytes() or available)


def peak_memory_bytes(height, width, tile_px, style_pixels=0):
    return (
        PEAK_BASE_BYTES
        + PEAK_BYTES_PER_PIXEL * min(height, tile_px) * min(width, tile_px)
        + IMAGE_BYTES_PER_PIXEL * (height * width + style_pixels)
    )


def largest_tile_px():
    """The largest square tile (a multiple of 256 px) whose step fits in TILE_BUDGET_SHARE of the
    machine's memory. It depends on the machine's total memory only, not on what happens to be free."""
    budget = TILE_BUDGET_SHARE * total_memory_bytes()
    smallest = peak_memory_bytes(MIN_TILE_PX, MIN_TILE_PX, MIN_TILE_PX)
    if budget < smallest:
        raise TooLargeError(
            f"this machine has {total_memory_bytes() / 2**30:.1f} GiB of memory; a run needs at "
            f"least {smallest / TILE_BUDGET_SHARE / 2**30:.1f} GiB"
        )
    side_px = int(((budget - PEAK_BASE_BYTES) / PEAK_BYTES_PER_PIXEL) ** 0.5)
    return max(MIN_TILE_PX, side_px // 256 * 256 or side_px)


def tile_size(height, width):
    """The tile side for an image of this size: the whole image if it fits, else the largest tile."""
    if peak_memory_bytes(height, width, max(height, width)) <= TILE_BUDGET_SHARE * total_memory_bytes():
        return max(height, width)
    return largest_tile_px()


def check_memory(content_shape, style_shapes, size_px, style_scale, tile_px):
    """Refuse, before any work, a size (or a painting's scale) whose run would not fit in the memory
    available now; the message names the largest value that fits, found by the same estimate."""
    try:
        available = 0.97 * available_memory_bytes()  # a margin, so that the value suggested fits on a retry
    except (OSError, StopIteration):  # not Linux: nothing to go by
        return

    def needed(size_px, style_scale):
        height, width = fit_long_side(content_shape, size_px)
        style_long_px = max(1, round(size_px * style_scale))
        style_pixels = sum(np.prod(fit_long_side(shape, style_long_px), dtype=float) for shape in style_shapes)
        return peak_memory_bytes(height, width, tile_px, style_pixels)

    need = needed(size_px, style_scale)
    if need <= available:
        return
    height, width = fit_long_side(content_shape, size_px)
    what = f"{width}x{height} px" + (f" with the painting at {style_scale:g}x" if style_scale != 1 else "")
    start = f"{what} needs about {gib(need)} of memory but {gib(available / 0.97)} are available"
    size_fits = largest(lambda size: needed(size, style_scale) <= available, size_px)
    if size_fits >= 16:
        raise TooLargeError(f"{start}; use --size {size_fits} or less, or a smaller --tile-px")
    scale_steps = largest(lambda steps: needed(size_px, steps / 1000) <= available, round(style_scale * 1000))
    if scale_steps >= 1:
        raise TooLargeError(f"{start}; use --style-scale {scale_steps / 1000:g} or less")
    raise TooLargeError(f"{start}; use a smaller --size and --style-scale")


def gib(size_bytes):
    return f"{size_bytes / 2**30:.1f} GiB" if size_bytes < 2**43 else f"{size_bytes / 2**30:.1e} GiB"


def largest(fits, above):
    """The largest integer n in [0, above) with fits(n), for a fits() that holds up to some n and not beyond."""
    low, high = 0, above
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low
