"""Neural style transfer (Gatys, Ecker and Bethge, arXiv 1508.06576) with TensorFlow on VGG19.

Edit the settings below, or override any of them with a flag: `python style_transfer.py --help`.
"""
import argparse
import hashlib
import json
import math
import os
import signal
import sys
import time

import numpy as np

# --- Settings -------------------------------------------------------------------------------------
CONTENT_IMAGE = "images/cincinnati_bridge.jpg"
STYLE_IMAGES = ["images/starry_night.jpg"]
STYLE_BLEND = []                # one weight per style image; empty: equal weights
SIZE_PX = 384                   # longer side of the result; the aspect ratio of the photo is kept
SCALES = [1]                    # coarse-to-fine: a number of passes (each half the next) or their sizes
STYLE_SCALE = 1.0               # size of the painting relative to the result: larger, larger brush strokes
CONTENT_WEIGHT = 1e-3           # alpha in the paper
STYLE_WEIGHT = 1.0              # beta in the paper
TV_WEIGHT = 0.0                 # total-variation smoothing; 0 is off
CONTENT_LAYERS = {"conv4_2": 1.0}  # layer: weight
STYLE_LAYERS = {"conv1_1": 0.2, "conv2_1": 0.2, "conv3_1": 0.2, "conv4_1": 0.2, "conv5_1": 0.2}
POOLING = "avg"                 # "avg" as in the paper, or "max"
PRESERVE_COLORS = "none"        # "none", "luminance" (style on brightness only) or "histogram"
INIT = "mix"                    # start image: "mix" (noise in the photo), "content", "style", "noise" or a file
NOISE_RATIO = 0.6               # share of uniform noise in the "mix" start image
OPTIMIZER = "adam"              # "adam" (as in the original) or "lbfgs"
LEARNING_RATE = 2.0             # Adam's step size in pixel values (0..255)
ITERATIONS = [300]              # per pass; one number: the first pass's, each finer pass half as many
SAVE_EVERY = 50                 # write an image and a checkpoint every this many iterations
PRINT_EVERY = 10
SEED = 0
WEIGHTS_FILE = None             # a VGG19 .mat or .h5 of your own; None fetches and caches one
OUTPUT_DIR = "outputs"
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
                   help="share of uniform noise in the 'mix' start image")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default=OPTIMIZER, help="the optimizer")
    p.add_argument("--learning-rate", type=positive_float, default=LEARNING_RATE,
                   help="Adam's step size in pixel values")
    p.add_argument("--iterations", nargs="+", type=positive_int, default=ITERATIONS,
                   help="per pass; one number: the first pass's, each finer pass half as many "
                        f"(default: {' '.join(map(str, ITERATIONS))})")
    p.add_argument("--save-every", type=positive_int, default=SAVE_EVERY,
                   help="write an image and a checkpoint every this many iterations")
    p.add_argument("--print-every", type=positive_int, default=PRINT_EVERY, help="progress line every N iterations")
    p.add_argument("--seed", type=int, default=SEED, help="seed of the start image's noise")
    p.add_argument("--weights", dest="weights_file", default=WEIGHTS_FILE,
                   help="VGG19 weights (.mat or .h5) (default: fetched once into the cache)")
    p.add_argument("--output-dir", default=OUTPUT_DIR, help="where run folders go")
    p.add_argument("--fresh", action="store_true", help="start a new run folder instead of resuming the last one")
    settings = p.parse_args(argv)
    try:
        check(settings)
    except UsageError as error:
        p.error(str(error))
    return settings


