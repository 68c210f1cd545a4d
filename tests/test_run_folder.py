"""The run folder: which runs share one, the lock that keeps two processes out of it, what a resumed or
extended run does with it, and the names and files in it."""

import csv
import glob
import json
import shutil
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, printed_steps, run_main, start_cli, wait_for

import style_transfer
from neural_style.model import memory

QUICK = ["--size", "32", "--scales", "1", "--iterations", "2", "--optimizer", "adam"]


def run_folders(output_dir):
    return sorted(path for path in Path(output_dir).iterdir() if path.is_dir())


def record(folder):
    return json.loads((Path(folder) / "settings.json").read_text())


def test_a_second_process_on_the_same_run_is_refused_until_the_first_ends(tmp_path):
    flags = [
        "--size",
        "48",
        "--scales",
        "1",
        "--iterations",
        "400",
        "--optimizer",
        "adam",
        "--save-every",
        "2",
        "--output-dir",
        tmp_path,
    ]
    first = start_cli(*flags)
    try:
        wait_for(lambda: glob.glob(str(tmp_path / "*" / "checkpoints" / "*" / "state.npz")), first)
        second = run_main(*flags)
        assert first.poll() is None, "the first run must still be going for this test to mean anything"
        assert second.returncode == 2, second.stderr
        (line,) = second.stderr.strip().splitlines()
        assert f"in use by process {first.pid}" in line and "--fresh" in line
    finally:
        first.kill()  # a killed process's lock goes with it
        first.communicate()
    after = run_main(*flags[:5], "4", *flags[6:])  # fewer iterations than were saved: done at once
    assert after.returncode == 0 and "48x35: done" in after.stdout, after.stderr
    assert len(run_folders(tmp_path)) == 1


def test_the_same_photo_named_three_ways_is_one_run(tmp_path):
    spellings = ["images/coffee.png", "./images/coffee.png", str(REPO / "images" / "coffee.png")]
    for spelling in spellings:
        assert run_main(*QUICK, "--content", spelling, "--output-dir", tmp_path).returncode == 0
    assert len(run_folders(tmp_path)) == 1


def test_other_weights_are_another_run(tmp_path, vgg_weights):
    from neural_style.files.weights import Weights

    for name, mean in (("a.npz", (120.0, 110.0, 100.0)), ("b.npz", (90.0, 90.0, 90.0))):
        Weights(vgg_weights.kernels, vgg_weights.biases, mean, name).save(str(tmp_path / name))
    first = run_main(*QUICK, "--weights", tmp_path / "a.npz", "--output-dir", tmp_path / "out")
    other = run_main(*QUICK, "--weights", tmp_path / "b.npz", "--output-dir", tmp_path / "out")
    assert first.returncode == 0 and other.returncode == 0, other.stderr
    assert "resuming" not in other.stdout and len(run_folders(tmp_path / "out")) == 2


def test_a_link_at_the_run_folders_name_is_refused(tmp_path):
    assert run_main(*QUICK, "--output-dir", tmp_path).returncode == 0
    (folder,) = run_folders(tmp_path)
    elsewhere = tmp_path.parent / (tmp_path.name + "-elsewhere")
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere, target_is_directory=True)
    done = run_main(*QUICK, "--output-dir", tmp_path)
    assert done.returncode == 2 and "is a link" in done.stderr and "Traceback" not in done.stderr
    shutil.rmtree(elsewhere)


def test_files_a_killed_run_was_writing_are_removed_on_resume(tmp_path):
    assert run_main(*QUICK, "--output-dir", tmp_path).returncode == 0
    (folder,) = run_folders(tmp_path)
    orphans = [folder / "losses.csv.partial", folder / "checkpoints" / "pass1-32px" / "state.npz.partial"]
    for orphan in orphans:
        orphan.write_bytes(b"half a file")
    assert run_main(*QUICK, "--output-dir", tmp_path).returncode == 0
    assert not any(orphan.exists() for orphan in orphans)


def test_long_names_stay_within_the_file_systems_limit(tmp_path):
    styles = []
    for index in range(9):
        path = tmp_path / f"{'a very long name of a painting in a museum ' * 2}{index}.jpg"
        shutil.copy(REPO / "images" / "starry_night.jpg", path)
        styles.append(path)
    done = run_main(
        "--size", "16", "--scales", "1", "--iterations", "1", "--style", *styles, "--output-dir", tmp_path / "out"
    )
    assert done.returncode == 0, done.stderr
    for path in (tmp_path / "out").rglob("*"):
        assert len(path.name) <= 255


