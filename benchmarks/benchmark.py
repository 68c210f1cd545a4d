"""Benchmark of the style transfer step: speed against TensorFlow's tutorial (float32 and mixed
bfloat16) and against its own convolutions, where its time goes, peak memory of the step and of whole
runs, start-up time, and time to quality. Prints markdown and writes it to benchmarks/RESULTS.md.

    python benchmarks/benchmark.py                  # everything, about 45 minutes on 2 idle cores
    python benchmarks/benchmark.py --parts speed    # some of it: speed, profile, memory, run, quality
    python benchmarks/benchmark.py --quick          # a smoke run at 128 px, a few minutes

Sizes are the long side of the result; the bundled photo's aspect ratio is kept, as style_transfer.py
does (512 px is 512x375). Every measurement runs in a worker process of its own (this script, started
with --worker), so that each starts with a fresh TensorFlow and its peak memory is its own. What runs
is the program's own API, as a user's run drives it: whole runs through passes.stylize with observers
of this script's own, and single steps through the builders passes.stylize uses. See
benchmarks/README.md for what each number means.
"""

import argparse
import collections
import dataclasses
import functools
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# The program's own modules; TensorFlow itself is imported on first use, only in the workers.
import style_transfer
from neural_style.files.weights import load_weights
from neural_style.model.losses import style_targets
from neural_style.model.memory import peak_memory_bytes, tile_size
from neural_style.model.tf_setup import cpu_flags, onednn_enabled, resolve_precision, tf
from neural_style.work import passes
from neural_style.work.observer import Observer
from utils import fit_long_side, load_image, start_image

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
    settings = dataclasses.replace(settings, precision=resolve_precision(settings.precision))
    return settings


# The step the speed and memory workers time: one pass of Adam at the original's learning rate.
STEP_FLAGS = ("--scales", "1", "--optimizer", "adam", "--learning-rate", str(REFERENCE_LEARNING_RATE))


def load_inputs(settings):
    """The photo and the paintings, read as style_transfer.run reads them."""
    return load_image(settings.content_image), [load_image(path) for path in settings.style_images]


def pass_images(settings):
    """(content, styles, start image) of a one-pass run's only pass, as passes.stylize makes them."""
    content, styles, _ = passes.prepare_images(settings, *load_inputs(settings), settings.size_px)
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