def check(settings):
    """Settings that are valid one by one but not together; also fills in the derived lists."""
    from vgg_model import LAYERS
    from utils import START_IMAGES
    settings.content_layers, settings.style_layers = dict(settings.content_layers), dict(settings.style_layers)
    for name in [*settings.content_layers, *settings.style_layers]:
        if name not in LAYERS:
            raise UsageError(f"unknown layer {name!r}; choose from {' '.join(LAYERS)}")
    blend = settings.style_blend or [1.0] * len(settings.style_images)
    if len(blend) != len(settings.style_images) or sum(blend) <= 0:
        raise UsageError(f"--style-blend needs {len(settings.style_images)} weights, not all 0 (one per style image)")
    settings.style_blend = [weight / sum(blend) for weight in blend]
    if len(settings.scales) == 1:
        count = settings.scales[0]
        settings.scales = [max(16, round(settings.size_px / 2 ** (count - 1 - i))) for i in range(count)]
    elif settings.scales[-1] < settings.size_px:
        settings.scales = [*settings.scales, settings.size_px]
    if settings.scales != sorted(set(settings.scales)) or settings.scales[-1] != settings.size_px:
        raise UsageError(f"--scales must increase up to --size {settings.size_px}")
    if len(settings.iterations) == 1:
        settings.iterations = [max(1, settings.iterations[0] // 2 ** i) for i in range(len(settings.scales))]
    if len(settings.iterations) != len(settings.scales):
        raise UsageError(f"--iterations needs 1 or {len(settings.scales)} numbers (one per pass)")
    if settings.init not in START_IMAGES and not os.path.isfile(settings.init):
        raise UsageError(f"--init {settings.init!r} is neither one of {', '.join(START_IMAGES)} nor an image file")


def run_identity(settings):
    """(folder name, identity): the same inputs and settings always map to the same run folder."""
    from utils import safe_name
    identity = {k: v for k, v in vars(settings).items() if k not in NOT_IN_RUN_IDENTITY}
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    stem = lambda path: safe_name(os.path.splitext(os.path.basename(path))[0], 24)
    return "-".join([stem(settings.content_image), *map(stem, settings.style_images), digest]), identity


class RunStopped(Exception):
    """The run ended early (a signal, a diverging loss); what it wrote is kept. `status` is the exit code."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


class StopRequest:
    """Ctrl-C or SIGTERM asks the run to stop after the current step; a second one ends it at once."""
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signal = None

    def __enter__(self):
        self.previous = {number: signal.signal(number, self._request) for number in self.SIGNALS}
        return self

    def _request(self, number, _frame):
        self.signal = signal.Signals(number)
        for other in self.SIGNALS:  # the default action ends the process at once, even inside a TF step
            signal.signal(other, signal.SIG_DFL)
        print(f"\n{self.signal.name}: stopping after this step (press Ctrl-C again to quit at once)",
              file=sys.stderr, flush=True)

    def __exit__(self, *_):
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def main(argv=None):
    settings = parse_args(argv)
    from utils import ImageError
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


def prepare_images(settings, content, styles, size_px):
    """Content, style images and an output function for one pass, after colour handling."""
    import utils
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


def run(settings):
    from records import RunRecord, open_run_folder
    from utils import fit_long_side, load_image, resize
    from vgg_model import VGG19, check_memory, load_weights

    content = load_image(settings.content_image)
    styles = [load_image(path) for path in settings.style_images]
    check_memory(*fit_long_side(content.shape, settings.size_px))
    name, identity = run_identity(settings)
    try:
        folder, resuming = open_run_folder(settings.output_dir, name, settings.fresh)
    except OSError as error:
        raise UsageError(f"cannot write to output folder {settings.output_dir} ({error.strerror}); "
                         "choose another with --output-dir") from None
    record = RunRecord(folder, name, identity)
    print(f"run folder: {folder}")

    weights = load_weights(settings.weights_file, log=print)
    record.write_settings(weights_source=weights.source, weights_sha256=weights.sha256, status="running")
    network = VGG19(weights, [*settings.content_layers, *settings.style_layers], settings.pooling)
    started, image, first_global_step = time.perf_counter(), None, 0
    with StopRequest() as stop:
        for index, (size_px, iterations) in enumerate(zip(settings.scales, settings.iterations), start=1):
            image, to_output = run_pass(settings, network, record, stop, resuming, content, styles, image,
                                        index, size_px, iterations, first_global_step)
            first_global_step += iterations

    result = to_output(image)
    path = record.finish(result, content=resize(content, *result.shape[:2]), styles=styles)
    record.write_settings(weights_source=weights.source, weights_sha256=weights.sha256, status="finished",
                          elapsed_s=round(time.perf_counter() - started, 1))
    print(f"result: {path}")


def run_pass(settings, network, record, stop, resuming, content, styles, previous, index, size_px, iterations,
             first_global_step):
    """One pass at one size, resumed from its checkpoint if it has one; returns (image, to_output)."""
    from stylize import Stylizer
    from utils import resize, start_image

    content, styles, to_output = prepare_images(settings, content, styles, size_px)
    height, width = content.shape[:2]
    first = (start_image(settings.init, content, styles[0], settings.noise_ratio, settings.seed)
             if previous is None else resize(previous, height, width))
    stylizer = Stylizer(network, content, styles, settings.style_blend, first, settings.content_layers,
                        settings.style_layers, settings.content_weight, settings.style_weight, settings.tv_weight)
    checkpoints = stylizer.checkpoint_manager(os.path.join(record.folder, "checkpoints", f"pass{index}-{size_px}px"))
    if resuming and checkpoints.latest_checkpoint:
        stylizer.checkpoint.restore(checkpoints.latest_checkpoint)
        print(f"resuming pass {index} from step {int(stylizer.step)}")
    record.start_pass(index, int(stylizer.step))
    label = f"pass {index}/{len(settings.scales)} {width}x{height}" if len(settings.scales) > 1 else f"{width}x{height}"
    pass_started, first_step = time.perf_counter(), int(stylizer.step)
    saved_step = first_step

    def save(step):
        nonlocal saved_step
        image = stylizer.result()
        if not np.isfinite(image).all():
            raise RunStopped(f"error: the image became NaN at {label} step {step}; the last good image and "
                             f"checkpoint (step {saved_step}) are in {record.folder}. Lower --learning-rate "
                             f"(now {settings.learning_rate}) or the loss weights and start with --fresh", 3)
        record.snapshot(f"{size_px}px-step{step:05d}", first_global_step + step, to_output(image))
        checkpoints.save(checkpoint_number=step)
        saved_step = step

    def on_step(progress):
        if not math.isfinite(progress.total_loss):
            save(progress.step)  # refuses, naming the last good checkpoint
        record.log(index, size_px, first_global_step + progress.step, progress)
        if progress.step % settings.print_every == 0 or progress.step == iterations:
            per_step_s = (time.perf_counter() - pass_started) / (progress.step - first_step)
            print(f"{label}  step {progress.step:5d}/{iterations}  content {progress.content_loss:9.3e}  "
                  f"style {progress.style_loss:9.3e}  total {progress.total_loss:9.3e}  "
                  f"{per_step_s:5.2f} s/it  {per_step_s * (iterations - progress.step) / 60:5.1f} min left", flush=True)
        if progress.step % settings.save_every == 0 or progress.step == iterations or stop.signal:
            save(progress.step)
        if stop.signal:
            raise StopIteration

    stylizer.run(settings.optimizer, iterations, settings.learning_rate, on_step)
    if stop.signal:
        raise RunStopped(f"stopped at {label} step {saved_step}; image and checkpoint are in {record.folder}. "
                         "Run the same command again to resume.", 128 + stop.signal.value)
    if saved_step != int(stylizer.step):
        save(int(stylizer.step))  # an optimizer that converged early still leaves its last image
    return stylizer.result(), to_output


if __name__ == "__main__":
    sys.exit(main())