def test_a_larger_iterations_extends_the_last_pass_only(tmp_path):
    flags = [
        "--size",
        "48",
        "--iterations",
        "20",
        "--save-every",
        "5",
        "--print-every",
        "1",
        "--optimizer",
        "adam",
        "--output-dir",
        tmp_path,
    ]
    assert run_main(*flags).returncode == 0
    (folder,) = run_folders(tmp_path)
    first_final = cv2.imread(glob.glob(str(folder / "*-final.png"))[0])
    extended = run_main(*flags[:3], "40", *flags[4:])
    assert extended.returncode == 0, extended.stderr
    assert "pass 1/2 24x18: done" in extended.stdout and "resuming pass 2/2 48x35 from step 20" in extended.stdout
    assert [step for step, _ in printed_steps(extended.stdout)] == list(range(21, 41))  # the fine pass only
    assert record(folder)["iterations"] == [10, 40]
    with open(folder / "losses.csv") as f:
        rows = [(row["pass"], int(row["step"])) for row in csv.DictReader(f)]
    assert rows == [("1", step) for step in range(1, 11)] + [("2", step) for step in range(1, 41)]
    assert not np.array_equal(cv2.imread(glob.glob(str(folder / "*-final.png"))[0]), first_final)


def test_an_extended_tiled_pass_refines_every_tile_again(tmp_path):
    flags = ["--size", "96", "--scales", "1", "--iterations", "2", "--tile-px", "64", "--output-dir", tmp_path]
    assert run_main(*flags).returncode == 0
    extended = run_main(*flags[:5], "4", *flags[6:])
    assert extended.returncode == 0, extended.stderr
    for tile in range(1, 5):
        assert f"resuming 96x70 tile {tile}/4 from step 2" in extended.stdout
    assert [step for step, _ in printed_steps(extended.stdout)] == [4] * 4


def test_a_resumed_run_keeps_the_tiles_it_was_cut_into(tmp_path, monkeypatch, capsys):
    """--tile-px 0 picks tiles by the machine's memory: a run resumed on a machine with more memory
    must go on with the tiles its saved states belong to."""
    flags = [
        "--size",
        "300",
        "--scales",
        "1",
        "--iterations",
        "1",
        "--optimizer",
        "adam",
        "--output-dir",
        str(tmp_path),
    ]
    monkeypatch.setattr(memory, "total_memory_bytes", lambda: int(2.2 * 2**30))
    assert style_transfer.main(flags) == 0
    first = capsys.readouterr().out
    tiles = first.count("step     1/1")
    assert tiles > 1, first
    monkeypatch.setattr(memory, "total_memory_bytes", lambda: 64 * 2**30)
    assert style_transfer.main(flags[:5] + ["2"] + flags[6:]) == 0
    resumed = capsys.readouterr().out
    assert "resuming with the run's own tiles" in resumed and resumed.count("step     2/2") == tiles, resumed


def test_a_run_that_ends_in_an_error_is_recorded_as_failed_not_running(tmp_path, monkeypatch):
    from neural_style.runs import painting

    def fails(*_, **__):
        raise RuntimeError("a bug in the middle of the work")

    monkeypatch.setattr(painting, "stylize", fails)
    with pytest.raises(RuntimeError):
        style_transfer.main([*QUICK, "--output-dir", str(tmp_path)])
    (folder,) = run_folders(tmp_path)
    assert record(folder)["status"] == "failed"
    assert record(folder)["error"] == "RuntimeError: a bug in the middle of the work"


def test_the_loss_log_is_on_disk_for_every_step_a_checkpoint_holds(tmp_path):
    flags = [
        "--size",
        "96",
        "--scales",
        "1",
        "--iterations",
        "4",
        "--tile-px",
        "64",
        "--save-every",
        "1",
        "--optimizer",
        "adam",
        "--output-dir",
        tmp_path,
    ]
    process = start_cli(*flags)
    wait_for(lambda: glob.glob(str(tmp_path / "*" / "checkpoints" / "*" / "tile003" / "state.npz")), process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    (folder,) = run_folders(tmp_path)
    with open(folder / "losses.csv") as f:
        logged = {(int(row["tile"]), int(row["step"])) for row in csv.DictReader(f)}
    for path in folder.glob("checkpoints/*/tile*/state.npz"):
        tile = int(path.parent.name[4:])
        with np.load(path) as saved:
            assert {(tile, step) for step in range(1, int(saved["step"]) + 1)} <= logged, (path, logged)


def test_a_read_only_checkpoint_folder_says_so(tmp_path, mount_tmpfs):
    flags = ["--size", "32", "--scales", "1", "--optimizer", "adam", "--save-every", "1", "--output-dir", tmp_path]
    assert run_main(*flags, "--iterations", "2").returncode == 0
    (folder,) = run_folders(tmp_path)
    mount_tmpfs(folder / "checkpoints", "ro,size=64k")
    done = run_main(*flags, "--iterations", "4")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "Read-only file system" in line and "make it writable" in line and "free some space" not in line
