"""The work of a run, as jobs: the passes of the coarse-to-fine ladder and, for an image larger than a
tile, the tiles of a pass; for a video, those of each frame (frames.py). The work knows nothing of
files: it reports to an observer after each step and each finished job, and asks it for what an
interrupted run left, so that it goes on from there.
"""

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

import utils
from neural_style.model.guides import layer_guides, soften_edge
from neural_style.model.losses import StyleTransferLoss, painting_grams, style_targets
from neural_style.model.optimizers import ImageOptimizer
from neural_style.model.tf_setup import resolve_precision
from neural_style.settings import Settings
from neural_style.work.observer import Observer
from neural_style.work.tiles import paste, tile_boxes
from vgg_model import VGG19


@dataclasses.dataclass(frozen=True)
class Job:
    """One unit of work: a pass at size_px (tile 0), or one tile of it (tile 1..tiles), of a still image
    (frame 0) or of a video's frame 1..frames."""

    pass_index: int  # 1 for the coarsest pass
    passes: int
    size_px: int
    height: int
    width: int
    iterations: int
    tile: int = 0
    tiles: int = 0  # how many tiles the pass is cut into; 0 for a pass done in one piece
    frame: int = 0
    frames: int = 0  # how many frames the video has; 0 for a still image

    @property
    def label(self):
        text = f"frame {self.frame}/{self.frames} " if self.frame else ""
        text += f"pass {self.pass_index}/{self.passes} " if self.passes > 1 else ""
        text += f"{self.width}x{self.height}"
        return text + (f" tile {self.tile}/{self.tiles}" if self.tile else "")

    @property
    def whole_pass(self):
        return dataclasses.replace(self, tile=0)


@dataclasses.dataclass(frozen=True)
class Masks:
    """Spatial control (guides.py), as float32 0..1 arrays; None where not asked for."""

    styles: tuple = None  # one (height, width) mask per painting at the photo's size: where its style goes
    paintings: tuple = None  # one mask per painting at its own size, or None: the part that gives the style
    content: np.ndarray = None  # (height, width) at the photo's size: style only here, the photo elsewhere
    mode: str = "inside"  # how a mask reaches each layer (guides.layer_guides)

    def __bool__(self):
        return any(masks is not None for masks in (self.styles, self.paintings, self.content))


def prepare_images(settings, content, styles, size_px):
    """Content and style images for one pass, after colour handling, and the function that turns an
    optimized image into the output (luminance transfer puts the photo's colours back)."""
    height, width = utils.fit_long_side(content.shape, size_px)
    content = utils.resize(content, height, width)
    styles = [utils.resize(s, *utils.fit_long_side(s.shape, round(size_px * settings.style_scale))) for s in styles]
    if settings.preserve_colors == "histogram":
        styles = [utils.match_colour_histogram(style, content) for style in styles]
    if settings.preserve_colors != "luminance":
        return content, styles, lambda image: image
    content_gray = utils.luminance(content)
    styles = [utils.match_luminance(utils.luminance(style), content_gray) for style in styles]
    return content_gray, styles, lambda image: utils.recombine_colour(image, content)


def build_optimizer(settings, network, content, targets, start, regions=None, extend_loss=None):
    """The optimizer of one job's image from `start`, on the loss `settings` describe (the style in
    regions when `regions` are given, see StyleTransferLoss), turned into extend_loss(loss) if given
    (a video's frame adds its temporal term)."""
    loss = StyleTransferLoss(
        network,
        content,
        targets,
        settings.content_layers,
        settings.style_layers,
        settings.content_weight,
        settings.style_weight,
        settings.tv_weight,
        regions,
    )
    return ImageOptimizer(extend_loss(loss) if extend_loss else loss, start, settings.optimizer, settings.learning_rate)


def build_network(settings, weights):
    """VGG19 up to the deepest layer the loss uses, in the precision the settings ask for."""
    return VGG19(
        weights,
        [*settings.content_layers, *settings.style_layers],
        settings.pooling,
        resolve_precision(settings.precision),
    )


