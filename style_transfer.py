"""Neural style transfer (Gatys, Ecker and Bethge, arXiv 1508.06576) with TensorFlow on VGG19.

Edit the settings below, or override any of them with a flag: `python style_transfer.py --help`.
"""
import argparse
import hashlib
import json
import math
import os
import resource
import sys
import time

from vgg_model import PRECISIONS

# --- Settings -------------------------------------------------------------------------------------
CONTENT_IMAGE = "images/cincinnati_bridge.jpg"
STYLE_IMAGES = ["images/starry_night.jpg"]
STYLE_BLEND = []                # one weight per style image; empty: equal weights
SIZE_PX = 512                   # longer side of the result; the aspect ratio of the photo is kept
SCALES = [2]                    # coarse-to-fine: a number of passes (each half the next) or their sizes
STYLE_SCALE = 1.0               # size of the painting relative to the result: larger, larger brush strokes
CONTENT_WEIGHT = 1e-3           # alpha in the paper
STYLE_WEIGHT = 1.0              # beta in the paper
TV_WEIGHT = 0.005               # total-variation smoothing; 0 is off
CONTENT_LAYERS = {"conv4_2": 1.0}  # layer: weight
STYLE_LAYERS = {"conv1_1": 0.2, "conv2_1": 0.2, "conv3_1": 0.2, "conv4_1": 0.2, "conv5_1": 0.2}
POOLING = "avg"                 # "avg" as in the paper, or "max"
PRESERVE_COLORS = "none"        # "none", "luminance" (style on brightness only) or "histogram"
INIT = "mix"                    # start image: "mix" (noise in the photo), "content", "style", "noise" or a file
NOISE_RATIO = 0.6               # share of the original's grey noise in the "mix" start image
PRECISION = "auto"              # VGG19 arithmetic: "float32", "bfloat16" (2x as fast where the CPU has it), "auto"
OPTIMIZER = "lbfgs"             # "lbfgs", or "adam" as in the original
LEARNING_RATE = 2.0             # Adam's step size in pixel values (0..255)
ITERATIONS = [100]              # per pass; one number: the full-size pass's, each coarser pass half as many
SAVE_EVERY = 50                 # write an image and a checkpoint every this many iterations
PRINT_EVERY = 10
SEED = 0
WEIGHTS_FILE = None             # a VGG19 .mat or .h5 of your own; None fetches and caches one
OUTPUT_DIR = "outputs"
TILE_PX = 0                     # refine images larger than this in overlapping tiles; 0: what memory allows
# ----------------------------------------------------------------------------------------------------

# Settings that do not change the picture, so a run can be resumed or extended with other values.
NOT_IN_RUN_IDENTITY = ("iterations", "save_every", "print_every", "output_dir", "fresh", "weights_file")


class UsageError(Exception):
    """A setting the user gave cannot work; the message says which."""


