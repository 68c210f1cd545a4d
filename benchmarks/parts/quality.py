"""Time to quality: the total loss the original's settings reach is the target; each of our settings,
and the tutorial, then runs for a share of the original's time: when it reached the target, and the
loss it had when its time ran out. Every run is planned by style_transfer.plan and painted by
passes.stylize, watched by an observer of this module's own."""

import sys
import time

import style_transfer
from neural_style.model.tf_setup import onednn_enabled, tf
from neural_style.work.observer import Observer
from parts.baseline import TutorialBaseline, baseline_name
from parts.ours import REFERENCE_LEARNING_RATE, STEP_FLAGS, pass_images, planned_run, stylize
from parts.workers import run_worker

TITLE = "Time to quality"

REFERENCE_ITERATIONS = 300  # of the original's settings, whose loss after them defines "quality"
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


def half_size_first(coarse_iterations):
    """Flags of a run of coarse_iterations at half size, then the full size until its time budget ends it."""
    return ("--scales", "2", "--iterations", str(coarse_iterations), str(ENOUGH_ITERATIONS))


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
            ("--optimizer", "lbfgs", *half_size_first(default_coarse)),
        ),
        ("L-BFGS, 200 iterations at half size first", ("--optimizer", "lbfgs", *half_size_first(200))),
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


def time_to_quality(size_px, flags, judge, target_loss, budget_s):
    """Run one setting (style_transfer.py's flags at size_px) for budget_s seconds of wall time, its
    building included (its planning, which reads the weights again, not). Its loss is judged by `judge`
    (the float32 total loss of an image, against float32 targets), so that every setting is held to the
    same measure whatever its own precision; the judging is not timed. Returns when it first reached
    target_loss (seconds, iterations of the full-size pass) and its judged loss when the budget ran out."""
    run, weights = planned_run(size_px, *flags)
    observer = TimeToQuality(judge, target_loss, budget_s)
    try:
        stylize(run, weights, observer)
    except _BudgetSpent:
        pass
    else:  # L-BFGS converged before the budget ran out
        observer.loss_at_budget = judge(observer.optimizer.result())
    return {
        "reached_s": observer.reached_s,
        "reached_iterations": observer.reached_iterations,
        "loss_at_budget": observer.loss_at_budget,
        "precision": run.settings.precision,
    }


def tutorial_time_to_quality(size_px, judge, target_loss, budget_s):
    """time_to_quality for the tutorial baseline in the precision the program picks here (so the
    tutorial with mixed_bfloat16 where bfloat16 is native): Adam at the original's learning rate from
    our start image, its building included in the time, judged as ours are."""
    run, weights = planned_run(size_px, *STEP_FLAGS)
    settings = run.settings
    clock = Clock()
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


def worker(size_px, reference_iterations, budget_ratio):
    """The original's loss after reference_iterations, then each of our settings run for budget_ratio
    times the original's time: when it reached that loss, and the loss it had when the time ran out."""
    onednn_enabled()  # TensorFlow imported before any clock starts, as in a run (by --precision auto)
    run, weights = planned_run(size_px, *reference_flags(reference_iterations))
    reference = ReferenceObserver()
    stylize(run, weights, reference)
    total_loss = tf.function(lambda image: reference.optimizer.loss(image)[-1])

    def judge(image):
        return float(total_loss(tf.constant(image[None])))

    budget_s = reference.elapsed_s * budget_ratio
    rows = [
        dict(time_to_quality(size_px, flags, judge, reference.loss, budget_s), label=label)
        for label, flags in quality_settings(size_px)
    ]
    tutorial = tutorial_time_to_quality(size_px, judge, reference.loss, budget_s)
    rows.append(dict(tutorial, label=f"{baseline_name(tutorial['precision'])}, Adam, learning rate 2"))
    return {
        "height": reference.job.height,
        "width": reference.job.width,
        "reference": {"loss": reference.loss, "elapsed_s": reference.elapsed_s},
        "budget_s": budget_s,
        "rows": rows,
    }


def part(args, precisions):
    print(f"time to quality at {args.quality_size} px ...", file=sys.stderr, flush=True)
    quality = run_worker(
        "quality",
        size_px=args.quality_size,
        reference_iterations=args.quality_iterations,
        budget_ratio=args.quality_budget,
    )
    return quality_table(quality, args.quality_iterations, args.quality_size)


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