class TutorialBaseline:
    """The same problem written the way TensorFlow's style transfer tutorial writes it
    (tensorflow.org/tutorials/generative/style_transfer): keras.applications.VGG19 with its weights
    set from ours, a Keras Model returning the style and content layers, Gram matrices by einsum,
    total variation from shifted slices of the image, and a tf.function train step with GradientTape
    and a Keras Adam. The image lives in 0..1 as in the tutorial.

    It solves exactly our problem, so that its time to our loss can be measured: its max pooling
    layers are replaced by average pooling when ours averages (and pool as ours do, padding "same"),
    its total variation is the squared one ours uses, and its weights and layers are ours;
    `same_problem` checks that its loss at the start equals ours.

    In bfloat16 it is the tutorial with the one line a Keras user would add, the global policy
    "mixed_bfloat16", set only while its network is built (a Keras layer keeps the policy it was built
    under), so that another baseline in the same process stays float32; its outputs are cast to float32
    before the Gram matrices, as ours are summed."""

    def __init__(self, settings, weights, content, styles, start_image, precision="float32"):
        from neural_style.model.tf_setup import tf  # the same oneDNN setting as the program's step

        self.tf = tf
        s = settings
        mixed_precision = tf.keras.mixed_precision
        previous_policy = mixed_precision.global_policy()
        mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
        try:
            vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
            pooling = {"avg": tf.keras.layers.AveragePooling2D, "max": tf.keras.layers.MaxPooling2D}[s.pooling]

            def our_pooling(layer):
                if isinstance(layer, tf.keras.layers.MaxPooling2D):
                    return pooling(2, 2, padding="same", name=layer.name, dtype=layer.dtype_policy)
                return layer.__class__.from_config(layer.get_config())

            vgg = tf.keras.models.clone_model(vgg, clone_function=our_pooling)
        finally:
            mixed_precision.set_global_policy(previous_policy)
        for name, kernel in weights.kernels.items():
            if name == "conv1_1":
                kernel = kernel[:, :, ::-1, :]  # preprocess_input hands Keras' network BGR
            vgg.get_layer(keras_layer(name)).set_weights([kernel, weights.biases[name]])
        vgg.trainable = False
        self.style_layers, self.content_layers = list(s.style_layers), list(s.content_layers)
        self.model = tf.keras.Model(
            vgg.input, [vgg.get_layer(keras_layer(name)).output for name in self.style_layers + self.content_layers]
        )
        if {output.dtype for output in self.model.outputs} != {precision}:
            raise RuntimeError(f"the {precision} baseline's network computes in {self.model.outputs[0].dtype}")
        self.style_targets = self.extract(tf.constant(styles[0][None] / 255.0))[0]  # the first painting
        self.content_targets = self.extract(tf.constant(content[None] / 255.0))[1]
        self.style_weights, self.content_weights = list(s.style_layers.values()), list(s.content_layers.values())
        self.settings, self.precision = s, precision
        self.image = tf.Variable(start_image[None] / 255.0, dtype=tf.float32)
        self.optimizer = tf.keras.optimizers.Adam(learning_rate=s.learning_rate / 255.0)
        self.compiled_train_step = tf.function(self.train_step)

    def gram_matrix(self, features):
        tf = self.tf
        shape = tf.shape(features)
        return tf.linalg.einsum("bijc,bijd->bcd", features, features) / tf.cast(shape[1] * shape[2], tf.float32)

    def extract(self, image):
        """(Gram matrices of the style layers, features of the content layers) of a 0..1 image."""
        tf = self.tf
        outputs = [
            tf.cast(output, tf.float32)
            for output in self.model(tf.keras.applications.vgg19.preprocess_input(image * 255.0))
        ]
        return (
            [self.gram_matrix(output) for output in outputs[: len(self.style_layers)]],
            outputs[len(self.style_layers) :],
        )

    def loss(self):
        tf, s = self.tf, self.settings
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
        pixels = self.image * 255.0
        x_deltas, y_deltas = pixels[:, :, 1:, :] - pixels[:, :, :-1, :], pixels[:, 1:, :, :] - pixels[:, :-1, :, :]
        tv = tf.reduce_sum(x_deltas**2) + tf.reduce_sum(y_deltas**2)
        return s.content_weight * content + s.style_weight * style + s.tv_weight * tv

    def same_problem(self, ours):
        """Raise unless this baseline's loss at its current image is ours (`ours`: an ImageOptimizer at
        the same image), within the rounding of its precision."""
        baseline_loss, our_loss = float(self.loss()), float(ours.loss(ours.image)[-1])
        tolerance = 0.02 if self.precision == "bfloat16" else 1e-3
        if abs(baseline_loss - our_loss) > tolerance * our_loss:
            raise RuntimeError(f"the tutorial baseline's loss {baseline_loss:.6g} is not ours {our_loss:.6g}")

    def train_step(self):
        tf = self.tf
        with tf.GradientTape() as tape:
            loss = self.loss()
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