def number(kind, low=None, high=None, low_allowed=True):
    """An argparse type: a finite `kind` number in [low, high], or (low, high] when low is not allowed."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or (low is not None and (value < low or value == low and not low_allowed)) \
                or (high is not None and value > high):
            bounds = f"{'[' if low_allowed else '('}{low}, {'inf' if high is None else high}]"
            raise argparse.ArgumentTypeError(f"{text} is outside {bounds}")
        return value
    return parse


positive_int, positive_float = number(int, 0, low_allowed=False), number(float, 0, low_allowed=False)
non_negative_float = number(float, 0)


def layer_weight(text):
    """'conv4_2' or 'conv4_2:0.5' -> ('conv4_2', weight)."""
    name, _, weight = text.partition(":")
    return name, non_negative_float(weight) if weight else 1.0


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action):  # a help text that spells out its default keeps it
        return action.help if "default:" in action.help else super()._get_help_string(action)


def layers_text(layers):
    return " ".join(f"{name}:{weight:g}" for name, weight in layers.items())


def parse_args(argv=None):
    p = Parser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    p.add_argument("--content", dest="content_image", default=CONTENT_IMAGE, help="the photo")
    p.add_argument("--style", dest="style_images", nargs="+", default=STYLE_IMAGES,
                   help=f"one or more paintings (default: {' '.join(STYLE_IMAGES)})")
    p.add_argument("--style-blend", nargs="+", type=non_negative_float, default=STYLE_BLEND,
                   help="weight of each painting, normalized to sum to 1 (default: equal weights)")
    p.add_argument("--size", dest="size_px", type=positive_int, default=SIZE_PX,
                   help="longer side of the result in pixels; the photo's aspect ratio is kept")
    p.add_argument("--scales", nargs="+", type=positive_int, default=SCALES,
                   help="coarse-to-fine passes: a count (each pass half the size of the next) or the sizes "
                        f"(default: {' '.join(map(str, SCALES))})")
    p.add_argument("--style-scale", type=positive_float, default=STYLE_SCALE,
                   help="size of the painting relative to the result; larger gives larger brush strokes")
    p.add_argument("--content-weight", type=non_negative_float, default=CONTENT_WEIGHT, help="alpha in the paper")
    p.add_argument("--style-weight", type=non_negative_float, default=STYLE_WEIGHT, help="beta in the paper")
    p.add_argument("--tv-weight", type=non_negative_float, default=TV_WEIGHT,
                   help="total-variation smoothing; 0 is off")
    p.add_argument("--content-layers", nargs="+", type=layer_weight, metavar="LAYER[:WEIGHT]",
                   default=list(CONTENT_LAYERS.items()), help=f"(default: {layers_text(CONTENT_LAYERS)})")
    p.add_argument("--style-layers", nargs="+", type=layer_weight, metavar="LAYER[:WEIGHT]",
                   default=list(STYLE_LAYERS.items()), help=f"(default: {layers_text(STYLE_LAYERS)})")
    p.add_argument("--pooling", choices=("avg", "max"), default=POOLING, help="VGG19's pooling")
    p.add_argument("--preserve-colors", choices=("none", "luminance", "histogram"), default=PRESERVE_COLORS,
                   help="keep the photo's colours: transfer on luminance only, or recolour the painting first")
    p.add_argument("--init", default=INIT, help="start image: mix, content, style, noise, or an image file")
    p.add_argument("--noise-ratio", type=number(float, 0, 1), default=NOISE_RATIO,
                   help="share of grey noise (the photo's mean +-20) in the 'mix' start image")
    p.add_argument("--precision", choices=PRECISIONS, default=PRECISION,
                   help="VGG19's arithmetic; auto: bfloat16 where the CPU multiplies it natively, else float32")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default=OPTIMIZER, help="the optimizer")
    p.add_argument("--learning-rate", type=positive_float, default=LEARNING_RATE,
                   help="Adam's step size in pixel values")
    p.add_argument("--iterations", nargs="+", type=positive_int, default=ITERATIONS,
                   help="per pass; one number: the full-size pass's, each coarser pass half as many "
                        f"(default: {' '.join(map(str, ITERATIONS))})")
    p.add_argument("--save-every", type=positive_int, default=SAVE_EVERY,
                   help="write an image and a checkpoint every this many iterations")
    p.add_argument("--print-every", type=positive_int, default=PRINT_EVERY, help="progress line every N iterations")
    p.add_argument("--seed", type=int, default=SEED, help="seed of the start image's noise")
    p.add_argument("--weights", dest="weights_file", default=WEIGHTS_FILE,
                   help="VGG19 weights (.mat or .h5) (default: fetched once into the cache)")
    p.add_argument("--output-dir", default=OUTPUT_DIR, help="where run folders go")
    p.add_argument("--tile-px", type=number(int, 0), default=TILE_PX,
                   help="refine images larger than this in overlapping tiles, so memory stays bounded "
                        "(default: 0, the largest tile that fits in the memory available)")
    p.add_argument("--fresh", action="store_true", help="start a new run folder instead of resuming the last one")
    settings = p.parse_args(argv)
    try:
        check(settings)
    except UsageError as error:
        p.error(str(error))
    return settings


def check(settings):
    """Settings that are valid one by one but not together; also fills in the derived lists."""
    from vgg_model import LAYERS, resolve_precision
    from utils import START_IMAGES
    settings.precision = resolve_precision(settings.precision)  # the run folder and record name what ran
    settings.content_layers, settings.style_layers = dict(settings.content_layers), dict(settings.style_layers)
    for name in [*settings.content_layers, *settings.style_layers]:
        if name not in LAYERS:
            raise UsageError(f"unknown layer {name!r}; choose from {' '.join(LAYERS)}")
    blend = settings.style_blend or [1.0] * len(settings.style_images)
    if len(blend) != len(settings.style_images) or sum(blend) <= 0:
        raise UsageError(f"--style-blend needs {len(settings.style_images)} weights, not all 0 (one per style image)")
    settings.style_blend = [weight / sum(blend) for weight in blend]
    if len(settings.scales) == 1:  # a count: halve from --size, keeping passes of 16 px or more
        halvings = range(min(settings.scales[0], 12) - 1, 0, -1)
        settings.scales = sorted({round(settings.size_px / 2 ** k) for k in halvings} - set(range(16))) \
            + [settings.size_px]
    elif settings.scales[-1] < settings.size_px:
        settings.scales = [*settings.scales, settings.size_px]
    if settings.scales != sorted(set(settings.scales)) or settings.scales[-1] != settings.size_px:
        raise UsageError(f"--scales must increase up to --size {settings.size_px}")
    if len(settings.iterations) == 1:
        passes = len(settings.scales)
        settings.iterations = [max(1, settings.iterations[0] // 2 ** (passes - 1 - i)) for i in range(passes)]
    if len(settings.iterations) != len(settings.scales):
        raise UsageError(f"--iterations needs 1 or {len(settings.scales)} numbers (one per pass)")
    if settings.init not in START_IMAGES and not os.path.isfile(settings.init):
        raise UsageError(f"--init {settings.init!r} is neither one of {', '.join(START_IMAGES)} nor an image file")


def file_sha1(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def run_identity(settings):
    """(folder name, identity): the same inputs and settings always map to the same run folder."""
    from utils import safe_name
    identity = {k: v for k, v in vars(settings).items() if k not in NOT_IN_RUN_IDENTITY}
    # An image replaced under the same name is another input: its bytes are part of the identity.
    identity["image_sha1"] = [file_sha1(path) for path in [settings.content_image, *settings.style_images]]
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    stem = lambda path: safe_name(os.path.splitext(os.path.basename(path))[0], 24)
    return "-".join([stem(settings.content_image), *map(stem, settings.style_images), digest]), identity


def main(argv=None):
    settings = parse_args(argv)
    from utils import ImageError, RunStopped
    from vgg_model import TooLargeError, WeightsError
    try:
        run(settings)
    except (UsageError, ImageError, WeightsError, TooLargeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RunStopped as stopped:
        print(stopped, file=sys.stderr)
        return stopped.status
    except OSError as error:  # a full disk or a folder gone while writing; what was written stays
        print(f"error: cannot write {error.filename or 'output'} ({error.strerror}); "
              "free some space or choose another --output-dir, then run the same command to resume", file=sys.stderr)
        return 2
    return 0


def run(settings):
    from utils import fit_long_side, load_image, open_run_folder, resize
    from vgg_model import VGG19, check_memory, load_weights, tile_size

    content = load_image(settings.content_image)
    styles = [load_image(path) for path in settings.style_images]
    height, width = fit_long_side(content.shape, settings.size_px)
    tile_px = settings.tile_px or tile_size(height, width)
    check_memory(height, width, tile_px)
    name, identity = run_identity(settings)
    try:
        folder, resuming = open_run_folder(settings.output_dir, name, settings.fresh)
    except OSError as error:
        raise UsageError(f"cannot write to output folder {settings.output_dir} ({error.strerror}); "
                         "choose another with --output-dir") from None
    from records import RunRecord  # TensorFlow loads from here on, once the inputs are known to be good
    from runner import Runner, StopRequest
    record = RunRecord(folder, name, identity)
    print(f"run folder: {folder}")

    weights = load_weights(settings.weights_file, log=print)
    record.write_settings(weights_source=weights.source, weights_sha256=weights.sha256, status="running")
    network = VGG19(weights, [*settings.content_layers, *settings.style_layers], settings.pooling,
                    settings.precision)
    started = time.perf_counter()
    with StopRequest() as stop:
        result = Runner(settings, network, record, resuming, tile_px, stop).run_passes(content, styles)

    path = record.finish(result, content=resize(content, *result.shape[:2]), styles=styles)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    record.write_settings(weights_source=weights.source, weights_sha256=weights.sha256, status="finished",
                          elapsed_s=round(time.perf_counter() - started, 1), peak_memory_gib=round(peak_gib, 2))
    print(f"result: {path}  ({time.perf_counter() - started:.0f} s, peak memory {peak_gib:.1f} GiB)")


if __name__ == "__main__":
    sys.exit(main())
