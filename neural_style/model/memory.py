"""How much memory a run needs, and the tile size that keeps a pass within the machine's: a size
that cannot fit is refused before any work, naming one that does."""

import os

import numpy as np

from neural_style.errors import TooLargeError
from utils import fit_long_side

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


CGROUP_LIMIT_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # v2, v1


def cgroup_limit_bytes(files=CGROUP_LIMIT_FILES):
    """The memory limit of this process's cgroup (v2 or v1), or None where there is none."""
    for path in files:
        try:
            with open(path) as f:
                limit = f.read().strip()
        except OSError:
            continue
        return None if limit == "max" or int(limit) >= 2**60 else int(limit)  # v1 says "none" with ~2^63
    return None


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


def run_peak_bytes(content_shape, style_shapes, size_px, style_scale, tile_px):
    """The estimated peak of a run of the photo and paintings of these shapes at size_px, the paintings
    at style_scale, in tiles of tile_px."""
    height, width = fit_long_side(content_shape, size_px)
    style_long_px = max(1, round(size_px * style_scale))
    style_pixels = sum(np.prod(fit_long_side(shape, style_long_px), dtype=float) for shape in style_shapes)
    return peak_memory_bytes(height, width, tile_px, style_pixels)


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
        return run_peak_bytes(content_shape, style_shapes, size_px, style_scale, tile_px)

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
