"""`--passes N` (neural_style/work/sweeps.py): a later sweep goes back over the clip and pulls each frame
towards its neighbour, judged by the benchmark's independent referee (Farneback flow); a run stopped in
a later sweep goes on to the pictures of a run never stopped; the CLI paints a clip in two sweeps."""

import glob
import os

import numpy as np
import pytest
from conftest import REPO, run_main

import style_transfer
from benchmarks import clips, referee
from neural_style.files import videos
from neural_style.work import passes, sweeps
from neural_style.work.observer import Observer
from utils import load_image


class Kept(Observer):
    """A run folder in memory: every job's finished state and every finished frame; stops (raises
    Stopped) when the job `stop_at` (frame, pass) starts. `ran`: the (frame, pass) of the jobs that stepped."""

    class Stopped(Exception):
        pass

    def __init__(self, stop_at=None):
        self.states, self.frames, self.stop_at, self.ran = {}, {}, stop_at, []

    def key(self, job):
        return job.frame, job.pass_index, job.tile

    def saved_state(self, job):
        return self.states.get(self.key(job))

    def job_started(self, job, step, to_output):
        if (job.frame, job.pass_index) == self.stop_at:
            raise Kept.Stopped

    def step(self, job, progress, optimizer):
        if (job.frame, job.pass_index) not in self.ran:
            self.ran.append((job.frame, job.pass_index))

    def job_finished(self, job, state):
        self.states[self.key(job)] = state

    def saved_frame(self, frame):
        return self.frames.get(frame)

    def frame_finished(self, frame, frames, picture):
        self.frames[frame] = picture


def settings_of(*flags):
    return style_transfer.parse_args(["--content", "clip.mp4", "--precision", "float32", *flags])


SMALL = ("--size", "48", "--iterations", "8", "--frame-iterations", "6", "--scales", "1")


@pytest.fixture(scope="module")
def network_and_styles(vgg_weights):
    settings = settings_of()
    return passes.build_network(settings, vgg_weights), [load_image(settings.style_images[0])]


@pytest.fixture(scope="module")
def clip():
    return [frame.astype(np.float32) for frame in clips.moving_object(4, 48, 36, step_px=2)]


@pytest.fixture(scope="module")
def one_and_two_sweeps(network_and_styles, clip):
    network, styles = network_and_styles
    painted = {}
    for sweep_count in (1, 2):
        kept = Kept()
        settings = settings_of(*SMALL, "--passes", str(sweep_count))
        sweeps.stylize_clip(settings, iter(clip), 4, styles, network, kept)
        painted[sweep_count] = kept
    return painted


def test_the_backward_sweep_pulls_the_first_frame_towards_its_neighbour(one_and_two_sweeps, clip):
    two = one_and_two_sweeps[2]
    pictures = {passes: [kept.frames[frame] for frame in range(1, 5)] for passes, kept in one_and_two_sweeps.items()}
    first_step = {passes: referee.flicker(clip[:2], p[:2])[0][0] for passes, p in pictures.items()}
    assert first_step[2] < 0.8 * first_step[1], first_step  # frame 1 came towards frame 2
    flicker = {passes: np.mean([f for f, _ in referee.flicker(clip, p)]) for passes, p in pictures.items()}
    assert flicker[2] <= flicker[1], flicker
    np.testing.assert_array_equal(pictures[1][3], pictures[2][3])  # the backward sweep's first frame is kept
    assert {frame for frame, index in two.ran if index == 2} == {1, 2, 3}  # the frames it went back over


def test_a_run_stopped_in_the_backward_sweep_goes_on_to_the_same_pictures(network_and_styles, clip, one_and_two_sweeps):
    network, styles = network_and_styles
    settings = settings_of(*SMALL, "--passes", "2")
    stopped = Kept(stop_at=(2, 2))  # frame 2 of the backward sweep: frames 3 (and 4, kept) are done in it
    with pytest.raises(Kept.Stopped):
        sweeps.stylize_clip(settings, iter(clip), 4, styles, network, stopped)
    assert not stopped.frames  # frames are written after the last sweep only
    resumed = Kept()
    resumed.states = stopped.states
    sweeps.stylize_clip(settings, iter(clip), 4, styles, network, resumed)
    assert resumed.ran == [(2, 2), (1, 2)]  # only what the stopped run had not finished
    for frame in range(1, 5):
        np.testing.assert_array_equal(resumed.frames[frame], one_and_two_sweeps[2].frames[frame])


def test_a_clip_through_the_cli_in_two_sweeps(tmp_path):
    clip = REPO / "images" / "box_2s.webm"
    done = run_main(
        "--content", clip, "--size", "32", "--iterations", "2", "--frame-iterations", "2", "--frames", "3",
        "--passes", "2", "--output-dir", tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "frame 2/3 pass 3/3" in done.stdout and "frame 3/3 pass 3/3" not in done.stdout
    (folder,) = glob.glob(str(tmp_path / "*"))
    assert len(glob.glob(os.path.join(folder, "frames", "*.png"))) == 3
    assert videos.count_frames(glob.glob(os.path.join(folder, "*.webm"))[0]) == 3
    assert not glob.glob(os.path.join(folder, "checkpoints", "frame*", "*"))  # dropped once the frames are written


def test_passes_need_the_whole_clip_in_one_chain(capsys):
    with pytest.raises(SystemExit):
        style_transfer.parse_args(["--content", "clip.mp4", "--passes", "2", "--chunk-frames", "8"])
    assert "--passes sweeps the whole clip back and forth" in capsys.readouterr().err
