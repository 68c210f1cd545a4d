"""The benchmark's baseline is a fair one: TensorFlow's tutorial code, written independently of ours on
Keras' own VGG19, solves exactly our problem, and the benchmark's check refuses one that does not."""

import os
import sys

import pytest
from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
STEPS = 5


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_tutorial_baseline_solves_our_problem_and_the_check_refuses_another(tf, vgg_weights, precision):
    import benchmark

    settings = benchmark.project_settings(64, *benchmark.STEP_FLAGS, "--precision", precision)
    content, styles, start = benchmark.pass_images(settings)
    ours = benchmark.build_job(settings, vgg_weights, content, styles, start)
    baseline = benchmark.TutorialBaseline(settings, vgg_weights, content, styles, start, precision)
    baseline.same_problem(ours)
    # And after a few steps of each (Adam, from the same image): the same loss again, so the same steps.
    for _ in range(STEPS):
        baseline.train_step()
    ours.run(STEPS, lambda progress: None)
    baseline.same_problem(ours)

    # The tutorial as written pools by max: another problem, whose loss the check must refuse.
    max_pooling = benchmark.project_settings(64, *benchmark.STEP_FLAGS, "--precision", precision, "--pooling", "max")
    other = benchmark.TutorialBaseline(max_pooling, vgg_weights, content, styles, start, precision)
    with pytest.raises(RuntimeError, match="is not ours"):
        other.same_problem(ours)
