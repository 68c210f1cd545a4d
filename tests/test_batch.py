"""Batches on this machine (several photos, --each-style, progress, the summary, Ctrl-C and the rerun
that skips finished runs) and a clip in chunks (cut, cross-faded, resumed by chunk). The same on a
Ray cluster: test_cluster.py."""

import dataclasses
import glob
import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REPO, wait_for

import style_transfer
from neural_style.errors import UserError
from neural_style.runs.batch import content_paths, expand, run_batch
from neural_style.runs.painting import prepare
from neural_style.settings import Settings
from neural_style.work import clip_chunks
from neural_style.work.clip_chunks import Chunk


def test_content_takes_files_folders_and_globs_each_once(tmp_path):
    for name in ("b.jpg", "a.PNG", "c.webm", "notes.txt", "d.jpeg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.jpg").mkdir()  # a folder named like a photo is not a photo
    folder = str(tmp_path)
    expected = [f"{folder}/{name}" for name in ("a.PNG", "b.jpg", "c.webm", "d.jpeg")]
    assert content_paths([folder]) == expected
    assert content_paths([f"{folder}/b.jpg", f"{folder}/*.jp*g", folder]) == [
        f"{folder}/b.jpg",
        f"{folder}/d.jpeg",
        f"{folder}/a.PNG",
        f"{folder}/c.webm",
    ]
    assert content_paths(["frames/%04d.png"]) == ["frames/%04d.png"]  # an image sequence is one video
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="has no photo"):
        content_paths([str(empty)])
    with pytest.raises(UserError, match="no file matches"):
        content_paths([f"{folder}/*.gif"])


def test_each_style_makes_every_photo_and_painting_pair_a_run():
    settings = style_transfer.parse_args(["--content", "p.jpg", "q.jpg", "--style", "a.jpg", "b.jpg"])
    blends = expand(settings)
    assert [(s.content_image, s.style_images, s.style_blend) for s in blends] == [
        ("p.jpg", ("a.jpg", "b.jpg"), (0.5, 0.5)),
        ("q.jpg", ("a.jpg", "b.jpg"), (0.5, 0.5)),
    ]
    settings = dataclasses.replace(settings, each_style=True)
    pairs = [(s.content_image, s.style_images, s.style_blend) for s in expand(settings)]
    assert pairs == [(p, (a,), (1.0,)) for p in ("p.jpg", "q.jpg") for a in ("a.jpg", "b.jpg")]
    assert all(isinstance(s, Settings) and s is not settings for s in expand(settings))
    masked = style_transfer.parse_args(["--content", "p.jpg", "q.jpg", "--content-mask", "m.png"])
    with pytest.raises(UserError, match="masks belong to one photo"):
        expand(masked)


