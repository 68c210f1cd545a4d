"""The video mode: the temporal loss in the optimizer, a real clip through the CLI (frames, video, frame
rate), a killed run that goes on at the frame where it stopped. Bad video input: test_cli.py."""

import dataclasses
import glob
import json
import os
import re
import signal

import cv2
import numpy as np
import pytest
from conftest import REPO, run_main, start_cli, wait_for

import style_transfer
from neural_style.files import videos
from neural_style.model.losses import style_targets
from neural_style.model.tf_setup import tf
from neural_style.runs.identity import run_identity
from neural_style.work import flow, frames, passes
from neural_style.work.observer import Observer
from utils import RGB_TO_YIQ, load_image, start_image

CLIP = REPO / "images" / "box_2s.webm"  # 192x144, 29.97 frames per second, 60 frames
SMALL = ["--content", CLIP, "--size", "64", "--iterations", "4", "--frame-iterations", "2", "--print-every", "1"]


def run_folder(output_dir):
    (folder,) = glob.glob(str(output_dir / "*"))
    return folder


def frame_pngs(folder):
    return sorted(glob.glob(os.path.join(folder, "frames", "*.png")))


def two_frames_and_settings(size_px=64):
    flags = ["--content", str(CLIP), "--size", str(size_px), "--iterations", "30", "--precision", "float32"]
    settings = style_transfer.parse_args(flags)
    with videos.open_video(CLIP, first_frame=20, frame_count=2, every=3) as clip:  # the box moves between them
        frames = list(clip)
    return settings, frames


def test_the_temporal_loss_is_added_to_the_total_only(vgg_weights):
    settings, (frame, _) = two_frames_and_settings()
    network = passes.build_network(settings, vgg_weights)
    content, styles, _ = passes.prepare_images(settings, frame, [load_image(settings.style_images[0])], 64)
    targets = style_targets(network, styles, settings.style_blend, settings.style_layers)
    rng = np.random.default_rng(0)
    image, warped = (rng.uniform(0, 255, content.shape).astype(np.float32) for _ in range(2))
    reliability = (rng.uniform(size=content.shape[:2]) > 0.5).astype(np.float32)
    loss = passes.build_optimizer(settings, network, content, targets, image).loss
    with_temporal = frames.TemporalTerm([warped], [reliability], temporal_weight=1e3)(loss)
    plain = [float(x) for x in loss(tf.constant(image[None]))]
    extended = [float(x) for x in with_temporal(tf.constant(image[None]))]
    temporal = np.sum(reliability[..., None] * (image.astype(np.float64) - warped) ** 2) / image.size
    assert extended[:3] == plain[:3]
    assert extended[3] == pytest.approx(plain[3] + 1e3 * temporal, rel=1e-5)


def test_the_temporal_loss_in_the_optimizer_lowers_the_temporal_error(vgg_weights):
    """The same frame optimized from the same start, with and without the temporal term at its default
    weight: the term brings it closer to the previous picture warped, by the numpy measure of flicker."""
    settings, (previous_frame, frame) = two_frames_and_settings()
    network = passes.build_network(settings, vgg_weights)
    styles = [load_image(settings.style_images[0])]
    previous_frame, frame = (cv2.resize(f, (64, 48), interpolation=cv2.INTER_AREA) for f in (previous_frame, frame))
    previous_picture = passes.stylize(settings, previous_frame, styles, network, 64)
    backward = flow.flow(frame, previous_frame)
    reliability = flow.reliability(flow.flow(previous_frame, frame), backward)
    assert 0.5 < reliability.mean() < 1  # the box moved: some pixels are not reliable
    warped = flow.warp(previous_picture, backward)
    content, frame_styles, _ = passes.prepare_images(settings, frame, styles, 64)
    targets = style_targets(network, frame_styles, settings.style_blend, settings.style_layers)
    start = start_image(settings.init, content, frame_styles[0], settings.noise_ratio, settings.seed)
    errors = {}
    for weight in (0, settings.temporal_weight):
        extend = frames.TemporalTerm([warped], [reliability], weight)
        optimizer = passes.build_optimizer(settings, network, content, targets, start, extend_loss=extend)
        optimizer.run(settings.frame_iterations, lambda progress: None)
        errors[weight] = flow.temporal_error(optimizer.result(), previous_picture, backward, reliability)
    assert errors[settings.temporal_weight] < errors[0] / 3, errors


class FramesAndOptimizers(Observer):
    def __init__(self):
        self.pictures, self.optimizers = {}, {}

    def step(self, job, progress, optimizer):
        self.optimizers[job.frame] = optimizer

    def frame_finished(self, frame, frames, picture):
        self.pictures[frame] = picture


