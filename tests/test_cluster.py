"""The same runs on a real Ray cluster on this machine (tests/local_cluster.py: a head and a second node,
one CPU each, so two worker processes paint at once): the outputs equal a run's on this machine bit
for bit, a worker killed in the middle of a task is replaced and its run painted once, an interrupted
driver goes on where it stopped, and bad cluster input ends in one line."""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import REPO, run_cli, wait_for
from local_cluster import LocalCluster, free_port

# TensorFlow's sums depend on how its threads split them: the same threads here and in the workers
# (the driver hands these to them) give the same pictures bit for bit.
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}
DRIVER_TIMEOUT_S = 300
PHOTOS = ["images/cincinnati_bridge.jpg", "images/coffee.png"]  # relative: the workers' folder has no images/
PAINTINGS = ["images/starry_night.jpg", "images/great_wave.png"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two nodes whose workers have no weights cache and no network: every weight they use is the driver's."""
    empty_cache, home = tmp_path_factory.mktemp("no-weights"), tmp_path_factory.mktemp("home")
    environment = dict(os.environ, STYLE_TRANSFER_CACHE=str(empty_cache), HOME=str(home))
    saved = dict(os.environ)
    os.environ.update(environment)  # what `ray start`, and so every worker, inherits
    try:
        started = LocalCluster(nodes=2, cpus=1)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield started
    started.stop()
    assert os.listdir(empty_cache) == []  # no worker fetched (or cached) weights of its own


def run_here(*args, output_dir):
    done = run_cli(*args, "--output-dir", output_dir, env=ONE_THREAD, timeout=DRIVER_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    return done


def run_on(cluster, *args, output_dir):
    done = run_cli(
        *args, "--output-dir", output_dir, "--cluster", cluster.address, env=ONE_THREAD, timeout=DRIVER_TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr
    return done


def start_on(cluster, *args, output_dir):
    return subprocess.Popen(
        [sys.executable, "style_transfer.py", *args, "--output-dir", str(output_dir), "--cluster", cluster.address],
        cwd=REPO,
        env=dict(os.environ, **ONE_THREAD),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_folders(output_dir):
    return sorted(os.path.basename(path) for path in glob.glob(os.path.join(output_dir, "*")) if "batch-" not in path)


def pixels(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def losses(folder):
    """losses.csv without the seconds of each step."""
    with open(os.path.join(folder, "losses.csv")) as f:
        return [line.rsplit(",", 1)[0] for line in f.read().splitlines()]


def status(folder):
    try:
        with open(os.path.join(folder, "settings.json")) as f:
            return json.load(f)["status"]
    except (OSError, ValueError):
        return None


def assert_same_results(here, there, names):
    for name in names:
        for kind in ("final", "sheet"):
            a, b = pixels(f"{here}/{name}/{name}-{kind}.png"), pixels(f"{there}/{name}/{name}-{kind}.png")
            assert a is not None and np.array_equal(a, b), f"{name} {kind} differs"
        assert losses(f"{here}/{name}") == losses(f"{there}/{name}")
        assert status(f"{there}/{name}") == "finished"


def test_a_batch_on_the_cluster_equals_the_same_batch_here(cluster, tmp_path):
    batch = ["--content", *PHOTOS, "--style", *PAINTINGS, "--each-style", "--size", "32", "--iterations", "4"]
    run_here(*batch, output_dir=tmp_path / "here")
    logs_before = cluster.worker_logs()
    done = run_on(cluster, *batch, output_dir=tmp_path / "there")

    names = run_folders(tmp_path / "here")
    assert len(names) == 4 and run_folders(tmp_path / "there") == names
    assert_same_results(tmp_path / "here", tmp_path / "there", names)
    (summary,) = glob.glob(str(tmp_path / "there" / "batch-*"))
    sheet = pixels(os.path.join(summary, "sheet.png"))
    assert sheet.shape[:2] == (3 * 168, 3 * 168)  # the paintings, then a row per photo: itself and its 2 results
    # Each run was a task, and the tasks were spread over more than one worker process.
    tasks = {
        pid: re.findall(r"task: painting run (\S+)", log)
        for pid, log in cluster.worker_logs().items()
        if pid not in logs_before
    }
    assert sorted(name for names in tasks.values() for name in names) == names
    assert sum(1 for names in tasks.values() if names) >= 2
    assert "2 nodes, 2 CPUs" in done.stdout


def test_a_worker_killed_mid_task_is_replaced_and_its_run_painted_once(cluster, tmp_path):
    run = ["--content", PHOTOS[0], "--style", *PAINTINGS, "--each-style", "--size", "64", "--scales", "1"]
    run += ["--iterations", "60", "--optimizer", "adam", "--print-every", "1"]
    logs_before = set(cluster.worker_logs())
    driver = start_on(cluster, *run, output_dir=tmp_path / "there")
    try:

        def a_task_half_done():
            for pid, log in cluster.worker_logs().items():
                steps = [int(step) for step in re.findall(r"step\s+(\d+)/60", log)]
                if pid not in logs_before and steps and 10 <= max(steps) < 35 and "result:" not in log:
                    return pid, re.search(r"task: painting run (\S+)", log).group(1)
            return None

        wait_for(a_task_half_done, driver, timeout_s=120)
        victim, name = a_task_half_done()
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: not os.path.exists(f"/proc/{victim}"), timeout_s=30)
        stdout, stderr = driver.communicate(timeout=DRIVER_TIMEOUT_S)
    finally:
        driver.kill()
    assert driver.returncode == 0, stderr
    killed_log = cluster.worker_logs()[victim]
    assert "result:" not in killed_log  # the kill landed mid-task: the worker never finished it
    assert 10 <= max(int(step) for step in re.findall(r"step\s+(\d+)/60", killed_log)) < 60
    painters = [pid for pid, log in cluster.worker_logs().items() if f"task: painting run {name}" in log]
    assert victim in painters and len(painters) == 2  # Ray ran the task again, in another worker

    # Each run is in one folder, once, as this machine paints it; its log holds every step once.
    run_here(*run, output_dir=tmp_path / "here")
    names = run_folders(tmp_path / "here")
    assert run_folders(tmp_path / "there") == names and name in names
    assert_same_results(tmp_path / "here", tmp_path / "there", names)
    rows = losses(tmp_path / "there" / name)[1:]
    assert [row.split(",")[:5] for row in rows] == [["0", "1", "0", "64", str(step)] for step in range(1, 61)]
    assert stdout.count("batch: ") == 4  # the count, two runs done, the summary: none twice


def test_an_interrupted_driver_goes_on_where_it_stopped(cluster, tmp_path):
    batch = ["--content", *PHOTOS, "--style", *PAINTINGS, "--each-style", "--size", "40", "--iterations", "20"]
    output_dir = tmp_path / "out"
    driver = start_on(cluster, *batch, output_dir=output_dir)
    try:
        finished = lambda: [name for name in run_folders(output_dir) if status(output_dir / name) == "finished"]
        wait_for(lambda: len(finished()) >= 1, driver, timeout_s=240)
        driver.send_signal(signal.SIGINT)
        stdout, stderr = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == 130 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("stopped: the tasks under way were cancelled. (")
    done_first = finished()
    assert 1 <= len(done_first) < 4, "the interruption came too late to show anything"
    assert run_folders(output_dir) == done_first  # a run whose task was cancelled left nothing
    kept = {name: os.stat(output_dir / name / f"{name}-final.png").st_mtime_ns for name in done_first}

    logs_before = set(cluster.worker_logs())
    done = run_on(cluster, *batch, output_dir=output_dir)
    assert f"{len(done_first)} finished before, {4 - len(done_first)} to paint" in done.stdout
    assert len(finished()) == 4 and len(run_folders(output_dir)) == 4
    assert {name: os.stat(output_dir / name / f"{name}-final.png").st_mtime_ns for name in done_first} == kept
    painted_again = [
        name
        for pid, log in cluster.worker_logs().items()
        if pid not in logs_before
        for name in re.findall(r"task: painting run (\S+)", log)
    ]
    assert sorted(painted_again) == sorted(set(finished()) - set(done_first))


def test_chunks_of_a_clip_on_the_cluster_equal_the_chunks_painted_here(cluster, tmp_path):
    clip = ["--content", "images/box_2s.webm", "--frames", "8", "--size", "32", "--iterations", "2"]
    clip += ["--frame-iterations", "2", "--chunk-frames", "3", "--chunk-overlap", "1"]
    run_here(*clip, output_dir=tmp_path / "here")
    done = run_on(cluster, *clip, output_dir=tmp_path / "there")
    (name,) = run_folders(tmp_path / "here")
    here, there = tmp_path / "here" / name, tmp_path / "there" / name
    frames = sorted(os.listdir(here / "frames"))
    assert len(frames) == 8 and sorted(os.listdir(there / "frames")) == frames
    for frame in frames:
        assert np.array_equal(pixels(here / "frames" / frame), pixels(there / "frames" / frame)), frame
    assert sorted(os.listdir(there / "checkpoints")) == ["chunk001.npz", "chunk002.npz", "chunk003.npz"]
    assert os.path.getsize(there / f"{name}.webm") > 0 and status(there) == "finished"
    assert "chunk 3 (frames 7-8) done" in done.stdout


def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path):
    closed = f"127.0.0.1:{free_port()}"
    for flags, env in ((["--cluster", closed], {}), (["--cluster"], {"RAY_ADDRESS": closed})):
        started = time.monotonic()
        done = run_cli("--size", "16", "--iterations", "1", "--output-dir", tmp_path, *flags, env=env, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: cannot reach the Ray cluster at {closed}")
        assert len(done.stderr.strip().splitlines()) == 1
        assert time.monotonic() - started < 60
    assert os.listdir(tmp_path) == []


def test_a_cluster_of_another_ray_version_is_one_line_and_exit_2(cluster, tmp_path):
    driver = (
        "import ray, runpy, sys; ray.__version__ = '2.59.0'; "  # as a driver with another Ray would be
        f"sys.argv = ['style_transfer.py', '--size', '16', '--output-dir', {str(tmp_path)!r}, '--cluster', "
        f"{cluster.address!r}]; runpy.run_path('style_transfer.py', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", driver], cwd=REPO, capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Version mismatch" in done.stderr and "Ray: 2.60.0" in done.stderr and "Ray: 2.59.0" in done.stderr