def start(*args):
    """The program in a process of its own; prints at its end whether Ray was ever imported."""
    code = (
        f"import runpy, sys; sys.argv = ['style_transfer.py', *{[str(a) for a in args]!r}]\n"
        "try:\n    runpy.run_path('style_transfer.py', run_name='__main__')\n"
        "finally:\n    print('ray imported:', 'ray' in sys.modules)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(output_dir):
    return sorted(
        os.path.dirname(path)
        for path in glob.glob(str(output_dir / "*" / "settings.json"))
        if '"status": "finished"' in open(path).read()
    )


def test_a_batch_stopped_by_ctrl_c_goes_on_with_the_runs_not_finished(tmp_path):
    photos = ["images/cincinnati_bridge.jpg", "images/coffee.png"]
    batch = ["--content", *photos, "--style", "images/starry_night.jpg", "images/great_wave.png", "--each-style"]
    batch += ["--size", "48", "--scales", "1", "--iterations", "30", "--optimizer", "adam", "--save-every", "5"]
    batch += ["--output-dir", tmp_path]
    first = start(*batch)
    try:
        second_saved = lambda: [
            path
            for path in glob.glob(str(tmp_path / "*/checkpoints/*/state.npz"))
            if not path.startswith(tuple(finished(tmp_path)))
        ]
        wait_for(lambda: len(finished(tmp_path)) == 1 and second_saved(), first)
        first.send_signal(signal.SIGINT)
        stdout, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 130, stderr
    assert "(1 of 4 runs of the batch are finished in" in stderr and "Run the same command again" in stderr
    assert "batch: 1/4 done" in stdout and "3 to go, about" in stdout  # progress over the batch, with the time left
    assert "ray imported: False" in stdout
    (done_first,) = finished(tmp_path)
    kept = os.stat(glob.glob(f"{done_first}/*-final.png")[0]).st_mtime_ns

    again = start(*batch)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert "batch: 4 runs, 1 finished before, 3 to paint" in stdout
    assert "resuming 48x" in stdout  # the run stopped mid-way goes on from its checkpoint
    assert len(finished(tmp_path)) == 4
    assert os.stat(glob.glob(f"{done_first}/*-final.png")[0]).st_mtime_ns == kept  # not painted again
    (sheet,) = glob.glob(str(tmp_path / "batch-*" / "sheet.png"))
    assert cv2.imread(sheet).shape[:2] == (3 * 168, 3 * 168)
    with open(os.path.join(os.path.dirname(sheet), "runs.csv")) as f:
        rows = f.read().splitlines()
    assert len(rows) == 5 and all(row.split(",")[2] in finished(tmp_path) for row in rows[1:])


@pytest.mark.parametrize(
    "frames, chunk, overlap, expected",
    [
        (8, 0, 4, [(1, 8)]),
        (8, 8, 4, [(1, 8)]),
        (8, 3, 1, [(1, 4), (4, 7), (7, 8)]),
        (10, 4, 2, [(1, 6), (5, 10)]),
        (9, 4, 2, [(1, 6), (5, 9)]),  # the last chunk is never only frames the one before paints
        (20, 5, 0, [(1, 5), (6, 10), (11, 15), (16, 20)]),
    ],
)
def test_a_clip_is_cut_into_chunks_that_overlap(frames, chunk, overlap, expected):
    chunks = clip_chunks.cut(frames, chunk, overlap)
    assert [(c.first, c.last) for c in chunks] == expected
    assert [c.index for c in chunks] == list(range(1, len(chunks) + 1))


def test_overlapping_frames_cross_fade_in_equal_steps():
    chunks = [Chunk(1, 1, 6), Chunk(2, 4, 9)]  # frames 4, 5, 6 in both
    a, b = np.zeros((6, 2, 2, 3), np.uint8), np.full((6, 2, 2, 3), 200, np.uint8)
    assert clip_chunks.frame_picture(5, chunks, {1: a}) is None  # chunk 2 still missing
    assert clip_chunks.frame_picture(2, chunks, {1: a}) is not None
    pictures = [clip_chunks.frame_picture(f, chunks, {1: a, 2: b})[0, 0, 0] for f in range(1, 10)]
    assert pictures == [0, 0, 0, 50, 100, 150, 200, 200, 200]


def test_a_clip_in_chunks_stopped_goes_on_with_the_chunks_not_painted(tmp_path):
    clip = ["--content", "images/box_2s.webm", "--frames", "9", "--size", "32", "--iterations", "4"]
    clip += ["--frame-iterations", "4", "--chunk-frames", "3", "--chunk-overlap", "1", "--output-dir", tmp_path]
    first = start(*clip)
    try:
        wait_for(lambda: glob.glob(str(tmp_path / "*" / "checkpoints" / "chunk001.npz")), first)
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 130, stderr
    assert "chunks are kept in" in stderr.splitlines()[-1]
    (folder,) = glob.glob(str(tmp_path / "*"))
    saved = sorted(glob.glob(f"{folder}/checkpoints/chunk*.npz"))
    kept = {path: os.stat(path).st_mtime_ns for path in saved}
    written = sorted(os.listdir(f"{folder}/frames"))  # the frames of the chunks painted, and not the next one's
    assert written == [f"{frame:05d}.png" for frame in range(1, 3 * len(saved) + 1)]

    again = start(*clip)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert f"resuming: {len(saved)} of 3 chunks were painted before" in stdout
    assert {path: os.stat(path).st_mtime_ns for path in saved} == kept
    assert len(os.listdir(f"{folder}/frames")) == 9 and os.path.exists(f"{folder}/{os.path.basename(folder)}.webm")


def test_a_chunk_stopped_in_its_middle_goes_on_from_its_last_finished_frame(tmp_path):
    clip = ["--content", "images/box_2s.webm", "--frames", "6", "--size", "32", "--iterations", "4"]
    clip += ["--frame-iterations", "6", "--chunk-frames", "4", "--chunk-overlap", "1"]  # chunks 1-5 and 5-6
    first = start(*clip, "--output-dir", tmp_path / "stopped")
    try:
        wait_for(lambda: glob.glob(str(tmp_path / "stopped" / "*" / "checkpoints" / "chunk001" / "00002.png")), first)
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 130, stderr
    (folder,) = glob.glob(str(tmp_path / "stopped" / "*"))
    assert not os.path.exists(f"{folder}/checkpoints/chunk001.npz")  # stopped inside chunk 1
    kept = sorted(glob.glob(f"{folder}/checkpoints/chunk001/*.png"))
    assert 2 <= len(kept) < 5
    kept_pictures = [cv2.imread(path) for path in kept]

    again = start(*clip, "--output-dir", tmp_path / "stopped")
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert f"resuming chunk 1 (frames 1-5) after its frame {len(kept)}" in stdout
    assert f"chunk 1 (frames 1-5): frame {len(kept)}/5 done" not in stdout  # the kept frames are not painted again
    assert f"chunk 1 (frames 1-5): frame {len(kept) + 1}/5 done" in stdout
    straight = start(*clip, "--output-dir", tmp_path / "straight")
    straight.communicate(timeout=600)
    (straight_folder,) = glob.glob(str(tmp_path / "straight" / "*"))
    for frame in range(1, 7):  # the resumed clip is the uninterrupted one, frame for frame
        resumed = cv2.imread(f"{folder}/frames/{frame:05d}.png")
        np.testing.assert_array_equal(resumed, cv2.imread(f"{straight_folder}/frames/{frame:05d}.png"))
    for frame, picture in enumerate(kept_pictures, start=1):  # frames 1-4 are chunk 1's alone
        np.testing.assert_array_equal(cv2.imread(f"{folder}/frames/{frame:05d}.png"), picture)


def test_a_glob_that_matches_only_folders_says_so(tmp_path):
    (tmp_path / "holiday").mkdir()
    (tmp_path / "work").mkdir()
    with pytest.raises(UserError) as error:
        content_paths([f"{tmp_path}/*"])
    assert str(error.value) == f"{tmp_path}/* matches only folders (2); name the photos in them, or give a folder"


def test_a_copy_of_a_photo_under_another_name_is_painted_once(tmp_path, capsys):
    """The run folder's name has the photo's stem, so the copy alone is another folder; in one batch,
    the same content (the same identity) is one run."""
    copy = tmp_path / "coffee-copy.png"
    copy.write_bytes((REPO / "images/coffee.png").read_bytes())
    settings = style_transfer.parse_args(["--content", "images/coffee.png", str(copy), "--size", "32"])
    runs = [prepare(run_settings).identified("float32", "the weights' digest") for run_settings in expand(settings)]
    assert runs[0].name != runs[1].name and runs[0].identity == runs[1].identity
    painted = []

    def paint_runs(todo):
        for run in todo:
            painted.append(run.settings.content_image)
            folder = tmp_path / "out" / run.name
            folder.mkdir(parents=True)
            yield run, str(folder / f"{run.name}-final.png"), 1.0

    run_batch(runs, paint_runs, str(tmp_path / "out"), fresh=False)
    assert painted == ["images/coffee.png"]
    out = capsys.readouterr().out
    assert f"note: {copy} is the same photo as images/coffee.png: painted once" in out and "batch: 1 run\n" in out
