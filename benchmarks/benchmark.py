"""Benchmark of the style transfer step: speed against a TensorFlow-tutorial baseline, peak memory,
start-up time, and time to quality. Prints a markdown table and writes it to benchmarks/RESULTS.md.

    python benchmarks/benchmark.py            # the full run, about 30 minutes on 2 cores
    python benchmarks/benchmark.py --quick    # a smoke run at 128 px, under a minute

Sizes are the long side of the result; the bundled photo's aspect ratio is kept, as style_transfer.py
does (512 px is 512x375). Every measurement runs in a worker process of its own (this script, started
with --worker), so that each starts with a fresh TensorFlow and its peak memory is its own. What runs
is the program's own API, as a user's run drives it: whole runs through jobs.stylize with observers
of this script's own, and single steps through the builders jobs.stylize uses. See
benchmarks/README.md for what each number means.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# The program's own modules; TensorFlow itself is imported on first use, only in the workers.
import jobs  # noqa: E402
import style_transfer  # noqa: E402
from losses import style_targets  # noqa: E402
from tf_setup import onednn_enabled, resolve_precision, tf  # noqa: E402
from tiling import tile_size  # noqa: E402
from utils import fit_long_side, load_image, start_image  # noqa: E402
from weights import load_weights  # noqa: E402

CONTENT_IMAGE = os.path.join(REPO, "images", "cincinnati_bridge.jpg")
STYLE_IMAGE = os.path.join(REPO, "images", "starry_night.jpg")
RESULTS_PATH = os.path.join(REPO, "benchmarks", "RESULTS.md")

# The original settings, whose loss after REFERENCE_ITERATIONS defines "quality".
REFERENCE_LEARNING_RATE = 2.0
REFERENCE_ITERATIONS = 300


# --- What is run: the program's own step, and the tutorial's ---------------------------------------


def project_settings(size_px, *flags):
    """style_transfer.py's settings at size_px, parsed by its own parser and with the precision
    resolved as style_transfer.run resolves it, so that losses, layers, start image and seed are the
    program's defaults; flags change them."""
    settings = style_transfer.parse_args(
        ["--content", CONTENT_IMAGE, "--style", STYLE_IMAGE, "--size", str(size_px), *flags]
    )
    settings.precision = resolve_precision(settings.precision)
    return settings


# The step the speed and memory workers time: one pass of Adam at the original's learning rate.
STEP_FLAGS = ("--scales", "1", "--optimizer", "adam", "--learning-rate", str(REFERENCE_LEARNING_RATE))


def load_inputs(settings):
    """The photo and the paintings, read as style_transfer.run reads them."""
    return load_image(settings.content_image), [load_image(path) for path in settings.style_images]


def pass_images(settings):
    """(content, styles, start image) of a one-pass run's only pass, as jobs.stylize makes them."""
    content, styles, _ = jobs.prepare_images(settings, *load_inputs(settings), settings.size_px)
    return content, styles, start_image(settings.init, content, styles[0], settings.noise_ratio, settings.seed)


def build_job(settings, weights, content, styles, start):
    """The optimizer of a one-pass run's only job, built by the builders jobs.stylize uses."""
    network = jobs.build_network(settings, weights)
    targets = style_targets(network, styles, settings.style_blend, settings.style_layers)
    return jobs.build_optimizer(settings, network, content, targets, start)


def timed_iterations(optimizer, count):
    """Seconds of each of `count` more iterations, as optimizer.run reports them to a run's observer
    (Progress.step_s)."""
    step_s = []
    optimizer.run(int(optimizer.step) + count, lambda progress: step_s.append(progress.step_s))
    return step_s