def test_later_frames_share_one_compiled_loss_and_paint_what_new_optimizers_would(vgg_weights, monkeypatch):
    """A video's later frames reuse the first later frame's optimizer, traced once, aimed at each new
    frame; their pictures are bit for bit those of an optimizer built anew for each frame."""
    settings, _ = two_frames_and_settings(48)
    settings = dataclasses.replace(settings, frame_iterations=3, iterations=(2, 4))
    network = passes.build_network(settings, vgg_weights)
    styles = [load_image(settings.style_images[0])]

    def painted():
        observer = FramesAndOptimizers()
        with videos.open_video(CLIP, first_frame=20, frame_count=4, every=3) as clip:
            frames.stylize_video(settings, clip, 4, styles, network, observer)
        return observer

    reused = painted()
    later = [reused.optimizers[frame] for frame in (2, 3, 4)]
    assert later[0] is later[1] is later[2] and later[0] is not reused.optimizers[1]
    assert later[0].lbfgs.try_step.experimental_get_tracing_count() == 1
    monkeypatch.setattr(passes.Work, "optimizer", lambda work, content, targets, start, regions: passes.build_optimizer(
        work.settings, work.network, content, targets, start, regions, work.extend_loss
    ))  # fmt: skip
    anew = painted()
    assert len({id(anew.optimizers[frame]) for frame in (2, 3, 4)}) == 3
    for frame in (1, 2, 3, 4):
        np.testing.assert_array_equal(reused.pictures[frame], anew.pictures[frame])


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("clip")
    done = run_main(*SMALL, "--frames", "4", "--every", "2", "--output-dir", output_dir)
    assert done.returncode == 0, done.stderr
    return output_dir, done


