"""Neural style transfer (Gatys, Ecker and Bethge, arXiv 1508.06576) with TensorFlow on VGG19.

Edit the settings below, or override any of them with a flag: `python style_transfer.py --help`.
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time

# --- Settings -------------------------------------------------------------------------------------
CONTENT_IMAGE = "images/cincinnati_bridge.jpg"
STYLE_IMAGE = "images/starry_night.jpg"
SIZE_PX = 384                   # longer side of the result; the aspect ratio of the photo is kept
CONTENT_WEIGHT = 1e-3           # alpha in the paper
STYLE_WEIGHT = 1.0              # beta in the paper
CONTENT_LAYERS = {"conv4_2": 1.0}  # layer: weight
STYLE_LAYERS = {"conv1_1": 0.2, "conv2_1": 0.2, "conv3_1": 0.2, "conv4_1": 0.2, "conv5_1": 0.2}
POOLING = "avg"                 # "avg" as in the paper, or "max"
NOISE_RATIO = 0.6               # start image: this much uniform noise, the rest the photo
LEARNING_RATE = 2.0             # Adam's step size in pixel values (0..255)
ITERATIONS = 300
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


def layer_weights(text):
    """'conv4_2' or 'conv4_2:0.5' -> ('conv4_2', weight)."""
    name, _, weight = text.partition(":")
    try:
        return name, float(weight) if weight else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LAYER or LAYER:WEIGHT") from None


def number(kind, low=None, high=None, low_allowed=True):
    """An argparse type: a `kind` number in [low, high], or (low, high] when low is not allowed."""
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


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv=None):
    p = Parser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--content", dest="content_image", default=CONTENT_IMAGE, help="the photo")
    p.add_argument("--style", dest="style_image", default=STYLE_IMAGE, help="the painting")
    p.add_argument("--size", dest="size_px", type=positive_int, default=SIZE_PX,
                   help="longer side of the result in pixels")
    p.add_argument("--content-weight", type=non_negative_float, default=CONTENT_WEIGHT)
    p.add_argument("--style-weight", type=non_negative_float, default=STYLE_WEIGHT)
    p.add_argument("--content-layers", nargs="+", type=layer_weights, metavar="LAYER[:WEIGHT]",
                   default=list(CONTENT_LAYERS.items()))
    p.add_argument("--style-layers", nargs="+", type=layer_weights, metavar="LAYER[:WEIGHT]",
                   default=list(STYLE_LAYERS.items()))
    p.add_argument("--pooling", choices=("avg", "max"), default=POOLING)
    p.add_argument("--noise-ratio", type=number(float, 0, 1), default=NOISE_RATIO,
                   help="share of uniform noise in the start image")
    p.add_argument("--learning-rate", type=positive_float, default=LEARNING_RATE)
    p.add_argument("--iterations", type=positive_int, default=ITERATIONS)
    p.add_argument("--save-every", type=positive_int, default=SAVE_EVERY)
    p.add_argument("--print-every", type=positive_int, default=PRINT_EVERY)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--weights", dest="weights_file", default=WEIGHTS_FILE,
                   help="VGG19 weights (.mat or .h5); default: fetched once into the cache")
    p.add_argument("--output-dir", default=OUTPUT_DIR)
    p.add_argument("--fresh", action="store_true", help="start a new run instead of resuming the last one")
    settings = p.parse_args(argv)
    settings.content_layers = dict(settings.content_layers)
    settings.style_layers = dict(settings.style_layers)
    from vgg_model import LAYERS
    for name in list(settings.content_layers) + list(settings.style_layers):
        if name not in LAYERS:
            p.error(f"unknown layer {name!r}; choose from {' '.join(LAYERS)}")
    return settings


def run_identity(settings):
    """(folder name, settings digest): the same inputs and settings always map to the same run."""
    identity = {k: v for k, v in vars(settings).items() if k not in NOT_IN_RUN_IDENTITY}
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    from utils import safe_name
    stem = lambda path: safe_name(os.path.splitext(os.path.basename(path))[0], 30)
    return f"{stem(settings.content_image)}-{stem(settings.style_image)}-{digest}", identity


def main(argv=None):
    settings = parse_args(argv)
    from utils import ImageError
    from vgg_model import WeightsError
    try:
        run(settings)
    except (UsageError, ImageError, WeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run(settings):
    from utils import fit_long_side, load_image, open_run_folder, resize, save_image
    from vgg_model import VGG19, load_weights

    content = load_image(settings.content_image)
    style = load_image(settings.style_image)
    height, width = fit_long_side(content.shape, settings.size_px)
    content = resize(content, height, width)
    style = resize(style, *fit_long_side(style.shape, settings.size_px))
    name, identity = run_identity(settings)
    try:
        run_dir, resuming = open_run_folder(settings.output_dir, name, settings.fresh)
    except OSError as error:
        raise UsageError(f"cannot write to output folder {settings.output_dir} ({error.strerror}); "
                         "choose another with --output-dir") from None

    weights = load_weights(settings.weights_file, log=print)
    network = VGG19(weights, list(settings.content_layers) + list(settings.style_layers), settings.pooling)
    from stylize import Stylizer, initial_image
    stylizer = Stylizer(network, content, [style], [1.0], settings.content_layers, settings.style_layers,
                        settings.content_weight, settings.style_weight, settings.learning_rate,
                        initial_image(content, settings.noise_ratio, settings.seed))
    checkpoints = stylizer.checkpoint_manager(run_dir)
    if resuming and checkpoints.latest_checkpoint:
        stylizer.checkpoint.restore(checkpoints.latest_checkpoint)
        print(f"resuming {run_dir} from step {int(stylizer.step)}")
    else:
        print(f"run folder: {run_dir}")
    with open(os.path.join(run_dir, "settings.json"), "w") as f:
        json.dump(dict(identity, weights_source=weights.source, weights_sha256=weights.sha256), f, indent=1)

    def save(step):
        path = os.path.join(run_dir, f"{name}-step{step:05d}.png")
        save_image(path, stylizer.result())
        checkpoints.save(checkpoint_number=step)
        return path

    print(f"{height}x{width} px, {settings.iterations} iterations")
    started, first_step, path = time.perf_counter(), int(stylizer.step), None
    for progress in stylizer.run(settings.iterations):
        done = progress.step - first_step
        if progress.step % settings.print_every == 0 or progress.step == settings.iterations:
            per_step_s = (time.perf_counter() - started) / done
            left_s = per_step_s * (settings.iterations - progress.step)
            print(f"step {progress.step:5d}/{settings.iterations}  content {progress.content_loss:10.4g}  "
                  f"style {progress.style_loss:10.4g}  total {progress.total_loss:10.4g}  "
                  f"{per_step_s:5.2f} s/it  {left_s / 60:5.1f} min left", flush=True)
        if progress.step % settings.save_every == 0 or progress.step == settings.iterations:
            path = save(progress.step)
    if path is None:
        print(f"this run had already reached step {int(stylizer.step)}; raise --iterations to continue it, "
              "or use --fresh to start again")
        path = save(int(stylizer.step))
    print(f"result: {path}")


if __name__ == "__main__":
    sys.exit(main())