class ConvolutionFloor:
    """The step's convolutions alone: every convolution of `network`, forward and as the input gradient,
    on inputs of the shapes they have in a step on a height x width image, in the network's precision,
    by the same kernels its step uses, and nothing else (no bias, ReLU, pooling, losses or update).
    The step can be no faster than this."""

    def __init__(self, network, height, width):
        rng = np.random.default_rng(0)
        self.inputs = []
        for name in network.pipeline:
            if name not in network.kernels:
                height, width = -(-height // 2), -(-width // 2)  # SAME pooling rounds up
                continue
            channels_in, channels_out = network.kernels[name].shape[2:]
            self.inputs += [
                tf.constant(rng.uniform(0, 1, (1, height, width, channels_in)), network.dtype),
                tf.constant(rng.normal(0, 1, (1, height, width, channels_out)), network.dtype),
            ]
        convolutions = [
            (network.kernels[name], network.turned_kernels[name])
            for name in network.pipeline
            if name in network.kernels
        ]

        def convolve_all(*inputs):
            outputs = []
            for (kernel, turned_kernel), x, dy in zip(convolutions, inputs[::2], inputs[1::2]):
                outputs += [network.forward(x, kernel, turned_kernel), network.backward(dy, turned_kernel, kernel)]
            return tf.stack([tf.cast(output[0, 0, 0, 0], tf.float32) for output in outputs])  # every one is run

        # The inputs are arguments, not constants, so that Grappler cannot compute the convolutions ahead.
        self.compiled = tf.function(convolve_all)

    def timed_iterations(self, count):
        step_s = []
        for _ in range(count):
            started = time.perf_counter()
            self.compiled(*self.inputs).numpy()
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
    """A user's run of `settings` less its run folder: passes.stylize on the bundled images, with the
    tile size style_transfer.run picks and a network built here, reporting to `observer`."""
    content, styles = load_inputs(settings)
    tile_px = settings.tile_px or tile_size(*fit_long_side(content.shape, settings.size_px))
    return passes.stylize(settings, content, styles, passes.build_network(settings, weights), tile_px, observer)


class _BudgetSpent(Exception):
    """How a TimeToQuality observer ends its run when the time budget is spent."""


class ReferenceObserver(Observer):
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


class TimeToQuality(Observer):
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


def tutorial_time_to_quality(size_px, weights, judge, target_loss, budget_s):
    """time_to_quality for the tutorial baseline in the precision the program picks here (so the
    tutorial with mixed_bfloat16 where bfloat16 is native): Adam at the original's learning rate from
    our start image, its building included in the time, judged as ours are."""
    clock = Clock()
    settings = project_settings(size_px, *STEP_FLAGS)
    baseline = TutorialBaseline(settings, weights, *pass_images(settings), settings.precision)
    reached_s = reached_iterations = None
    iterations = 0

    def judged():
        return clock.pause(lambda: judge(baseline.image.numpy()[0] * 255.0))

    while clock.elapsed_s() < budget_s:
        own_loss = float(baseline.compiled_train_step())  # of the image before this step, ours to within 2 %
        iterations += 1
        if reached_s is None and own_loss <= 1.02 * target_loss and judged() <= target_loss:
            reached_s, reached_iterations = clock.elapsed_s(), iterations
    return {
        "reached_s": reached_s,
        "reached_iterations": reached_iterations,
        "loss_at_budget": judged(),
        "precision": settings.precision,
    }


# --- Workers: each runs in a fresh process and prints one JSON line -----------------------------------


def peak_resident_bytes():
    """VmHWM: the most resident memory this process has held."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def speed_worker(size_px, rounds, iterations_per_round):
    """Seconds per iteration of our step, of the tutorial baseline's and of the step's convolutions
    alone, in the precision the program picks and in float32 if that is another, taken in alternating
    rounds so that a change in the machine's speed during the run slows all alike."""
    weights = load_weights(log=lambda *_: None)
    settings = project_settings(size_px, *STEP_FLAGS)
    content, styles, start = pass_images(settings)
    height, width = content.shape[:2]
    steps = {}
    for precision in dict.fromkeys([settings.precision, "float32"]):
        precision_settings = project_settings(size_px, *STEP_FLAGS, "--precision", precision)
        ours = build_job(precision_settings, weights, content, styles, start)
        baseline = TutorialBaseline(precision_settings, weights, content, styles, start, precision)
        baseline.same_problem(ours)
        floor = ConvolutionFloor(ours.loss.network, height, width)
        steps[precision] = {
            "ours": functools.partial(timed_iterations, ours),
            "baseline": baseline.timed_iterations,
            "convolutions": floor.timed_iterations,
        }
    first_s = {p: {name: step(1)[0] for name, step in named.items()} for p, named in steps.items()}  # compiling
    step_s = {p: {name: [] for name in named} for p, named in steps.items()}
    for _ in range(rounds):
        for p, named in steps.items():
            for name, step in named.items():
                step_s[p][name] += step(iterations_per_round)
    return {"height": height, "width": width, "first_s": first_s, "step_s": step_s}


def memory_worker(size_px, iterations, implementation, precision, process_started):
    """Peak resident memory of `iterations` steps of one implementation alone in one precision, and the
    moments (on the system-wide monotonic clock, so comparable with the parent's) at which start-up
    stages ended."""
    onednn_enabled()  # TensorFlow comes in on first use; a run's first is resolving --precision auto
    moments = {"imported": time.monotonic()}
    weights = load_weights(log=lambda *_: None)
    moments["weights_loaded"] = time.monotonic()
    settings = project_settings(size_px, *STEP_FLAGS, "--precision", precision)
    content, styles, start = pass_images(settings)
    if implementation == "ours":
        optimizer = build_job(settings, weights, content, styles, start)
        moments["built"] = time.monotonic()
        timed_iterations(optimizer, 1)
        moments["first_iteration"] = time.monotonic()
        timed_iterations(optimizer, iterations - 1)
    else:
        baseline = TutorialBaseline(settings, weights, content, styles, start, precision)
        moments["built"] = time.monotonic()
        baseline.timed_iterations(iterations)
    height, width = content.shape[:2]
    stages_s = {stage: moment - process_started for stage, moment in moments.items()}
    return {"height": height, "width": width, "peak_bytes": peak_resident_bytes(), "stages_s": stages_s}


def profile_worker(size_px, iterations):
    """Where the time of a step goes, ours and the tutorial's in the program's precision: TensorFlow's
    profiler traces `iterations` steps of each after two untraced ones. Returns, for each, the seconds
    per step of each op type and the steps' own seconds."""
    weights = load_weights(log=lambda *_: None)
    settings = project_settings(size_px, *STEP_FLAGS)
    content, styles, start = pass_images(settings)
    ours = build_job(settings, weights, content, styles, start)
    baseline = TutorialBaseline(settings, weights, content, styles, start, settings.precision)
    profiles = {}
    for name, step in (("ours", functools.partial(timed_iterations, ours)), ("baseline", baseline.timed_iterations)):
        step(2)
        with tempfile.TemporaryDirectory(prefix="benchmark-trace-") as folder:
            tf.profiler.experimental.start(folder)
            step_s = step(iterations)
            tf.profiler.experimental.stop()
            op_s = op_seconds(folder)
        profiles[name] = {"step_s": step_s, "op_s": {op: seconds / iterations for op, seconds in op_s.items()}}
    height, width = content.shape[:2]
    return {
        "height": height,
        "width": width,
        "precision": settings.precision,
        "profiles": profiles,
        "lbfgs": lbfgs_overhead(size_px, weights, content, styles, start, iterations),
    }


def lbfgs_overhead(size_px, weights, content, styles, start, iterations):
    """L-BFGS's own time, outside the compiled loss and gradient, in a run of `iterations` iterations
    after two: scipy's set-up of the run (its bounds, once per pass, tile or video frame), and then per
    iteration its update and the image and gradient copied between TensorFlow and scipy."""
    optimizer = build_job(project_settings(size_px, "--scales", "1"), weights, content, styles, start)
    compiled, calls = optimizer.loss_and_gradient, []

    def timed_loss_and_gradient():
        started = time.perf_counter()
        result = compiled()
        calls.append((started, time.perf_counter() - started))
        return result

    optimizer.loss_and_gradient = timed_loss_and_gradient
    timed_iterations(optimizer, 2)
    calls.clear()
    run_started = time.perf_counter()
    step_s = timed_iterations(optimizer, iterations)
    setup_s = calls[0][0] - run_started
    return {
        "iterations": len(step_s),
        "step_s": sum(step_s),
        "evaluations": len(calls),
        "inside_s": sum(seconds for _, seconds in calls),
        "setup_s": setup_s,
    }


def op_seconds(trace_folder):
    """{op type: seconds} of the TensorFlow ops in a profiler trace, summed over TensorFlow's compute threads,
    whose events are named "op name:op type"."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # the trace's format; TensorFlow has no public reader

    space = xplane_pb2.XSpace()
    for path in glob.glob(os.path.join(trace_folder, "**", "*.xplane.pb"), recursive=True):
        with open(path, "rb") as f:
            space.MergeFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines if plane.name == "/host:CPU" else []:
            for event in line.events if line.name.startswith("tf_Compute") else []:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:
                    seconds[name.rsplit(":", 1)[1]] += event.duration_ps / 1e12
    return seconds


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
    tutorial = tutorial_time_to_quality(size_px, weights, judge, reference.loss, budget_s)
    rows.append(dict(tutorial, label=f"{baseline_name(tutorial['precision'])}, Adam, learning rate 2"))
    return {
        "height": reference.job.height,
        "width": reference.job.width,
        "reference": {"loss": reference.loss, "elapsed_s": reference.elapsed_s},
        "budget_s": budget_s,
        "rows": rows,
    }


def video_worker(size_px, frame_count):
    """Seconds of each frame of box.mp4 (video_benchmark.py's clip and first frame) painted by the video
    mode with the program's defaults at size_px, as video_benchmark.py's speed table takes them."""
    from video_benchmark import CLIPS, VIDEOS, clip_settings, video_mode

    settings = clip_settings(os.path.join(VIDEOS, "box.mp4"), CLIPS["box.mp4"], frame_count, size_px)
    network = passes.build_network(settings, load_weights(log=lambda *_: None))
    frames = video_mode(settings, [load_image(path) for path in settings.style_images], network)
    height, width = frames.pictures[0].shape[:2]
    return {"height": height, "width": width, "seconds": frames.seconds, "frame_iterations": settings.frame_iterations}


def machine_worker():
    """The precision the program picks here, and TensorFlow as the program sets it up."""
    return {"precision": resolve_precision("auto"), "tensorflow": tf.__version__, "onednn": onednn_enabled()}


WORKERS = {
    "machine": machine_worker,
    "speed": speed_worker,
    "profile": profile_worker,
    "memory": memory_worker,
    "quality": quality_worker,
    "video": video_worker,
}


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


def whole_run(size_px, flags):
    """Peak resident memory and wall time of a user's run: style_transfer.py with its defaults at size_px
    (and `flags`), writing its files into a temporary folder. The peak is the run's own (its rusage, as
    the parent reaps it), TensorFlow, the weights, every pass, the snapshots and the summaries included;
    beside it, the peak the program's own estimate (tiling.py) expects."""
    with tempfile.TemporaryDirectory(prefix="benchmark-run-") as folder:
        command = [sys.executable, "style_transfer.py", "--size", str(size_px), *flags, "--output-dir", folder]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed_s = time.monotonic() - started
    if process.returncode != 0:
        sys.exit(f"benchmark: {' '.join(command[1:])} failed with exit status {process.returncode}")
    height, width = fit_long_side(load_image(CONTENT_IMAGE).shape, size_px)
    style_height, style_width = fit_long_side(load_image(STYLE_IMAGE).shape, size_px)
    return {
        "command": " ".join(["python", *command[1:-2]]),
        "height": height,
        "width": width,
        "peak_bytes": usage.ru_maxrss * 1024,
        "estimate_bytes": peak_memory_bytes(height, width, max(height, width), style_height * style_width),
        "elapsed_s": elapsed_s,
    }


# --- The report -----------------------------------------------------------------------------------------


def machine_description(machine):
    """CPU, memory and software, the last two as a worker saw them (this process never loads TensorFlow)."""
    with open("/proc/cpuinfo") as f:
        first_cpu = f.read().split("\n\n")[0]
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in first_cpu.splitlines())}
    cpu, family, model = fields.get("model name", platform.machine()), fields.get("cpu family"), fields.get("model")
    flags = cpu_flags()
    extensions = [name for flag, name in CPU_EXTENSIONS.items() if flag in flags] or ["no AVX-512"]
    onednn = "on" if machine["onednn"] else "off"
    bfloat16 = "native" if machine["precision"] == "bfloat16" else "not native"
    return (
        f"{cpu} (family {family}, model {model}; {', '.join(extensions)}), {os.cpu_count()} logical CPUs "
        f"(bfloat16 {bfloat16}), {total_memory_bytes() / 2**30:.1f} GiB; Python {platform.python_version()}, "
        f"TensorFlow {machine['tensorflow']}, oneDNN {onednn}"
    )