def stylize(settings, content, styles, network, tile_px, observer=None, masks=Masks(), frame=0, frames=0):
    """The photo `content` painted in the style of `styles` (float32 RGB 0..255 arrays) as `settings`
    say: every pass, coarse to fine, each starting from the previous one's result, in tiles where a
    pass is larger than tile_px; in regions where `masks` say. Returns the picture. frame/frames: the
    video frame it is, if any."""
    observer = observer or Observer()
    image, passes = None, list(zip(settings.scales, settings.iterations))
    for index, (size_px, iterations) in enumerate(passes, start=1):
        pass_content, pass_styles, to_output = prepare_images(settings, content, styles, size_px)
        height, width = pass_content.shape[:2]
        if masks.content is not None:
            to_output = kept_outside(to_output, utils.resize(content, height, width), masks.content)
        tiles = len(tile_boxes(height, width, tile_px, tile_px // 8)) if max(height, width) > tile_px else 0
        job = Job(index, len(passes), size_px, height, width, iterations, tiles=tiles, frame=frame, frames=frames)
        if image is None:
            start = utils.start_image(settings.init, pass_content, pass_styles[0], settings.noise_ratio, settings.seed)
        else:
            start = utils.resize(image, height, width)
        style = PassStyle(settings, network, pass_styles, masks, height, width)
        work = Work(settings, network, style, observer, to_output)
        image = work.in_tiles(job, pass_content, start, tile_px) if tiles else work.whole(job, pass_content, start)
    return to_output(image)


def kept_outside(to_output, photo, content_mask):
    """to_output, with the photo kept outside the content mask, blended across a feathered edge."""
    keep = soften_edge(utils.resize(content_mask, *photo.shape[:2]))[:, :, None]
    return lambda image: keep * to_output(image) + (1 - keep) * photo


class PassStyle:
    """The style targets of one pass (computed on first need), and for a box of its image the regions
    the style loss is split into, if masks ask for any (else None: one style over the whole image)."""

    def __init__(self, settings, network, paintings, masks, height, width):
        self.settings, self.network, self.paintings, self.masks = settings, network, paintings, masks
        self.height, self.width = height, width

    @functools.cached_property
    def targets(self):
        """The blended Gram matrices of the paintings (or of their regions). A painting's region too
        small for a layer (no neuron of it sees only the region, guides.py) gives that layer nothing:
        the layer blends the other paintings, and one that no region reaches is left out of the style
        loss, as the paper's code leaves out the regions of the image a layer does not reach."""
        if self.masks.paintings is None:
            s = self.settings
            return style_targets(self.network, self.paintings, s.style_blend, s.style_layers)
        targets = {}
        for name in self.layers:
            reached = [(w, t[name]) for w, t in zip(self.settings.style_blend, self.painting_targets) if name in t]
            if reached:
                targets[name] = sum(w * target for w, target in reached) / sum(w for w, _ in reached)
        return targets

    @functools.cached_property
    def painting_targets(self):
        """Each painting's Gram matrices, over the region its mask picks out where it has one."""
        painting_masks = self.masks.paintings or [None] * len(self.paintings)
        return [
            painting_grams(
                self.network,
                painting,
                self.layers,
                None if mask is None else utils.resize(mask, *painting.shape[:2]),
                self.masks.mode,
            )
            for painting, mask in zip(self.paintings, painting_masks)
        ]

    @property
    def layers(self):
        return list(self.settings.style_layers)

    def regions(self, box):
        """[(guides, targets, weight)] of the regions on box = (top, left, bottom, right), or None."""
        if not self.masks:
            return None
        content = self.resized(self.masks.content, box)
        if self.masks.styles is None:
            image_masks, targets, weights = [content], [self.targets], [1.0]
        else:
            image_masks = [self.resized(mask, box) for mask in self.masks.styles]
            if content is not None:
                image_masks = [mask * content for mask in image_masks]
            targets, weights = self.painting_targets, self.settings.style_blend
        ones = np.ones((box[2] - box[0], box[3] - box[1]), np.float32)
        return [
            (layer_guides(ones if mask is None else mask, self.layers, self.masks.mode), target, weight)
            for mask, target, weight in zip(image_masks, targets, weights)
        ]

    def resized(self, mask, box):
        if mask is None:
            return None
        top, left, bottom, right = box
        return utils.resize(mask, self.height, self.width)[top:bottom, left:right]


@dataclasses.dataclass
class Work:
    """The optimization of one pass's jobs against its style."""

    settings: Settings
    network: VGG19
    style: PassStyle
    observer: Observer
    to_output: Callable  # the pass's optimized image -> the picture the user sees
    extend_loss: Callable = None  # see build_optimizer; with a `key`: which jobs' losses compile alike
    kept: dict = None  # the last job's optimizer, by what it was compiled for; None: none kept

    def whole(self, job, content, start, box=None):
        """Optimize one image (a pass, or the tile at box) from `start`, or go on from its saved state."""
        saved = self.observer.saved_state(job)
        self.observer.job_started(job, saved["step"] if saved else 0, self.to_output)
        if saved and saved.get("finished_at", 0) >= job.iterations:
            return saved["image"]
        regions = self.style.regions(box or (0, 0, job.height, job.width))
        targets = None if regions else self.style.targets
        optimizer = self.optimizer(content, targets, start, regions)
        if saved:
            optimizer.restore(saved)
        optimizer.run(job.iterations, lambda progress: self.observer.step(job, progress, optimizer))
        self.observer.job_finished(job, dict(optimizer.state(), finished_at=job.iterations))
        return optimizer.result()

    def optimizer(self, content, targets, start, regions):
        """A new optimizer of a job; or, where `kept` holds one compiled for a job of the same size, targets
        and loss (a video's later frames), that one aimed at this job: the loss is traced once, not per job."""
        build = functools.partial(build_optimizer, self.settings, self.network, content, targets, start)
        if self.kept is None or regions or self.extend_loss is None:
            return build(regions, self.extend_loss)
        key = (content.shape, id(targets), self.extend_loss.key)
        if key not in self.kept:
            self.kept.clear()  # one kept at most: its memory is a job's (the history alone, 20 images)
            self.kept[key] = build(None, self.extend_loss)
            return self.kept[key]
        optimizer = self.kept[key]
        optimizer.loss.aim(content, self.extend_loss)
        optimizer.restart(start)
        return optimizer

    def in_tiles(self, job, content, start, tile_px):
        """Refine the image tile after tile, each from the current canvas, and paste it back feathered.

        A pass that already went over all its tiles with fewer iterations (a run extended by a larger
        --iterations) goes over them again, each tile going on from its own state.
        """
        overlap_px = tile_px // 8
        boxes = tile_boxes(job.height, job.width, tile_px, overlap_px)
        canvas, tiles_done = start.copy(), 0
        saved = self.observer.saved_canvas(job)
        if saved:
            canvas, tiles_done, iterations = saved
            if tiles_done == len(boxes) and iterations < job.iterations:
                tiles_done = 0
        for tile, (top, left, bottom, right) in enumerate(boxes[tiles_done:], start=tiles_done + 1):
            tile_job = dataclasses.replace(job, tile=tile)
            box = (top, left, bottom, right)
            result = self.whole(tile_job, content[top:bottom, left:right], canvas[top:bottom, left:right], box)
            paste(canvas, result, (top, left, bottom, right), overlap_px)
            self.observer.tile_pasted(tile_job, canvas)
        return canvas
