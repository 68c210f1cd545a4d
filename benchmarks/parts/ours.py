"""What the benchmark runs of the program: a run planned by style_transfer.plan, as a user's is, and
painted by passes.stylize with an observer of the part's own; or one pass's single steps, built by the
builders passes.stylize uses. TensorFlow is imported on first use, only in the workers."""

import os

import style_transfer
from neural_style.model.losses import style_targets
from neural_style.work import passes
from utils import load_image, start_image

REPO = os.path.dirname(os.path.abspath(style_transfer.__file__))
CONTENT_IMAGE = os.path.join(REPO, "images", "cincinnati_bridge.jpg")
STYLE_IMAGE = os.path.join(REPO, "images", "starry_night.jpg")

# The original's learning rate: the step the speed, profile and memory parts time is one pass of Adam at it.
REFERENCE_LEARNING_RATE = 2.0
STEP_FLAGS = ("--scales", "1", "--optimizer", "adam", "--learning-rate", str(REFERENCE_LEARNING_RATE))


def project_args(size_px, *flags):
    """style_transfer.py's command line for the bundled photo and painting at size_px; flags change
    the program's defaults."""
    return ["--content", CONTENT_IMAGE, "--style", STYLE_IMAGE, "--size", str(size_px), *flags]


def planned_run(size_px, *flags):
    """(run, weights): the one run of project_args(size_px, *flags), planned by style_transfer.plan
    as a user's run is: every input read and checked, its tile size, its precision resolved."""
    runs, weights = style_transfer.plan(style_transfer.parse_args(project_args(size_px, *flags)))
    return runs[0], weights


def project_settings(size_px, *flags):
    """The settings of planned_run(size_px, *flags): the program's defaults (losses, layers, start
    image, seed) and the precision it runs in here."""
    return planned_run(size_px, *flags)[0].settings


def pass_images(settings):
    """(content, styles, start image) of a one-pass run's only pass, as passes.stylize makes them."""
    content, styles = load_image(settings.content_image), [load_image(path) for path in settings.style_images]
    content, styles, _ = passes.prepare_images(settings, content, styles, settings.size_px)
    return content, styles, start_image(settings.init, content, styles[0], settings.noise_ratio, settings.seed)


def build_job(settings, weights, content, styles, start):
    """The optimizer of a one-pass run's only job, built by the builders passes.stylize uses."""
    network = passes.build_network(settings, weights)
    targets = style_targets(network, styles, settings.style_blend, settings.style_layers)
    return passes.build_optimizer(settings, network, content, targets, start)


def timed_iterations(optimizer, count):
    """Seconds of each of `count` more iterations, as optimizer.run reports them to a run's observer
    (Progress.step_s)."""
    step_s = []
    optimizer.run(int(optimizer.step) + count, lambda progress: step_s.append(progress.step_s))
    return step_s


def stylize(run, weights, observer):
    """A user's run less its run folder: passes.stylize of a planned run on its own images, with its
    tile size and a network in its precision, reporting to `observer`. Returns the picture."""
    settings = run.settings
    styles = [run.image(path) for path in settings.style_images]
    network = passes.build_network(settings, weights)
    return passes.stylize(settings, run.image(settings.content_image), styles, network, run.tile, observer)