CPU_EXTENSIONS = {"avx512f": "AVX-512", "avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX"}


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


def baseline_name(precision):
    return "the tutorial with mixed_bfloat16" if precision == "bfloat16" else "the tutorial"


def speed_table(speeds, precision):
    """Seconds per iteration of our step, the tutorial's and the convolutions alone, in one precision."""
    header = [
        "size",
        "image (w x h)",
        "ours s/it",
        "tutorial s/it",
        "convolutions alone s/it",
        "ours / tutorial",
        "ours / convolutions",
        "convolutions / tutorial",
        "first iteration, ours / tutorial s",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---:" * len(header) + "|"]
    for size_px, speed in speeds.items():
        median = {name: statistics.median(times) for name, times in speed["step_s"][precision].items()}
        first_s = speed["first_s"][precision]
        cells = [
            str(size_px),
            f"{speed['width']} x {speed['height']}",
            *(f"{median[name]:.3f}" for name in ("ours", "baseline", "convolutions")),
            f"**{median['ours'] / median['baseline']:.2f}**",
            f"**{median['ours'] / median['convolutions']:.2f}**",
            f"{median['convolutions'] / median['baseline']:.2f}",
            f"{first_s['ours']:.1f} / {first_s['baseline']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def speed_section(speeds, rounds, iterations):
    precisions = list(next(iter(speeds.values()))["step_s"])
    lines = [
        f"Median of {rounds} x {iterations} iterations after one compiling iteration, one process per size, every "
        "step below taking its turn in each round. Ours is the optimizer passes.build_optimizer builds for a run "
        "(Adam, one pass), its run(...) timed by the Progress.step_s it reports; the tutorial is TensorFlow's "
        "tutorial's Keras code, in bfloat16 with the global policy mixed_bfloat16; the convolutions alone are "
        "the step's 26 convolutions (forward and input gradient, to conv5_1) and nothing else, the floor of "
        "the step (benchmarks/README.md).",
    ]
    for precision in precisions:
        chosen = " (the program's choice on this machine)" if precision == precisions[0] else ""
        lines += ["", f"### {precision}{chosen}: ours against {baseline_name(precision)}", ""]
        lines += speed_table(speeds, precision)
    return lines


def straight_line(points):
    """(base, slope) of the least-squares line through (x, y) points."""
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return mean_y - slope * mean_x, slope


def largest_fitting_size(memories, memory_bytes):
    """(long side px, bytes per pixel, base bytes) of the largest image of the photo's aspect ratio whose
    single pass would fit in memory_bytes, by a least-squares line through (pixels, peak) of the sizes
    measured; None with fewer than two sizes."""
    points = [(m["height"] * m["width"], m["peak_bytes"]) for m in memories.values()]
    if len(points) < 2:
        return None
    base, slope = straight_line(points)
    any_memory = next(iter(memories.values()))
    aspect = max(any_memory["height"], any_memory["width"]) / min(any_memory["height"], any_memory["width"])
    pixels = (memory_bytes - base) / slope
    return int((pixels * aspect) ** 0.5), slope, base


def memory_table(memories):
    """memories: {size: {precision: {"ours": ..., "baseline": ...}}}, the program's precision first."""
    precisions = list(next(iter(memories.values())))
    header = ["size", "image (w x h)"]
    for precision in precisions:
        header += [f"ours, {precision} GiB", f"tutorial, {precision} GiB"]
    lines = ["| " + " | ".join(header) + " |", "|---:" * len(header) + "|"]
    for size_px, by_precision in memories.items():
        ours = by_precision[precisions[0]]["ours"]
        cells = [str(size_px), f"{ours['width']} x {ours['height']}"]
        for precision in precisions:
            cells += [f"{by_precision[precision][name]['peak_bytes'] / 2**30:.2f}" for name in ("ours", "baseline")]
        lines.append("| " + " | ".join(cells) + " |")
    memory_bytes = total_memory_bytes()
    fit = largest_fitting_size({size: m[precisions[0]]["ours"] for size, m in memories.items()}, memory_bytes)
    if fit is None:
        lines += ["", "Largest size in one pass: needs two sizes or more to extrapolate."]
    else:
        long_side_px, slope, base = fit
        lines += [
            "",
            f"Largest size whose single pass (ours, {precisions[0]}) fits in this machine's "
            f"{memory_bytes / 2**30:.1f} GiB: about **{long_side_px} px** long side, extrapolated (not measured) "
            f"from a straight line through the peaks above: {base / 2**30:.2f} GiB + {slope / 1024:.2f} KiB per pixel.",
        ]
    return lines


def whole_runs_table(runs):
    """The default run first, then one-pass runs at larger sizes."""
    lines = [
        "| command (and `--output-dir` a temporary folder) | image (w x h) | peak GiB | tiling.py's estimate GiB "
        "| seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for index, run in enumerate(runs):
        peak = f"{run['peak_bytes'] / 2**30:.2f}"
        lines.append(
            f"| `{run['command']}` | {run['width']} x {run['height']} | {f'**{peak}**' if index == 0 else peak} | "
            f"{run['estimate_bytes'] / 2**30:.2f} | {run['elapsed_s']:.0f} |"
        )
    if len(runs) > 2:
        base, slope = straight_line([(run["height"] * run["width"], run["peak_bytes"]) for run in runs[1:]])
        lines += [
            "",
            f"One pass of L-BFGS, by a straight line through the peaks of the one-pass runs: {base / 2**30:.2f} GiB + "
            f"{slope / 1024:.2f} KiB per pixel.",
        ]
    return lines


def startup_table(size_px, memory):
    stages = memory["stages_s"]
    names = {
        "imported": "Python and TensorFlow started, project imported",
        "weights_loaded": "VGG19 weights loaded from the cache",
        "built": "images, network, style targets and optimizer built (passes.build_optimizer)",
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
        help="smoke run: 128 px, 2 iterations, 1 round; time to quality over 2 iterations; whole runs of 2 + 2 and 2",
    )
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024], help="long sides in px")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of ours and the baseline per size")
    p.add_argument("--iterations", type=int, default=2, help="timed iterations per round, after one compiling one")
    p.add_argument("--profile-size", type=int, default=512, help="size of the profiled steps")
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
    p.add_argument("--run-size", type=int, default=512, help="size of the whole default run measured")
    p.add_argument("--video-size", type=int, default=512, help="size of the video frames timed")
    p.add_argument("--video-frames", type=int, default=4, help="frames of the clip timed; the first is a still's run")
    p.add_argument(
        "--one-pass-sizes",
        nargs="*",
        type=int,
        default=[1024, 1536, 2048],
        help="sizes of the whole runs in one pass whose peak memory is measured",
    )
    p.add_argument("--one-pass-iterations", type=int, default=12, help="iterations of each one-pass run")
    p.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="what to measure (a loaded machine: a few at a time)",
    )
    p.add_argument("--output", default=RESULTS_PATH, help="markdown file for the results")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.run_flags = ()
    if args.quick:
        args.sizes, args.startup_size, args.quality_size, args.run_size, args.profile_size = [128], 128, 128, 128, 128
        args.rounds, args.iterations, args.memory_iterations, args.quality_iterations = 1, 2, 2, 2
        args.run_flags, args.one_pass_sizes, args.one_pass_iterations = ("--iterations", "2", "2"), [192, 256], 2
        args.video_size, args.video_frames = 64, 2
    if args.startup_size not in args.sizes:
        p.error(f"--startup-size {args.startup_size} must be one of --sizes {args.sizes}")
    return args