class TutorialBaseline:
    """The same problem written the way TensorFlow's style transfer tutorial writes it
    (tensorflow.org/tutorials/generative/style_transfer): keras.applications.VGG19 with its weights
    set from ours, a Keras Model returning the style and content layers, Gram matrices by einsum,
    and a tf.function train step with GradientTape and a Keras Adam. As in the tutorial the image
    lives in 0..1, the network is Keras' own, with max pooling, and total variation is the tutorial's
    tf.image.total_variation; only its time is compared, never its loss."""

    def __init__(self, settings, weights, content, styles, start_image):
        from tf_setup import tf  # the same oneDNN setting as the program's step

        self.tf = tf
        s = settings
        vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
        for name, kernel in weights.kernels.items():
            if name == "conv1_1":
                kernel = kernel[:, :, ::-1, :]  # preprocess_input hands Keras' network BGR
            vgg.get_layer(keras_layer(name)).set_weights([kernel, weights.biases[name]])
        vgg.trainable = False
        self.style_layers, self.content_layers = list(s.style_layers), list(s.content_layers)
        self.model = tf.keras.Model(
            vgg.input, [vgg.get_layer(keras_layer(name)).output for name in self.style_layers + self.content_layers]
        )
        self.style_targets = self.extract(tf.constant(styles[0][None] / 255.0))[0]  # the first painting
        self.content_targets = self.extract(tf.constant(content[None] / 255.0))[1]
        self.style_weights, self.content_weights = list(s.style_layers.values()), list(s.content_layers.values())
        self.settings = s
        self.image = tf.Variable(start_image[None] / 255.0, dtype=tf.float32)
        self.optimizer = tf.keras.optimizers.Adam(learning_rate=s.learning_rate / 255.0)
        self.compiled_train_step = tf.function(self.train_step)

    def gram_matrix(self, features):
        tf = self.tf
        shape = tf.shape(features)
        return tf.linalg.einsum("bijc,bijd->bcd", features, features) / tf.cast(shape[1] * shape[2], tf.float32)

    def extract(self, image):
        """(Gram matrices of the style layers, features of the content layers) of a 0..1 image."""
        outputs = self.model(self.tf.keras.applications.vgg19.preprocess_input(image * 255.0))
        return (
            [self.gram_matrix(output) for output in outputs[: len(self.style_layers)]],
            outputs[len(self.style_layers) :],
        )

    def train_step(self):
        tf, s = self.tf, self.settings
        with tf.GradientTape() as tape:
            grams, features = self.extract(self.image)
            style = tf.add_n(
                [
                    w * tf.reduce_sum((g - t) ** 2) / (4.0 * g.shape[-1] ** 2)
                    for w, g, t in zip(self.style_weights, grams, self.style_targets)
                ]
            )
            content = tf.add_n(
                [
                    w * 0.5 * tf.reduce_sum((f - t) ** 2)
                    for w, f, t in zip(self.content_weights, features, self.content_targets)
                ]
            )
            tv = tf.reduce_sum(tf.image.total_variation(self.image * 255.0))
            loss = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        gradient = tape.gradient(loss, self.image)
        self.optimizer.apply_gradients([(gradient, self.image)])
        self.image.assign(tf.clip_by_value(self.image, 0.0, 1.0))
        return loss

    def timed_iterations(self, count):
        step_s = []
        for _ in range(count):
            started = time.perf_counter()
            float(self.compiled_train_step())
            step_s.append(time.perf_counter() - started)
        return step_s


def keras_layer(name):
    """conv4_2 -> block4_conv2"""
    block, index = name[4:].split("_")
    return f"block{block}_conv{index}"


# --- Time to quality ---------------------------------------------------------------------------------

ENOUGH_ITERATIONS = 100_000  # an iteration count that no time budget here reaches


def reference_flags(iterations):
    """The original: Adam at learning rate 2, float32, one pass of `iterations` iterations."""
    return (
        "--optimizer",
        "adam",
        "--learning-rate",
        str(REFERENCE_LEARNING_RATE),
        "--precision",
        "float32",
        "--scales",
        "1",
        "--iterations",
        str(iterations),
    )


def one_pass():
    """Flags of a run in one pass at full size, which only its time budget ends."""
    return ("--scales", "1", "--iterations", str(ENOUGH_ITERATIONS))


def half_size_first(size_px, coarse_iterations):
    """Flags of a run of coarse_iterations at half size, then the full size until its time budget ends it."""
    return (
        "--scales",
        str(round(size_px / 2)),
        str(size_px),
        "--iterations",
        str(coarse_iterations),
        str(ENOUGH_ITERATIONS),
    )


def quality_settings(size_px):
    """Our settings whose time to the original's loss is measured: (label, style_transfer.py flags).
    Flags not given are the program's defaults."""
    default_coarse = style_transfer.parse_args(["--size", str(size_px)]).iterations[0]  # two passes by default
    return [
        ("Adam, learning rate 2", ("--optimizer", "adam", "--learning-rate", "2", *one_pass())),
        ("Adam, learning rate 8", ("--optimizer", "adam", "--learning-rate", "8", *one_pass())),
        ("L-BFGS", ("--optimizer", "lbfgs", "--precision", "float32", *one_pass())),
        ("L-BFGS", ("--optimizer", "lbfgs", *one_pass())),
        (
            f"L-BFGS, {default_coarse} iterations at half size first: the defaults",
            ("--optimizer", "lbfgs", *half_size_first(size_px, default_coarse)),
        ),
        ("L-BFGS, 200 iterations at half size first", ("--optimizer", "lbfgs", *half_size_first(size_px, 200))),
    ]


