"""Neural style transfer (Gatys, Ecker and Bethge, arXiv 1508.06576) with TensorFlow on VGG19.

Edit the settings below, or override any of them with a flag: `python style_transfer.py --help`.
"""

import argparse
import functools
import math
import os
import re
import signal
import sys


def exit_interrupted(*_):
    """Ctrl-C before the run's own handling is in place (TensorFlow takes seconds to load): nothing to keep."""
    print("interrupted", file=sys.stderr)
    os._exit(130)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, exit_interrupted)

# --- Settings: the comment after each is its description in --help ---------------------------------
CONTENT_IMAGE = "images/cincinnati_bridge.jpg"  # photos (a run each; folders, globs) or a video (clip.mp4, %04d.png)
STYLE_IMAGES = ["images/starry_night.jpg"]  # one or more paintings
EACH_STYLE = False  # a run for each painting (every photo x painting pair its own run) instead of one in their blend
STYLE_BLEND = []  # weight of each painting, normalized to sum to 1; empty: equal weights
SIZE_PX = 512  # longer side of the result in pixels; the photo's aspect ratio is kept
SCALES = [2]  # coarse-to-fine passes: a count (each pass half the size of the next) or their sizes
STYLE_MASKS = []  # one mask per painting, the photo's shape: white where that painting's style goes; empty: none
STYLE_REGION_MASKS = []  # one mask per painting, its shape: white where the style is taken from; empty: all of it
CONTENT_MASK = None  # a mask the photo's shape: style only inside its white part, the photo kept outside
MASK_MODE = "inside"  # "inside": neurons that see only the region count; "simple": the mask averaged to each layer
STYLE_SCALE = 1.0  # size of the painting relative to the result: larger gives larger brush strokes
CONTENT_WEIGHT = 1e-3  # alpha in the paper
STYLE_WEIGHT = 1.0  # beta in the paper
TV_WEIGHT = 0.005  # total-variation smoothing; 0 is off
CONTENT_LAYERS = {"conv4_2": 1.0}  # content layers and their weights
STYLE_LAYERS = {"conv1_1": 0.2, "conv2_1": 0.2, "conv3_1": 0.2, "conv4_1": 0.2, "conv5_1": 0.2}  # style layers
POOLING = "avg"  # VGG19's pooling: "avg" as in the paper, or "max"
PRESERVE_COLORS = "none"  # keep the photo's colours: "luminance" (style on brightness only), "histogram" or "none"
INIT = "mix"  # start image: "mix" (grey noise in the photo), "content", "style", "noise" or an image file
NOISE_RATIO = 0.6  # share of grey noise (the photo's mean +-20) in the "mix" start image
PRECISION = "auto"  # VGG19's arithmetic: "float32", "bfloat16", or "auto": bfloat16 where the CPU has it
OPTIMIZER = "lbfgs"  # "lbfgs", or "adam" as in the original
LEARNING_RATE = 2.0  # Adam's step size in pixel values (0..255)
ITERATIONS = [100]  # per pass; one number: the full-size pass's, each coarser pass half as many
SAVE_EVERY = 50  # write an image and a checkpoint every this many iterations
PRINT_EVERY = 10  # a progress line every this many iterations
SEED = 0  # seed of the start image's noise: the same command and seed give the same picture
WEIGHTS_FILE = None  # VGG19 weights (.mat or .h5) of your own; None: fetched once into the cache
OUTPUT_DIR = "outputs"  # where run folders go
TILE_PX = 0  # refine images larger than this in overlapping tiles; 0: the largest that fits in memory
FIRST_FRAME = 0  # a video's first frame to paint, counted from 0
FRAME_COUNT = 0  # how many of a video's frames to paint; 0: all of them
FRAME_EVERY = 1  # paint every n-th frame of a video (its frame rate is divided by n)
FRAME_ITERATIONS = 30  # iterations of each video frame after the first, in one pass at full size
TEMPORAL_WEIGHT = 1e4  # weight of the temporal loss that keeps each video frame close to the previous one
TEMPORAL_GAPS = [1]  # earlier video frames (counted back) the temporal loss compares with; long-term: 1 10 20 40
VIDEO_PASSES = 1  # sweeps over a video: 1 forward; more: each later one the other way, from neighbours blended in
CHUNK_FRAMES = 0  # a video's frames per chunk; chunks are painted independently (at once on a cluster); 0: one chunk
CHUNK_OVERLAP = 4  # frames two neighbouring chunks both paint, cross-faded from the one to the other
CLUSTER = None  # a Ray cluster's HOST:PORT, or auto, to paint on; the flag alone: $RAY_ADDRESS or auto; None: here
CPUS_PER_TASK = 1  # CPU cores each task on a cluster takes (and its TensorFlow threads)
SERVE = False  # serve the studio, a page that starts, watches, stops and lists runs, instead of painting
HOST = "127.0.0.1"  # the address the studio listens on; another than 127.0.0.1 lets other machines use it
PORT = 0  # the studio's port; 0: a free one, printed
# ----------------------------------------------------------------------------------------------------