def speed_part(args, precisions):
    speeds = {}
    for size_px in args.sizes:
        print(f"{size_px} px: speed ...", file=sys.stderr, flush=True)
        speeds[size_px] = run_worker("speed", size_px=size_px, rounds=args.rounds, iterations_per_round=args.iterations)
    return speed_section(speeds, args.rounds, args.iterations)


def profile_part(args, precisions):
    print(f"{args.profile_size} px: profile ...", file=sys.stderr, flush=True)
    return profile_table(run_worker("profile", size_px=args.profile_size, iterations=args.rounds * args.iterations))


def profile_table(profile, rows=14):
    """The op types that take the most time in either step, ours and the tutorial's, in ms per step."""
    ours, baseline = (profile["profiles"][name] for name in ("ours", "baseline"))
    totals = collections.Counter(ours["op_s"]) + collections.Counter(baseline["op_s"])
    shown = [op for op, _ in totals.most_common(rows)]
    lines = [
        f"TensorFlow's profiler (tf.profiler.experimental) on {len(ours['step_s'])} steps of ours and of "
        f"{baseline_name(profile['precision'])} after two untraced ones, at {profile['width']} x "
        f"{profile['height']} in {profile['precision']}. Each op's time is summed over TensorFlow's threads (ops "
        "that run side by side both count), so a column's sum can exceed the step's own time; the last rows give both.",
        "",
        "| op type | ours, ms per step | tutorial, ms per step |",
        "|---|---:|---:|",
    ]
    for op in shown:
        lines.append(f"| {op} | {1000 * ours['op_s'].get(op, 0):.1f} | {1000 * baseline['op_s'].get(op, 0):.1f} |")
    rest = [sum(seconds for op, seconds in p["op_s"].items() if op not in shown) for p in (ours, baseline)]
    lines += [
        f"| every other op type | {1000 * rest[0]:.1f} | {1000 * rest[1]:.1f} |",
        f"| all ops | {1000 * sum(ours['op_s'].values()):.1f} | {1000 * sum(baseline['op_s'].values()):.1f} |",
        f"| the step, median wall time | {1000 * statistics.median(ours['step_s']):.1f} | "
        f"{1000 * statistics.median(baseline['step_s']):.1f} |",
    ]
    lbfgs = profile["lbfgs"]
    per_iteration_s = (lbfgs["step_s"] - lbfgs["inside_s"] - lbfgs["setup_s"]) / lbfgs["iterations"]
    lines += [
        "",
        f"L-BFGS (the program's default optimizer) at the same size, {lbfgs['iterations']} iterations after two: "
        f"{lbfgs['evaluations'] / lbfgs['iterations']:.2f} evaluations of the loss and gradient per iteration, "
        f"{lbfgs['step_s'] / lbfgs['iterations']:.3f} s per iteration. Outside the compiled loss and gradient: "
        f"**{lbfgs['setup_s']:.2f} s** of scipy's set-up before the first evaluation (once per L-BFGS run: per pass, "
        f"tile or video frame), then **{1000 * per_iteration_s:.0f} ms** per iteration (scipy's update, and the image "
        "and gradient copied between TensorFlow and scipy).",
    ]
    return lines


