"""A video painted in several sweeps (`--passes N`), after Ruder, Dosovitskiy and Brox, "Artistic style
transfer for videos and spherical images" (2018), §3.4 (multi-pass), so that the first frame's look
does not dominate the clip: the later frames feed back into the earlier ones.

Sweep 1 is the single-pass video (frames.stylize_video), forward. Each later sweep goes the other way
(2 backward, 3 forward, ...): each frame starts from the paper's blend of its own picture from the sweep
before and its neighbour's picture (the frame before it in the sweep's direction, as this sweep left
it) warped by the flow,

    start = δ c ∘ warped neighbour + (δ + (1 - δ)(1 - c)) ∘ own picture,   δ = BLEND_DELTA,

with c the neighbour's reliability (flow.Motion): half each where the flow is trusted, the frame's own
picture where not; and the temporal loss towards that warped neighbour. A sweep's first frame, one whose
neighbour is across a scene cut, and one the run folder already holds keep their picture.

A later sweep's frame runs LATER_SWEEP_ITERATIONS_SHARE of settings.frame_iterations: it starts from a
picture that its own loss has already been minimised from, blended with a neighbour that was too, so
that it has only to settle the blend; with 2 sweeps a clip takes 1.5 times the single sweep's time.

Resuming: frames are reported finished (written) only after the last sweep; until then every job's
state stays in the run folder (the observer's saved_state), which a resumed run goes on from, skipping
finished jobs, so that it paints what the uninterrupted run would. A frame the run folder holds is a
final picture: it was written after every sweep had finished, so every job that needs it is finished.
"""

import numpy as np

import utils
from neural_style.work import flow, frames, passes
from neural_style.work.observer import Observer

BLEND_DELTA = 0.5  # the paper's δ: how much of the start a trusted neighbour gives
LATER_SWEEP_ITERATIONS_SHARE = 0.5  # of settings.frame_iterations, for each frame of a sweep after the first


class FirstSweep(Observer):
    """The observer of sweep 1: the run's own, except that finished frames are kept here (`pictures`,
    by frame) instead of being reported, so that their jobs' states stay in the run folder."""

    def __init__(self, observer):
        self.observer, self.pictures, self.saved = observer, {}, set()

    def saved_state(self, job):
        return self.observer.saved_state(job)

    def saved_canvas(self, job):
        return self.observer.saved_canvas(job)

    def saved_frame(self, frame):
        picture = self.observer.saved_frame(frame)
        if picture is not None:
            self.pictures[frame] = picture
            self.saved.add(frame)
        return picture

    def job_started(self, job, step, to_output):
        self.observer.job_started(job, step, to_output)

    def step(self, job, progress, optimizer):
        self.observer.step(job, progress, optimizer)

    def job_finished(self, job, state):
        self.observer.job_finished(job, state)

    def tile_pasted(self, job, canvas):
        self.observer.tile_pasted(job, canvas)

    def frame_finished(self, frame, frames, picture):
        self.pictures[frame] = picture


def stylize_clip(settings, clip, frame_count, styles, network, observer=None):
    """frames.stylize_video, in settings.video_passes sweeps: the same arguments and result. With more
    than one, every frame is kept in memory, and frames are reported finished after the last sweep."""
    if settings.video_passes == 1:
        return frames.stylize_video(settings, clip, frame_count, styles, network, observer)
    observer = observer or Observer()
    inputs = list(clip)
    first = FirstSweep(observer)
    frames.stylize_video(settings, iter(inputs), frame_count, styles, network, first)
    pictures = [first.pictures[frame] for frame in range(1, len(inputs) + 1)]
    for sweep in range(2, settings.video_passes + 1):
        later_sweep(settings, inputs, pictures, styles, network, observer, sweep, first.saved)
    for frame, picture in enumerate(pictures, start=1):
        if frame not in first.saved:
            observer.frame_finished(frame, frame_count, picture)
    return len(inputs)


def later_sweep(settings, inputs, pictures, styles, network, observer, sweep, saved):
    """Sweep `sweep` (2, 3, ...) over the frames `inputs`, backward if even, replacing `pictures` (one
    per frame, 8-bit values) as it goes; the frames numbered in `saved` are final and kept."""
    order = list(range(len(inputs)))[:: -1 if sweep % 2 == 0 else 1]
    content, first_styles, _ = passes.prepare_images(settings, inputs[0], styles, settings.size_px)
    height, width = content.shape[:2]
    style = passes.PassStyle(settings, network, first_styles, passes.Masks(), height, width)
    small = [utils.resize(frame, height, width) for frame in inputs]
    ladder = len(settings.scales)  # the first frame's passes come first in a frame's job numbers
    iterations = max(1, round(settings.frame_iterations * LATER_SWEEP_ITERATIONS_SHARE))
    kept = {}  # passes.Work.kept
    for neighbour, index in zip(order, order[1:]):
        if index + 1 in saved:
            continue
        motion = flow.Motion.between(small[neighbour], small[index])
        if motion.scene_cut:
            continue
        content, _, to_output = passes.prepare_images(settings, inputs[index], styles, settings.size_px)
        job = passes.Job(
            ladder + sweep - 1, ladder + settings.video_passes - 1, settings.size_px, height, width, iterations,
            frame=index + 1, frames=len(pictures),
        )  # fmt: skip
        work = passes.Work(settings, network, style, observer, to_output, kept=kept)
        start = blended_start(pictures[index], flow.warp(pictures[neighbour], motion.backward), motion.reliability)
        picture = frames.later_frame(work, job, content, to_output, [(pictures[neighbour], motion)], start)
        pictures[index] = np.clip(np.rint(picture), 0, 255).astype(np.float32)


def blended_start(own, warped_neighbour, reliability):
    """The paper's start image of a frame in a later sweep (see the module's docstring)."""
    trusted = reliability[..., None]
    return BLEND_DELTA * trusted * warped_neighbour + (BLEND_DELTA + (1 - BLEND_DELTA) * (1 - trusted)) * own