class Clock:
    """Wall time of a setting since its start, less the time spent judging it (which it would not spend)."""

    def __init__(self):
        self.started, self.paused_s = time.perf_counter(), 0.0

    def elapsed_s(self):
        return time.perf_counter() - self.started - self.paused_s

    def pause(self, work):
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.paused_s += time.perf_counter() - started


def stylize(settings, weights, observer):
    """A user's run of `settings` less its run folder: jobs.stylize on the bundled images, with the
    tile size style_transfer.run picks and a network built here, reporting to `observer`."""
    content, styles = load_inputs(settings)
    tile_px = settings.tile_px or tile_size(*fit_long_side(content.shape, settings.size_px))
    return jobs.stylize(settings, content, styles, jobs.build_network(settings, weights), tile_px, observer)


class _BudgetSpent(Exception):
    """How a TimeToQuality observer ends its run when the time budget is spent."""


class ReferenceObserver(jobs.Observer):
    """Keeps the reference run's last loss, its wall time since the observer was made, and its job and
    optimizer (whose loss, float32 against float32 targets, is the judge of every setting)."""

    def __init__(self):
        self.clock = Clock()

    def step(self, job, progress, optimizer):
        self.loss, self.elapsed_s, self.job, self.optimizer = (
            progress.total_loss,
            self.clock.elapsed_s(),
            job,
            optimizer,
        )


class TimeToQuality(jobs.Observer):
    """Watches a run's full-size pass: when its loss, judged by `judge` (the clock paused), first
    reached target_loss, and the judged loss when budget_s of wall time since the observer was made
    are spent, at which point it ends the run. Earlier passes run as they would."""

    def __init__(self, judge, target_loss, budget_s):
        self.clock, self.judge, self.target_loss, self.budget_s = Clock(), judge, target_loss, budget_s
        self.reached_s = self.reached_iterations = self.loss_at_budget = self.optimizer = None

    def judged(self, optimizer):
        return self.clock.pause(lambda: self.judge(optimizer.result()))

    def step(self, job, progress, optimizer):
        if job.pass_index < job.passes:
            return
        if job.tiles:
            raise ValueError("time to quality judges whole images: the full-size pass must not be tiled")
        self.optimizer = optimizer
        # The setting's own loss is close to the judged one (within 1 % in bfloat16): judge only near the target.
        if self.reached_s is None and progress.total_loss <= 1.02 * self.target_loss:
            if self.judged(optimizer) <= self.target_loss:
                self.reached_s, self.reached_iterations = self.clock.elapsed_s(), progress.step
        if self.clock.elapsed_s() >= self.budget_s:
            self.loss_at_budget = self.judged(optimizer)
            raise _BudgetSpent


def time_to_quality(size_px, weights, flags, judge, target_loss, budget_s):
    """Run one setting (style_transfer.py's flags at size_px) for budget_s seconds of wall time, its
    building included. Its loss is judged by `judge` (the float32 total loss of an image, against
    float32 targets), so that every setting is held to the same measure whatever its own precision;
    the judging is not timed. Returns when it first reached target_loss (seconds, iterations of the
    full-size pass) and its judged loss when the budget ran out."""
    observer = TimeToQuality(judge, target_loss, budget_s)
    settings = project_settings(size_px, *flags)
    try:
        stylize(settings, weights, observer)
    except _BudgetSpent:
        pass
    else:  # L-BFGS converged before the budget ran out
        observer.loss_at_budget = judge(observer.optimizer.result())
    return {
        "reached_s": observer.reached_s,
        "reached_iterations": observer.reached_iterations,
        "loss_at_budget": observer.loss_at_budget,
        "precision": settings.precision,
    }


# --- Workers: each runs in a fresh process and prints one JSON line -----------------------------------