def memory_part(args, precisions):
    memories = {}
    for size_px in args.sizes:
        print(f"{size_px} px: peak memory ...", file=sys.stderr, flush=True)
        memories[size_px] = {
            precision: {
                implementation: run_worker(
                    "memory",
                    size_px=size_px,
                    iterations=args.memory_iterations,
                    implementation=implementation,
                    precision=precision,
                )
                for implementation in ("ours", "baseline")
            }
            for precision in precisions
        }
    return [
        "Resident set high-water mark (VmHWM) of a fresh process per size, precision and implementation running "
        f"{args.memory_iterations} iterations (Adam); it includes TensorFlow itself.",
        "",
        *memory_table(memories),
        "",
        f"### Start-up to the first iteration (ours, {precisions[0]})",
        "",
        "The fresh process of one size above, weights already cached.",
        "",
        *startup_table(args.startup_size, memories[args.startup_size][precisions[0]]["ours"]),
    ]


def run_part(args, precisions):
    print(f"a whole default run at {args.run_size} px ...", file=sys.stderr, flush=True)
    runs = [whole_run(args.run_size, args.run_flags)]
    for size_px in args.one_pass_sizes:
        print(f"a one-pass run at {size_px} px ...", file=sys.stderr, flush=True)
        runs.append(whole_run(size_px, ("--scales", "1", "--iterations", str(args.one_pass_iterations))))
    return [
        "style_transfer.py run as a user runs it, in a fresh process; its peak is the process's own (ru_maxrss, "
        "from wait4), TensorFlow's start-up, every pass and every file written included, and its seconds from "
        f"start to exit. The one-pass runs take {args.one_pass_iterations} iterations (L-BFGS's history, which "
        "holds the last 10, fills in the first 10).",
        "",
        *whole_runs_table(runs),
    ]


