"""The settings of a run, as one frozen object: built once from style_transfer.py's constants and
flags (settings_from), never changed after; a run that needs another value makes a copy with
dataclasses.replace. The defaults are style_transfer.py's constants, and only those."""

import dataclasses
import os

from neural_style.errors import UserError
from neural_style.files.videos import is_video_source
from utils import START_IMAGES
from vgg_model import LAYERS


@dataclasses.dataclass(frozen=True)
class Settings:
    """What each field means is the comment of its constant in style_transfer.py (and --help)."""

    content_image: str  # the run's photo or video; a batch's other photos are in content_images
    content_images: tuple[str, ...]
    style_images: tuple[str, ...]
    each_style: bool
    style_blend: tuple[float, ...]  # normalized: sums to 1
    size_px: int
    scales: tuple[int, ...]  # each pass's size, increasing to size_px
    style_masks: tuple[str, ...]
    style_region_masks: tuple[str, ...]
    content_mask: str | None
    mask_mode: str
    style_scale: float
    content_weight: float
    style_weight: float
    tv_weight: float
    content_layers: dict[str, float]
    style_layers: dict[str, float]
    pooling: str
    preserve_colors: str
    init: str
    noise_ratio: float
    precision: str  # "auto" until the run resolves it (style_transfer.run)
    optimizer: str
    learning_rate: float
    iterations: tuple[int, ...]  # each pass's
    save_every: int
    print_every: int
    seed: int
    weights_file: str | None
    output_dir: str
    tile_px: int
    first_frame: int
    frame_count: int
    frame_every: int
    frame_iterations: int
    temporal_weight: float
    temporal_gaps: tuple[int, ...]  # frames back the temporal loss compares with, 1 first
    video_passes: int  # sweeps over a video (work/sweeps.py)
    chunk_frames: int
    chunk_overlap: int
    cluster: str | None
    cpus_per_task: int
    serve: bool
    host: str
    port: int
    fresh: bool

    def as_dict(self):
        """The fields, as a record or the run's identity holds them (tuples as lists in JSON)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def settings_from(values):
    """The Settings of the flags' values ({field: value}, lists as argparse gives them), checked
    together and with the derived values filled in: the pass sizes from a count, each pass's
    iterations from one number, the blend normalized. UserError, one line, if they do not fit."""
    values = dict(values)
    contents = values["content_image"]
    values["content_images"] = tuple([contents] if isinstance(contents, str) else contents)
    values["content_image"] = values["content_images"][0]
    values["content_layers"], values["style_layers"] = dict(values["content_layers"]), dict(values["style_layers"])
    for name in [*values["content_layers"], *values["style_layers"]]:
        if name not in LAYERS:
            raise UserError(f"unknown layer {name!r}; choose from {' '.join(LAYERS)}")
    values["style_blend"] = normalized_blend(values["style_blend"], len(values["style_images"]))
    values["scales"] = pass_sizes(values["scales"], values["size_px"])
    values["iterations"] = pass_iterations(values["iterations"], len(values["scales"]))
    settings = Settings(**{name: tuple(v) if isinstance(v, list) else v for name, v in values.items()})
    check(settings)
    return settings


def normalized_blend(blend, paintings):
    blend = blend or [1.0] * paintings
    if len(blend) != paintings or max(blend) <= 0:
        raise UserError(f"--style-blend needs {paintings} weights, not all 0 (one per style image)")
    blend = [weight / max(blend) for weight in blend]  # first, so that the sum cannot overflow
    return tuple(weight / sum(blend) for weight in blend)


def pass_sizes(scales, size_px):
    """A count halves from size_px, keeping passes of 16 px or more; sizes end at size_px."""
    if len(scales) == 1:
        halvings = range(min(scales[0], 12) - 1, 0, -1)
        scales = sorted({round(size_px / 2**k) for k in halvings} - set(range(16))) + [size_px]
    elif scales[-1] < size_px:
        scales = [*scales, size_px]
    if list(scales) != sorted(set(scales)) or scales[-1] != size_px:
        raise UserError(f"--scales must increase up to --size {size_px}")
    return tuple(scales)


def pass_iterations(iterations, passes):
    """One number is the last pass's; each coarser pass gets half as many."""
    if len(iterations) == 1:
        iterations = [max(1, iterations[0] // 2 ** (passes - 1 - i)) for i in range(passes)]
    if len(iterations) != passes:
        raise UserError(f"--iterations needs 1 or {passes} numbers (one per pass)")
    return tuple(iterations)


def check(settings):
    """Settings that are valid one by one but not together."""
    for flag, masks in (("--style-masks", settings.style_masks), ("--style-region-masks", settings.style_region_masks)):
        if masks and len(masks) != len(settings.style_images):
            raise UserError(f"{flag} needs {len(settings.style_images)} masks, one per style image, not {len(masks)}")
    if settings.init not in START_IMAGES and not os.path.isfile(settings.init):
        raise UserError(f"--init {settings.init!r} is neither one of {', '.join(START_IMAGES)} nor an image file")
    masks_given = settings.style_masks or settings.style_region_masks or settings.content_mask
    if is_video_source(settings.content_image) and masks_given:
        raise UserError("--style-masks, --style-region-masks and --content-mask work on photos, not on videos")
    if settings.temporal_gaps[0] != 1 or list(settings.temporal_gaps) != sorted(set(settings.temporal_gaps)):
        raise UserError("--temporal-gaps must start at 1 and increase (such as 1 10 20 40)")
    if settings.video_passes > 1 and (settings.chunk_frames or settings.cluster is not None):
        raise UserError("--passes sweeps the whole clip back and forth: not with --chunk-frames or --cluster")
    if settings.chunk_frames and settings.chunk_overlap >= settings.chunk_frames:
        raise UserError(f"--chunk-overlap must be below --chunk-frames ({settings.chunk_frames})")
