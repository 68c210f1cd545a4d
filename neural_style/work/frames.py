"""A video painted frame by frame without flicker, after Ruder, Dosovitskiy and Brox, "Artistic style
transfer for videos" (2016): each frame is a job of the run (passes.Job.frame).

The first frame is made as a still image is, every pass of the coarse-to-fine ladder. Each later frame
is one pass at full size, of settings.frame_iterations, that starts from the previous frame's picture
warped by the optical flow, every pixel of it, as the paper initialises, and adds the temporal loss,
the reliable pixels' squared difference to that warped picture, to its loss (flow.py): reliability
weights the loss only. With settings.temporal_gaps beyond 1 (the paper's long-term loss, §3.3: 1 10 20
40), the frames that many back count too, each only where no nearer one is reliable. A frame whose
pixels are mostly unreliable is a new scene (a cut): it is made as a first frame, so that nothing of
the old scene is smeared into it. Frames stream through: only the farthest gap's are kept.
"""

import collections
import dataclasses

import numpy as np

import utils
from neural_style.model.tf_setup import tf
from neural_style.work import flow, passes
from neural_style.work.observer import Observer


@dataclasses.dataclass
class TemporalTerm:
    """What a later frame adds to its loss: temporal_weight times the temporal losses against the warped
    earlier pictures, each with its weights. Called on a loss, the loss with it (build_optimizer's
    extend_loss); frames with the same `key` share one compiled loss (passes.Work.kept)."""

    warped_earlier: list
    weights: list
    temporal_weight: float

    def __call__(self, loss):
        return WithTemporalLoss(loss, self)

    @property
    def key(self):
        return len(self.warped_earlier), self.temporal_weight


class WithTemporalLoss:
    """A frame's loss: `loss`'s (content, style, total variation, total), with a TemporalTerm added to
    the total. Its pictures are variables, so that aim() can point it at another frame."""

    def __init__(self, loss, term):
        self.loss, self.temporal_weight = loss, term.temporal_weight
        self.warped_earlier = [variable(warped[None]) for warped in term.warped_earlier]
        self.weights = [variable(weights) for weights in term.weights]

    def aim(self, content, term):
        """The loss of another frame of the same size: `content` and the TemporalTerm `term`."""
        self.loss.aim(content)
        for held, warped in zip(self.warped_earlier, term.warped_earlier):
            held.assign(warped[None])
        for held, frame_weights in zip(self.weights, term.weights):
            held.assign(frame_weights)

    def __call__(self, image):
        content, style, tv, total = self.loss(image)
        temporal = tf.add_n([flow.temporal_loss(image, *pair) for pair in zip(self.warped_earlier, self.weights)])
        return content, style, tv, total + self.temporal_weight * temporal


def variable(array):
    return tf.Variable(tf.constant(array, tf.float32), trainable=False)


def stylize_video(settings, frames, frame_count, styles, network, observer=None):
    """Paint `frames` (an iterable of float32 RGB 0..255 frames of one size, frame_count of them) in
    the style of `styles` as `settings` say, reporting each finished frame's picture to the observer;
    frames the observer has saved are not painted again. Returns how many frames were done."""
    observer = observer or Observer()
    style = None  # the first frame's
    kept = {}  # the later frames' optimizer, compiled once (passes.Work.kept)
    history = collections.deque(maxlen=max(settings.temporal_gaps))  # (frame, picture) at the working size
    done = 0
    for done, frame in enumerate(frames, start=1):
        content, frame_styles, to_output = passes.prepare_images(settings, frame, styles, settings.size_px)
        height, width = content.shape[:2]
        small_frame = utils.resize(frame, height, width)
        if style is None:  # the first frame's: the paintings' colours matched to one frame keep the style steady
            style = passes.PassStyle(settings, network, frame_styles, passes.Masks(), height, width)
        picture = observer.saved_frame(done)
        if picture is None:
            earlier = earlier_motions(history, small_frame, settings.temporal_gaps)
            if not earlier or earlier[0][1].scene_cut:
                kept.clear()  # the new scene's first frame has the memory to itself
                picture = passes.stylize(
                    settings, frame, styles, network, settings.size_px, observer, frame=done, frames=frame_count
                )
            else:
                job = passes.Job(
                    1, 1, settings.size_px, height, width, settings.frame_iterations, frame=done, frames=frame_count
                )
                work = passes.Work(settings, network, style, observer, to_output, kept=kept)
                picture = later_frame(work, job, content, to_output, earlier)
            # A frame's picture is 8-bit, as it is written, so that a resumed run warps what the
            # uninterrupted one would.
            picture = np.clip(np.rint(picture), 0, 255).astype(np.float32)
            observer.frame_finished(done, frame_count, picture)
        history.append((small_frame, picture))
    return done


def earlier_motions(history, frame, gaps):
    """[(an earlier picture, flow.Motion from its frame to `frame`)] for each of `gaps` (frames back,
    nearest first) that `history` (the earlier (frame, picture) pairs, the last nearest) reaches."""
    return [(history[-gap][1], flow.Motion.between(history[-gap][0], frame)) for gap in gaps if gap <= len(history)]


def later_frame(work, job, content, to_output, earlier, start=None):
    """The picture of a frame after the first: one job that starts from `start` (a picture), by default
    the previous picture warped by the flow, and adds the temporal loss. `earlier`: [(an earlier
    picture, flow.Motion from its frame to this one)], the previous frame's first. `content` is the
    frame as the optimizer sees it."""
    settings = work.settings
    warped = [flow.warp(picture, motion.backward) for picture, motion in earlier]
    start = warped[0] if start is None else start
    if settings.preserve_colors == "luminance":  # the optimizer works on brightness; the colours are the frame's
        warped, start = [utils.luminance(picture) for picture in warped], utils.luminance(start)
    weights = flow.long_term_weights([motion.reliability for _, motion in earlier])
    temporal = TemporalTerm(warped, weights, settings.temporal_weight)
    return to_output(dataclasses.replace(work, extend_loss=temporal).whole(job, content, start))