def quality_part(args, precisions):
    print(f"time to quality at {args.quality_size} px ...", file=sys.stderr, flush=True)
    quality = run_worker(
        "quality",
        size_px=args.quality_size,
        reference_iterations=args.quality_iterations,
        budget_ratio=args.quality_budget,
    )
    return quality_table(quality, args.quality_iterations, args.quality_size)


def video_part(args, precisions):
    print(f"video at {args.video_size} px ...", file=sys.stderr, flush=True)
    video = run_worker("video", size_px=args.video_size, frame_count=args.video_frames)
    seconds = video["seconds"]
    later_s = statistics.median(seconds[1:])
    return [
        f"box.mp4 (`../shared/videos`, benchmarks/video_benchmark.py's clip) from frame 120, {len(seconds)} frames at "
        f"{args.video_size} px ({video['width']} x {video['height']}) in one run of the video mode with the "
        f"program's defaults: the first frame as a still image is made (every pass), each later one in "
        f"{video['frame_iterations']} iterations from the previous frame warped by the optical flow, flow included.",
        "",
        "| frame | seconds |",
        "|---:|---:|",
        *[f"| {index} | {frame_s:.1f} |" for index, frame_s in enumerate(seconds, start=1)],
        "",
        f"Later frames: **{later_s:.1f} s per frame** (median), {later_s / seconds[0]:.2f} of the first frame's time.",
    ]