def peak_resident_bytes():
    """VmHWM: the most resident memory this process has held."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def speed_worker(size_px, rounds, iterations_per_round):
    """Seconds per iteration of our step (in the precision the program picks, and in float32 if that is
    another) and of the baseline's, taken in alternating rounds so that a change in the machine's
    speed during the run slows all alike."""
    weights = load_weights(log=lambda *_: None)
    settings = project_settings(size_px, *STEP_FLAGS)
    content, styles, start = pass_images(settings)
    ours = build_job(settings, weights, content, styles, start)
    baseline = TutorialBaseline(settings, weights, content, styles, start)
    steps = {"ours": lambda count: timed_iterations(ours, count)}
    if settings.precision != "float32":
        exact = build_job(
            project_settings(size_px, *STEP_FLAGS, "--precision", "float32"), weights, content, styles, start
        )
        steps["ours, float32"] = lambda count: timed_iterations(exact, count)
    steps["baseline"] = baseline.timed_iterations
    first_s = {name: step(1)[0] for name, step in steps.items()}  # tracing and compiling
    step_s = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            step_s[name] += step(iterations_per_round)
    height, width = content.shape[:2]
    return {
        "height": height,
        "width": width,
        "first_s": first_s,
        "step_s": step_s,
        "precision": settings.precision,
        "tensorflow": baseline.tf.__version__,
        "onednn": onednn_enabled(),
    }


def memory_worker(size_px, iterations, implementation, process_started):
    """Peak resident memory of `iterations` steps of one implementation alone, and the moments (on
    the system-wide monotonic clock, so comparable with the parent's) at which start-up stages ended."""
    onednn_enabled()  # TensorFlow comes in on first use; a run's first is resolving --precision auto
    moments = {"imported": time.monotonic()}
    weights = load_weights(log=lambda *_: None)
    moments["weights_loaded"] = time.monotonic()
    settings = project_settings(size_px, *STEP_FLAGS)
    content, styles, start = pass_images(settings)
    if implementation == "ours":
        optimizer = build_job(settings, weights, content, styles, start)
        moments["built"] = time.monotonic()
        timed_iterations(optimizer, 1)
        moments["first_iteration"] = time.monotonic()
        timed_iterations(optimizer, iterations - 1)
    else:
        baseline = TutorialBaseline(settings, weights, content, styles, start)
        moments["built"] = time.monotonic()
        baseline.timed_iterations(iterations)
    height, width = content.shape[:2]
    stages_s = {stage: moment - process_started for stage, moment in moments.items()}
    return {"height": height, "width": width, "peak_bytes": peak_resident_bytes(), "stages_s": stages_s}


def quality_worker(size_px, reference_iterations, budget_ratio):
    """The original's loss after reference_iterations, then each of our settings run for budget_ratio
    times the original's time: when it reached that loss, and the loss it had when the time ran out."""
    weights = load_weights(log=lambda *_: None)
    onednn_enabled()  # TensorFlow imported before any clock starts, as in a run (by --precision auto)
    reference = ReferenceObserver()
    stylize(project_settings(size_px, *reference_flags(reference_iterations)), weights, reference)
    total_loss = tf.function(lambda image: reference.optimizer.loss(image)[-1])

    def judge(image):
        return float(total_loss(tf.constant(image[None])))

    budget_s = reference.elapsed_s * budget_ratio
    rows = [
        dict(time_to_quality(size_px, weights, flags, judge, reference.loss, budget_s), label=label)
        for label, flags in quality_settings(size_px)
    ]
    return {
        "height": reference.job.height,
        "width": reference.job.width,
        "reference": {"loss": reference.loss, "elapsed_s": reference.elapsed_s},
        "budget_s": budget_s,
        "rows": rows,
    }


WORKERS = {"speed": speed_worker, "memory": memory_worker, "quality": quality_worker}


def run_worker(kind, **arguments):
    """Run one worker in a fresh Python process; its result is the last line it prints."""
    started = time.monotonic()
    if kind == "memory":
        arguments["process_started"] = started
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", kind, json.dumps(arguments)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    if result.returncode != 0:
        sys.exit(f"benchmark: the {kind} worker {arguments} failed with exit status {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- The report -----------------------------------------------------------------------------------------


def machine_description(speed):
    """CPU, memory and software, the last two as a worker saw them (this process never loads TensorFlow)."""
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.machine())
    onednn = "on" if speed["onednn"] else "off"
    bfloat16 = "native" if speed["precision"] == "bfloat16" else "not native"
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs (bfloat16 {bfloat16}), {total_memory_bytes() / 2**30:.1f} GiB; "
        f"Python {platform.python_version()}, TensorFlow {speed['tensorflow']}, oneDNN {onednn}"
    )


def total_memory_bytes():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def load_average():
    return os.getloadavg()[0]