from neural_style.errors import ProgramExit, UserError, program_exit  # noqa: E402
from neural_style.files.weights import load_weights  # noqa: E402
from neural_style.model.guides import GUIDE_MODES  # noqa: E402
from neural_style.model.memory import MIN_TILE_PX  # noqa: E402
from neural_style.model.optimizers import OPTIMIZERS  # noqa: E402
from neural_style.model.tf_setup import PRECISIONS, resolve_precision  # noqa: E402
from neural_style.runs.batch import expand, paint_runs_here, run_batch  # noqa: E402 (the settings come first)
from neural_style.runs.painting import paint, prepare  # noqa: E402
from neural_style.runs.stop import StopRequest  # noqa: E402
from neural_style.settings import settings_from  # noqa: E402
from neural_style.work.passes import build_network  # noqa: E402


def number(kind, low=None, high=None, low_allowed=True):
    """An argparse type: a finite `kind` number in [low, high], or (low, high] when low is not allowed."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        too_low = low is not None and (value < low or value == low and not low_allowed)
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            bounds = f"{'[' if low_allowed else '('}{low}, {'inf' if high is None else high}]"
            raise argparse.ArgumentTypeError(f"{text} is outside {bounds}")
        return value

    return parse


positive_int, positive_float = number(int, 0, low_allowed=False), number(float, 0, low_allowed=False)
non_negative_float = number(float, 0)


def tile_px(text):
    value = number(int, 0)(text)
    if 0 < value < MIN_TILE_PX:
        raise argparse.ArgumentTypeError(f"{text} is below {MIN_TILE_PX} (or 0: automatic)")
    return value


def layer_weight(text):
    """'conv4_2' or 'conv4_2:0.5' -> ('conv4_2', weight)."""
    name, _, weight = text.partition(":")
    return name, non_negative_float(weight) if weight else 1.0


# Each setting's flag and how it is read; its default and description are the settings block's.
FLAGS = {
    "CONTENT_IMAGE": ("--content", {"nargs": "+"}),
    "STYLE_IMAGES": ("--style", {"nargs": "+"}),
    "EACH_STYLE": ("--each-style", {"action": "store_true"}),
    "STYLE_BLEND": ("--style-blend", {"nargs": "+", "type": non_negative_float}),
    "SIZE_PX": ("--size", {"type": positive_int}),
    "SCALES": ("--scales", {"nargs": "+", "type": positive_int}),
    "STYLE_MASKS": ("--style-masks", {"nargs": "+", "metavar": "FILE"}),
    "STYLE_REGION_MASKS": ("--style-region-masks", {"nargs": "+", "metavar": "FILE"}),
    "CONTENT_MASK": ("--content-mask", {"metavar": "FILE"}),
    "MASK_MODE": ("--mask-mode", {"choices": GUIDE_MODES}),
    "STYLE_SCALE": ("--style-scale", {"type": positive_float}),
    "CONTENT_WEIGHT": ("--content-weight", {"type": non_negative_float}),
    "STYLE_WEIGHT": ("--style-weight", {"type": non_negative_float}),
    "TV_WEIGHT": ("--tv-weight", {"type": non_negative_float}),
    "CONTENT_LAYERS": ("--content-layers", {"nargs": "+", "type": layer_weight, "metavar": "LAYER[:WEIGHT]"}),
    "STYLE_LAYERS": ("--style-layers", {"nargs": "+", "type": layer_weight, "metavar": "LAYER[:WEIGHT]"}),
    "POOLING": ("--pooling", {"choices": ("avg", "max")}),
    "PRESERVE_COLORS": ("--preserve-colors", {"choices": ("none", "luminance", "histogram")}),
    "INIT": ("--init", {}),
    "NOISE_RATIO": ("--noise-ratio", {"type": number(float, 0, 1)}),
    "PRECISION": ("--precision", {"choices": PRECISIONS}),
    "OPTIMIZER": ("--optimizer", {"choices": OPTIMIZERS}),
    "LEARNING_RATE": ("--learning-rate", {"type": positive_float}),
    "ITERATIONS": ("--iterations", {"nargs": "+", "type": positive_int}),
    "SAVE_EVERY": ("--save-every", {"type": positive_int}),
    "PRINT_EVERY": ("--print-every", {"type": positive_int}),
    "SEED": ("--seed", {"type": number(int, 0, 2**63 - 1)}),
    "WEIGHTS_FILE": ("--weights", {}),
    "OUTPUT_DIR": ("--output-dir", {}),
    "TILE_PX": ("--tile-px", {"type": tile_px}),
    "FIRST_FRAME": ("--first-frame", {"type": number(int, 0)}),
    "FRAME_COUNT": ("--frames", {"type": number(int, 0)}),
    "FRAME_EVERY": ("--every", {"type": positive_int}),
    "FRAME_ITERATIONS": ("--frame-iterations", {"type": positive_int}),
    "TEMPORAL_WEIGHT": ("--temporal-weight", {"type": non_negative_float}),
    "TEMPORAL_GAPS": ("--temporal-gaps", {"nargs": "+", "type": positive_int}),
    "VIDEO_PASSES": ("--passes", {"type": positive_int}),
    "CHUNK_FRAMES": ("--chunk-frames", {"type": number(int, 0)}),
    "CHUNK_OVERLAP": ("--chunk-overlap", {"type": number(int, 0)}),
    "CLUSTER": ("--cluster", {"nargs": "?", "const": "", "metavar": "ADDRESS"}),
    "CPUS_PER_TASK": ("--cpus-per-task", {"type": positive_int}),
    "SERVE": ("--serve", {"action": "store_true"}),
    "HOST": ("--host", {}),
    "PORT": ("--port", {"type": number(int, 0, 65535)}),
}


def descriptions():
    """{SETTING: its description}: the comment after each setting in the block at the top of this file."""
    with open(__file__) as f:
        block = f.read().split("# --- Settings", 1)[1].split("# ---", 1)[0]
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*) = .*?  # (.*)$", block, re.MULTILINE))


def default_text(value):
    if isinstance(value, dict):
        return " ".join(f"{name}:{weight:g}" for name, weight in value.items())
    if isinstance(value, list):
        return " ".join(map(str, value)) or "none"
    return str(value)


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv=None):
    parser = Parser(description=__doc__.splitlines()[0])
    described = descriptions()
    for setting, (flag, how) in FLAGS.items():
        default = globals()[setting]
        parser.add_argument(
            flag,
            dest=setting.lower(),
            **how,
            default=list(default.items()) if isinstance(default, dict) else default,
            help=f"{described[setting]} (default: {default_text(default)}; {setting})".replace("%", "%%"),
        )
    parser.add_argument("--fresh", action="store_true", help="start a new run folder instead of resuming the last one")
    try:
        return settings_from(vars(parser.parse_args(argv)))
    except UserError as error:
        parser.error(str(error))


def main(argv=None):
    try:
        run(parse_args(argv))
    except (ProgramExit, OSError, KeyboardInterrupt) as error:
        ending = program_exit(error)
        print(ending.line(), file=sys.stderr)
        return ending.status
    return 0


def run(settings):
    """Check every input of every run, then paint: one run, a batch run after run, or on a cluster."""
    if settings.serve:  # the studio, whose runs are this program's own command lines
        from neural_style.studio import serve

        return serve(
            settings, {name: (flag, how, globals()[name]) for name, (flag, how) in FLAGS.items()}, descriptions()
        )
    plans, weights = plan(settings)
    with StopRequest() as stop:
        if settings.cluster is not None:
            paint_on_cluster(settings, plans, weights, stop)
        elif len(plans) == 1:
            paint(plans[0], weights, build_network(plans[0].settings, weights), settings.output_dir, stop)
        else:
            painter = paint_runs_here(weights, build_network(plans[0].settings, weights), settings.output_dir, stop)
            run_batch(plans, painter, settings.output_dir, settings.fresh)


def plan(settings):
    """(runs, weights): the runs the settings ask for (one per photo, or per photo and painting), every
    input read and checked before any work, each in the precision it runs in and named by its inputs."""
    plans = [prepare(run_settings) for run_settings in expand(settings)]
    weights = load_weights(settings.weights_file)
    precision = resolve_precision(settings.precision)  # the runs' identities and records name what ran
    weights_digest = weights.digest()  # 80 MB hashed: once for the whole batch
    return [run.identified(precision, weights_digest) for run in plans], weights


def paint_on_cluster(settings, plans, weights, stop):
    """The runs painted on the Ray cluster --cluster names; Ray is imported only here."""
    try:
        from neural_style.runs.cluster import Cluster, address_of
    except ImportError as error:
        raise UserError(f"--cluster needs Ray ({error}): pip install -r requirements-cluster.txt") from None
    painter = Cluster(address_of(settings.cluster), weights, settings.cpus_per_task, stop)
    try:
        paint_runs = functools.partial(painter.paint_runs, weights=weights, output_dir=settings.output_dir)
        run_batch(plans, paint_runs, settings.output_dir, settings.fresh)
    finally:
        painter.close()


if __name__ == "__main__":
    sys.exit(main())