def test_a_clip_through_the_cli_gives_frames_a_video_and_a_sheet(clip_run):
    output_dir, done = clip_run
    folder = run_folder(output_dir)
    pngs = frame_pngs(folder)
    assert [os.path.basename(path) for path in pngs] == [f"{frame:05d}.png" for frame in range(1, 5)]
    pictures = [load_image(path) for path in pngs]
    assert all(picture.shape == (48, 64, 3) for picture in pictures)
    assert all(picture.std() > 10 for picture in pictures)  # painted, not blank
    (webm,) = glob.glob(os.path.join(folder, "*.webm"))
    with videos.open_video(webm) as clip:
        assert clip.fps == pytest.approx(29.97 / 2, abs=0.01) and clip.size == (64, 48)
        decoded = list(clip)
    assert len(decoded) == 4
    for picture, frame in zip(pictures, decoded):
        assert np.abs(picture - frame).mean() < 15  # VP9 is lossy, most on small painted frames
    (sheet_path,) = glob.glob(os.path.join(folder, "*-sheet.png"))
    sheet = load_image(sheet_path)  # the first frame, the painting, frames 1, 2 and 4, 8 px apart, 48 px high
    assert sheet.shape[0] == 48
    np.testing.assert_allclose(sheet[:, -64:], pictures[3], atol=1)
    np.testing.assert_allclose(sheet[:, -136:-72], pictures[1], atol=1)
    with videos.open_video(CLIP, frame_count=1) as clip:
        first_frame = cv2.resize(next(clip), (64, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(sheet[:, :64] - first_frame).mean() < 2
    assert not glob.glob(os.path.join(folder, "checkpoints", "*", "*"))  # a written frame needs no checkpoint
    assert [f"frame {frame}/4 done" in done.stdout for frame in range(1, 5)] == [True] * 4
    assert f"result: {webm}" in done.stdout
    with open(os.path.join(folder, "settings.json")) as f:
        assert json.load(f)["status"] == "finished"


def test_more_frames_go_on_from_fewer(clip_run):
    output_dir, _ = clip_run
    more = run_main(*SMALL, "--frames", "5", "--every", "2", "--output-dir", output_dir)
    assert more.returncode == 0, more.stderr
    assert "resuming at frame 5: frames 1 to 4 are done" in more.stdout
    assert not [line for line in more.stdout.splitlines() if line.startswith(("frame 1/", "frame 4/"))]
    assert len(frame_pngs(run_folder(output_dir))) == 5
    assert videos.count_frames(glob.glob(os.path.join(run_folder(output_dir), "*.webm"))[0]) == 5


KILLED = [*SMALL, "--frames", "7", "--frame-iterations", "6", "--optimizer", "adam", "--save-every", "2"]


def later_frame_checkpoints(output_dir):
    return glob.glob(str(output_dir / "*" / "checkpoints" / "frame*" / "*" / "state.npz"))


def test_a_killed_clip_goes_on_at_the_frame_where_it_stopped(tmp_path):
    """Killed once a later frame has saved a checkpoint: the resumed run goes on from that step."""

    def next_frame_saved():
        """A checkpoint of the frame after those written (a finished frame's may still be there a moment)."""
        finished = len(glob.glob(str(tmp_path / "killed" / "*" / "frames" / "*.png")))
        return finished >= 2 and [
            s for s in later_frame_checkpoints(tmp_path / "killed") if f"frame{finished + 1:05d}" in s
        ]

    process = start_cli(*KILLED, "--output-dir", tmp_path / "killed")
    wait_for(next_frame_saved, process)
    process.kill()
    process.communicate()
    folder = run_folder(tmp_path / "killed")
    finished = len(frame_pngs(folder))
    assert 2 <= finished < 7 and not glob.glob(os.path.join(folder, "*.webm"))  # killed mid-clip
    (state,) = next_frame_saved()
    step = int(np.load(state)["step"])

    resumed = run_main(*KILLED, "--output-dir", tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at frame {finished + 1}: frames 1 to {finished} are done" in resumed.stdout
    assert f"resuming frame {finished + 1}/7 64x48 from step {step}" in resumed.stdout
    painted = {int(line.split()[1].split("/")[0]) for line in resumed.stdout.splitlines() if line.startswith("frame ")}
    assert painted == set(range(finished + 1, 8))  # no finished frame done again
    assert videos.count_frames(glob.glob(os.path.join(folder, "*.webm"))[0]) == 7

    # Adam resumes exactly and frames are 8-bit as written: the same frames as a run never killed
    straight = run_main(*KILLED, "--output-dir", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    for killed_png, straight_png in zip(frame_pngs(folder), frame_pngs(run_folder(tmp_path / "straight")), strict=True):
        np.testing.assert_array_equal(cv2.imread(killed_png), cv2.imread(straight_png))


def test_the_run_identity_of_an_image_sequence_is_its_frames(tmp_path):
    for number in (1, 2):
        cv2.imwrite(str(tmp_path / f"{number:04d}.png"), np.full((24, 32, 3), 40 * number, np.uint8))
    (tmp_path / "notes.txt").write_text("not a frame\n")

    def identity(*flags):
        settings = style_transfer.parse_args(["--content", str(tmp_path / "%04d.png"), *flags])
        return run_identity(settings, "weights")

    name, first = identity()
    assert name.startswith(f"{tmp_path.name[:24]}-starry_night-")
    (tmp_path / "notes.txt").write_text("still not a frame\n")
    assert identity() == (name, first)
    assert identity("--frames", "1")[0] == name  # more or fewer frames: the same run
    assert identity("--frame-iterations", "5")[0] != name  # other iterations: another
    assert identity("--passes", "2")[0] != name and "video_passes" not in first  # one sweep: named as before
    cv2.imwrite(str(tmp_path / "0002.png"), np.full((24, 32, 3), 41, np.uint8))
    assert identity()[0] != name


def test_progress_says_the_frame_and_the_time_left_for_the_clip(clip_run):
    _, done = clip_run
    assert "frame 2/4 64x48  step     2/2" in done.stdout
    assert "frame 1/4 pass 2/2 64x48  step     4/4" in done.stdout
    assert "frame 2/4 done in" in done.stdout and "; 2 more, about" in done.stdout


def test_signal_mid_clip_stops_after_the_step_and_names_what_is_kept(tmp_path):
    process = start_cli(*KILLED, "--output-dir", tmp_path)
    wait_for(lambda: glob.glob(str(tmp_path / "*" / "frames" / "00002.png")), process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    (kept,) = re.findall(r"frames 1 to (\d+) \(", stderr)
    pngs = frame_pngs(run_folder(tmp_path))
    assert [os.path.basename(path) for path in pngs] == [f"{frame:05d}.png" for frame in range(1, int(kept) + 1)]
    assert "Run the same command again to resume" in stderr


def test_with_luminance_every_frame_keeps_its_own_colours(tmp_path):
    done = run_main(
        *SMALL, "--frames", "3", "--every", "10", "--preserve-colors", "luminance", "--output-dir", tmp_path
    )
    assert done.returncode == 0, done.stderr
    with videos.open_video(CLIP, frame_count=3, every=10) as clip:
        frames = [cv2.resize(frame, (64, 48), interpolation=cv2.INTER_AREA) for frame in clip]
    for frame, png in zip(frames, frame_pngs(run_folder(tmp_path)), strict=True):
        chroma = [image @ RGB_TO_YIQ[1:].T for image in (frame, load_image(png))]
        assert np.abs(chroma[0] - chroma[1]).mean() < 2  # grey levels; the painting's colours are not the photo's