PARTS = {
    "speed": ("Seconds per iteration", speed_part),
    "profile": ("Where the step's time goes", profile_part),
    "memory": ("Peak memory of the step", memory_part),
    "run": ("Whole runs", run_part),
    "quality": ("Time to quality", quality_part),
    "video": ("Seconds per video frame", video_part),
}


def code_version(output):
    """The commit measured, and whether the files differed from it (the results file aside)."""
    git = ["git", "-C", REPO]
    output = os.path.relpath(os.path.abspath(output), REPO)
    excluded = [] if output.startswith("..") else [f":(exclude){output}"]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "--", ".", *excluded],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "code outside git"
    return f"commit {commit.stdout.strip()}" + (" with uncommitted changes" if changes.stdout.strip() else "")


def read_sections(path):
    """{title: lines} of the "## " sections of an earlier results file, if there is one."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    sections, title = {}, None
    for line in lines:
        if line.startswith("## "):
            title = line[3:]
            sections[title] = []
        elif title is not None:
            sections[title].append(line)
    return sections


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        kind, arguments = args.worker
        print(json.dumps(WORKERS[kind](**json.loads(arguments))))
        return
    command = " ".join(["python benchmarks/benchmark.py", *(argv if argv is not None else sys.argv[1:])]).strip()
    machine = run_worker("machine")
    precisions = list(dict.fromkeys([machine["precision"], "float32"]))
    sections = read_sections(args.output)  # the parts not measured now keep what an earlier run wrote
    for part in args.parts:
        title, measure = PARTS[part]
        started, load_at_start = time.perf_counter(), load_average()
        lines = measure(args, precisions)
        provenance = (
            f"`{command}` ({code_version(args.output)}) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{(time.perf_counter() - started) / 60:.1f} min. Machine: {machine_description(machine)}. "
            f"{load_note(load_at_start, load_average())}"
        )
        sections[title] = ["", provenance, "", *lines, ""]
    report = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/benchmark.py` (benchmarks/README.md); each section says the command, code and "
        "machine that measured it.",
        "",
    ]
    for title, _ in PARTS.values():
        if title in sections:
            report += [f"## {title}", *sections[title]]
    text = "\n".join(report)
    print(text)
    with open(args.output, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