def load_note(at_start, at_end):
    note = (
        f"Load average (1 min) at start {at_start:.1f}, at end {at_end:.1f}; "
        f"the benchmark itself adds up to {os.cpu_count()}."
    )
    if at_start < 0.5:
        return note + " The machine was otherwise idle at the start."
    return note + (
        " Other processes shared the CPUs: the seconds below are then longer than on an idle machine, and "
        "the ratios, taken in alternating rounds, suffer less."
    )


def speed_table(speeds):
    """Seconds per iteration of each step the speed worker timed ("ours", maybe "ours, float32", "baseline")."""
    first = next(iter(speeds.values()))
    ours = [name for name in first["step_s"] if name != "baseline"]
    label = {name: f"ours ({first['precision']})" if name == "ours" else name for name in ours}
    header = [
        "size",
        "image (w x h)",
        *(f"{label[name]} s/it" for name in ours),
        "baseline s/it",
        *(f"{name} / baseline" for name in ours),
        "first iteration, ours / baseline s",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---:" * len(header) + "|"]
    for size_px, speed in speeds.items():
        median = {name: statistics.median(times) for name, times in speed["step_s"].items()}
        ratios = [f"{median[name] / median['baseline']:.2f}" for name in ours]
        ratios[0] = f"**{ratios[0]}**"  # the figure the target is about
        cells = [
            str(size_px),
            f"{speed['width']} x {speed['height']}",
            *(f"{median[name]:.3f}" for name in ours),
            f"{median['baseline']:.3f}",
            *ratios,
            f"{speed['first_s']['ours']:.1f} / {speed['first_s']['baseline']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def largest_fitting_size(memories, memory_bytes):
    """(long side px, bytes per pixel, base bytes) of the largest image of the photo's aspect ratio whose
    single pass would fit in memory_bytes, by a least-squares line through (pixels, peak) of the sizes
    measured; None with fewer than two sizes."""
    points = [(m["height"] * m["width"], m["peak_bytes"]) for m in memories.values()]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    base = mean_y - slope * mean_x
    any_memory = next(iter(memories.values()))
    aspect = max(any_memory["height"], any_memory["width"]) / min(any_memory["height"], any_memory["width"])
    pixels = (memory_bytes - base) / slope
    return int((pixels * aspect) ** 0.5), slope, base


def memory_table(memories, baseline_memories):
    lines = ["| size | image (w x h) | ours peak GiB | baseline peak GiB |", "|---:|---:|---:|---:|"]
    for size_px, memory in memories.items():
        lines.append(
            f"| {size_px} | {memory['width']} x {memory['height']} | {memory['peak_bytes'] / 2**30:.2f} | "
            f"{baseline_memories[size_px]['peak_bytes'] / 2**30:.2f} |"
        )
    memory_bytes = total_memory_bytes()
    fit = largest_fitting_size(memories, memory_bytes)
    if fit is None:
        lines += ["", "Largest size in one pass: needs two sizes or more to extrapolate."]
    else:
        long_side_px, slope, base = fit
        lines += [
            "",
            f"Largest size whose single pass fits in this machine's {memory_bytes / 2**30:.1f} GiB: about "
            f"**{long_side_px} px** long side, extrapolated (not measured) from a straight line through the "
            f"peaks above: {base / 2**30:.2f} GiB + {slope / 1024:.2f} KiB per pixel.",
        ]
    return lines


def startup_table(size_px, memory):
    stages = memory["stages_s"]
    names = {
        "imported": "Python and TensorFlow started, project imported",
        "weights_loaded": "VGG19 weights loaded from the cache",
        "built": "images, network, style targets and optimizer built (jobs.build_optimizer)",
        "first_iteration": "first iteration done (tracing and compiling the step included)",
    }
    lines = [
        f"| stage, {size_px} px ({memory['width']} x {memory['height']}) | seconds since process start |",
        "|---|---:|",
    ]
    return lines + [f"| {names[stage]} | {stages[stage]:.1f} |" for stage in names]


def quality_table(quality, reference_iterations, size_px):
    reference = quality["reference"]
    lines = [
        f"Target: the total loss of the original's settings (Adam, learning rate {REFERENCE_LEARNING_RATE:g}, "
        f"float32, one pass) after {reference_iterations} iterations at {size_px} px ({quality['width']} x "
        f"{quality['height']}): {reference['loss']:.4g}, reached in {reference['elapsed_s']:.1f} s. Each of our "
        f"settings then runs for {quality['budget_s']:.0f} s (--quality-budget times that); every loss below is "
        "the float32 loss, whatever precision the setting ran in.",
        "",
        "| setting | precision | time to the original's loss | vs the original's time | full-size iterations "
        f"| loss after {quality['budget_s']:.0f} s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in quality["rows"]:
        if row["reached_s"] is None:
            reached = ["not within the budget", "-", "-"]
        else:
            reached = [
                f"{row['reached_s']:.1f} s",
                f"{row['reached_s'] / reference['elapsed_s']:.2f}",
                str(row["reached_iterations"]),
            ]
        lines.append(f"| {row['label']} | {row['precision']} | {' | '.join(reached)} | {row['loss_at_budget']:.4g} |")
    return lines


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 128 px, 2 iterations, 1 round, time to quality over 2 iterations",
    )
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024], help="long sides in px")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of ours and the baseline per size")
    p.add_argument("--iterations", type=int, default=2, help="timed iterations per round, after one compiling one")
    p.add_argument("--memory-iterations", type=int, default=2, help="iterations of each peak-memory process")
    p.add_argument("--startup-size", type=int, default=512, help="size of the start-up measurement; one of --sizes")
    p.add_argument("--quality-size", type=int, default=512, help="size of the time-to-quality runs")
    p.add_argument(
        "--quality-iterations",
        type=int,
        default=REFERENCE_ITERATIONS,
        help="iterations of the reference whose loss is the target",
    )
    p.add_argument(
        "--quality-budget",
        type=float,
        default=0.5,
        help="wall time of each of our settings, as a share of the original's time",
    )
    p.add_argument("--output", default=RESULTS_PATH, help="markdown file for the results")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.startup_size, args.quality_size = [128], 128, 128
        args.rounds, args.iterations, args.memory_iterations, args.quality_iterations = 1, 2, 2, 2
    if args.startup_size not in args.sizes:
        p.error(f"--startup-size {args.startup_size} must be one of --sizes {args.sizes}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        kind, arguments = args.worker
        print(json.dumps(WORKERS[kind](**json.loads(arguments))))
        return
    started, load_at_start = time.perf_counter(), load_average()
    speeds, memories, baseline_memories = {}, {}, {}
    for size_px in args.sizes:
        print(f"{size_px} px: speed ...", file=sys.stderr, flush=True)
        speeds[size_px] = run_worker("speed", size_px=size_px, rounds=args.rounds, iterations_per_round=args.iterations)
        print(f"{size_px} px: peak memory ...", file=sys.stderr, flush=True)
        memories[size_px] = run_worker(
            "memory", size_px=size_px, iterations=args.memory_iterations, implementation="ours"
        )
        baseline_memories[size_px] = run_worker(
            "memory", size_px=size_px, iterations=args.memory_iterations, implementation="baseline"
        )
    print(f"time to quality at {args.quality_size} px ...", file=sys.stderr, flush=True)
    quality = run_worker(
        "quality",
        size_px=args.quality_size,
        reference_iterations=args.quality_iterations,
        budget_ratio=args.quality_budget,
    )

    command = " ".join(["python benchmarks/benchmark.py", *(argv if argv is not None else sys.argv[1:])])
    report = [
        "# Benchmark results",
        "",
        f"`{command.strip()}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{(time.perf_counter() - started) / 60:.1f} min. Machine: {machine_description(next(iter(speeds.values())))}. "
        f"{load_note(load_at_start, load_average())}",
        "",
        "## Seconds per iteration",
        "",
        f"Median of {args.rounds} x {args.iterations} iterations after one compiling iteration, one process per size; "
        "ours is the optimizer jobs.build_optimizer builds for a run (Adam, one pass), its run(...) timed by the "
        "Progress.step_s it reports, the baseline the TensorFlow tutorial's Keras code "
        "(benchmarks/README.md).",
        "",
        *speed_table(speeds),
        "",
        "## Peak memory",
        "",
        f"Resident set high-water mark (VmHWM) of a fresh process per size running {args.memory_iterations} "
        "iterations; it includes TensorFlow itself.",
        "",
        *memory_table(memories, baseline_memories),
        "",
        "## Start-up to the first iteration",
        "",
        "A fresh process, weights already cached.",
        "",
        *startup_table(args.startup_size, memories[args.startup_size]),
        "",
        "## Time to quality",
        "",
        *quality_table(quality, args.quality_iterations, args.quality_size),
        "",
    ]
    text = "\n".join(report)
    print(text)
    with open(args.output, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
