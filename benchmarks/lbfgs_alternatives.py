"""Other L-BFGS implementations on the program's own loss (issue 22 asked for them to be measured before
ours was written): this program's L-BFGS (neural_style/model/lbfgs.py), scipy's L-BFGS-B given the
obvious savings (one compiled function for the loss and its gradient, the pixel range as two numbers
instead of per-pixel bounds), and TensorFlow Probability's `lbfgs_minimize` (no bounds: its image is
clipped to 0..255 before its loss is taken). Each from the same start, the default run's first image at
--size, for --iterations iterations; evaluations are calls of the loss and gradient. The methods take
turns for --rounds rounds, each round in the other order (this machine's speed moves by up to 2x within
minutes): the seconds are medians, each round's beside them. Writes
benchmarks/LBFGS_ALTERNATIVES.md (--results) with the command at its top.

    python benchmarks/lbfgs_alternatives.py                # 512 px, 30 iterations each, 2 rounds
    python benchmarks/lbfgs_alternatives.py --quick        # 64 px, 5 iterations: a smoke run

TensorFlow Probability is no dependency of the program; without it its row says so. To measure it, into
a folder of its own (0.25.0 is its newest release; with --no-deps it takes TensorFlow's own packages):

    pip install --target /tmp/tfp --no-deps tensorflow-probability==0.25.0 tf-keras==2.21.0 \
        dm-tree cloudpickle decorator
    PYTHONPATH=/tmp/tfp python benchmarks/lbfgs_alternatives.py
"""

import argparse
import os
import shlex
import statistics
import sys
import time

import numpy as np
import scipy.optimize

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from parts.machine import cpu_fields
from parts.ours import build_job, pass_images, planned_run

from neural_style.model.tf_setup import tf

RESULTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "LBFGS_ALTERNATIVES.md")
HISTORY_PAIRS = 10  # as the program's and scipy's default


def ours(optimizer, iterations):
    """The program's L-BFGS as a run drives it, on a new optimizer (traced in its first iteration).
    Returns (iterations, evaluations, seconds, loss)."""
    lbfgs = optimizer.lbfgs
    trials, try_step = [], lbfgs.try_step
    lbfgs.try_step = lambda step_size: trials.append(1) or try_step(step_size)
    started = time.perf_counter()
    optimizer.run(iterations, lambda progress: None)
    return int(optimizer.step), len(trials), time.perf_counter() - started, final_loss(optimizer, optimizer.result())


def scipy_lbfgsb(optimizer, start, iterations):
    """scipy's L-BFGS-B on `optimizer`'s image, through its one compiled call for the loss and gradient
    (the one Adam takes), with float64 copies for scipy's Fortran."""
    calls = []

    def objective(x):
        calls.append(1)
        optimizer.image.assign(x.reshape(optimizer.image.shape).astype(np.float32))
        losses, gradient = optimizer.loss_and_gradient()
        return float(losses[-1]), gradient.numpy().ravel().astype(np.float64)

    started = time.perf_counter()
    result = scipy.optimize.minimize(
        objective,
        start.ravel().astype(np.float64),
        jac=True,
        method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(0.0, 255.0),
        options={"maxiter": iterations, "maxcor": HISTORY_PAIRS, "ftol": 0.0, "gtol": 0.0},
    )
    elapsed_s = time.perf_counter() - started
    return result.nit, len(calls), elapsed_s, final_loss(optimizer, result.x.reshape(start.shape))


def tfp_lbfgs(optimizer, start, iterations):
    """TensorFlow Probability's lbfgs_minimize in one compiled call (its loop in the graph), unbounded;
    None where it is not installed."""
    try:
        import tensorflow_probability as tfp
    except ImportError:
        return None
    shape = (1, *start.shape)

    def value_and_gradient(x):
        return tfp.math.value_and_gradient(lambda x: optimizer.loss(tf.reshape(x, shape))[-1], x)

    @tf.function(autograph=False)
    def minimize(x):
        return tfp.optimizer.lbfgs_minimize(
            value_and_gradient,
            initial_position=x,
            num_correction_pairs=HISTORY_PAIRS,
            tolerance=0.0,
            x_tolerance=0.0,
            f_relative_tolerance=0.0,
            max_iterations=iterations,
        )

    started = time.perf_counter()
    result = minimize(tf.constant(start.ravel()))
    position = result.position.numpy()
    elapsed_s = time.perf_counter() - started
    picture = np.clip(position.reshape(start.shape), 0.0, 255.0)
    evaluations = int(result.num_objective_evaluations)
    return int(result.num_iterations), evaluations, elapsed_s, final_loss(optimizer, picture)


def final_loss(optimizer, picture):
    """The program's total loss of a picture (within the pixel range)."""
    return float(optimizer.loss(tf.constant(picture[None].astype(np.float32)))[-1])


def parse_options():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="the image's long side in pixels")
    parser.add_argument("--iterations", type=int, default=30, help="iterations of each method")
    parser.add_argument("--rounds", type=int, default=2, help="turns each method takes")
    parser.add_argument("--quick", action="store_true", help="64 px, 5 iterations, 1 round: a smoke run")
    parser.add_argument("--results", default=RESULTS_PATH, help="the markdown file written")
    options = parser.parse_args()
    if options.quick:
        options.size, options.iterations, options.rounds = 64, 5, 1
    return options


def main():
    options = parse_options()
    run, weights = planned_run(options.size, "--scales", "1")
    settings = run.settings
    content, styles, start = pass_images(settings)
    optimizer = build_job(settings, weights, content, styles, start)  # its loss is every method's
    start_loss = final_loss(optimizer, start)
    methods = {
        "this program's L-BFGS (neural_style/model/lbfgs.py)": lambda _, start, iterations: ours(
            build_job(settings, weights, content, styles, start), iterations
        ),
        "scipy's L-BFGS-B, bounds as two numbers, one compiled loss and gradient": scipy_lbfgsb,
        "TensorFlow Probability's lbfgs_minimize, unbounded, clipped at the end": tfp_lbfgs,
    }
    rows = {name: [] for name in methods}
    for round_index in range(options.rounds):
        for name in list(methods)[:: -1 if round_index % 2 else 1]:
            rows[name].append(methods[name](optimizer, start, options.iterations))
    height, width = content.shape[:2]
    lines = [
        "# L-BFGS alternatives on the program's loss",
        "",
        "    python benchmarks/" + " ".join(shlex.quote(word) for word in [os.path.basename(__file__), *sys.argv[1:]]),
        "",
        f"CPU: {cpu_fields().get('model name', 'unknown')}; {os.cpu_count()} logical CPUs; TensorFlow "
        f"{tf.__version__}; {settings.precision}. The default run's start image at {width}x{height}, loss "
        f"{start_loss:.4e}; each method {options.iterations} iterations from it, the methods in turn in one "
        f"process for {options.rounds} rounds (seconds include each method's tracing and compiling; iterations and "
        "evaluations are the last round's).",
        "",
        "| method | iterations | evaluations | per iteration | s, median | each round | loss at its end, by round |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, results in rows.items():
        if results[-1] is None:
            lines.append(f"| {name} | not installed | | | | | |")
            continue
        iterations, evaluations, _, _ = results[-1]
        seconds, losses = [elapsed_s for _, _, elapsed_s, _ in results], [loss for *_, loss in results]
        lines.append(
            f"| {name} | {iterations} | {evaluations} | {evaluations / max(1, iterations):.2f} | "
            f"{statistics.median(seconds):.1f} | {', '.join(f'{s:.1f}' for s in seconds)} | "
            f"{', '.join(f'{loss:.4e}' for loss in losses)} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    with open(options.results, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
