"""A clip cut into chunks that are painted independently, so that they can be painted at the same
time on a cluster (cluster.py): each chunk is a video of its own (frames.stylize_video: its first frame
as a still, each later one from the previous picture warped, with the temporal loss), and two
neighbouring chunks both paint the frames where they overlap, which are cross-faded from the one
chunk to the other so that the cut does not show.

With chunks of `chunk` frames and an overlap of `overlap`, chunk 1 paints frames 1 to chunk + overlap,
chunk 2 frames chunk + 1 to 2 chunk + overlap, and so on; a frame f that chunks c and c + 1 both
paint is (1 - w) c's picture + w (c + 1)'s, with w = (f - first frame of c + 1 + 1) / (overlap + 1):
the weight moves to the later chunk in equal steps, so a difference D between the chunks' pictures of
a frame adds at most D / (overlap + 1) to the change from one frame to the next.

Which chunks and frames are kept in the run folder, and how a stopped run goes on, is
neural_style/runs/chunked.py's.
"""

import dataclasses
import time

import numpy as np

from neural_style.errors import RunStopped, check_finite
from neural_style.files.videos import open_video
from neural_style.work.frames import stylize_video
from neural_style.work.observer import Observer


@dataclasses.dataclass(frozen=True)
class Chunk:
    index: int  # 1, 2, ...
    first: int  # its first frame, counted from 1 over the run's frames
    last: int  # its last frame

    @property
    def frame_count(self):
        return self.last - self.first + 1

    @property
    def label(self):
        return f"chunk {self.index} (frames {self.first}-{self.last})"


def cut(frame_count, chunk, overlap):
    """The chunks of a clip of frame_count frames: `chunk` frames each, plus `overlap` frames painted
    by the next chunk too; chunk 0, or one not shorter than the clip, paints it whole."""
    if not chunk or chunk >= frame_count:
        return [Chunk(1, 1, frame_count)]
    chunks, first = [], 1
    while True:
        last = min(first + chunk - 1 + overlap, frame_count)
        chunks.append(Chunk(len(chunks) + 1, first, last))
        if last == frame_count:
            return chunks
        first += chunk


def blend_weight(frame, earlier_last, later_first):
    """The weight of the later chunk's picture of a frame it shares with the chunk before it (that
    chunk's last frame and this one's first tell the overlap): see the module's description."""
    return (frame - later_first + 1) / (earlier_last - later_first + 2)


def frame_picture(frame, chunks, pictures):
    """The picture of frame `frame` from the chunks' pictures ({index: array (n, h, w, 3)}), or None
    while a chunk that paints it is missing."""
    covering = [chunk for chunk in chunks if chunk.first <= frame <= chunk.last]
    if any(chunk.index not in pictures for chunk in covering):
        return None
    own = [pictures[chunk.index][frame - chunk.first].astype(np.float32) for chunk in covering]
    if len(own) == 1:
        return own[0]
    earlier, later = covering
    weight = blend_weight(frame, earlier.last, later.first)
    return np.clip(np.rint((1 - weight) * own[0] + weight * own[1]), 0, 255)


def chunk_frames(run, chunks):
    """(chunk, its frames) for the chunks (in order), the run's video decoded once; a frame is kept
    as uint8 where it is whole numbers (what 8-bit sources give: a quarter of the bytes to send to a
    cluster's worker), as float32 otherwise."""
    with open_video(*run.frames) as clip:
        frames, kept = enumerate(clip, start=1), {}
        for chunk in chunks:
            for number, frame in frames:
                if number >= chunk.first:
                    kept[number] = frame.astype(np.uint8) if np.array_equal(frame, np.rint(frame)) else frame
                if number == chunk.last:
                    break
            yield chunk, [kept[number] for number in range(chunk.first, chunk.last + 1)]
            kept = {number: frame for number, frame in kept.items() if number > chunk.last - run.settings.chunk_overlap}


class ChunkObserver(Observer):
    """Collects a chunk's pictures and steps (frames numbered as in the whole clip). The frames an
    earlier process finished (`saved`, uint8) are taken as they are; each new one goes to on_frame."""

    def __init__(self, chunk, stop=None, saved=(), on_frame=None):
        self.chunk, self.stop, self.saved, self.on_frame = chunk, stop, list(saved), on_frame
        self.steps, self.pictures = [], []

    def step(self, job, progress, optimizer):
        self.steps.append((self.chunk.first + job.frame - 1, job, progress))
        if self.stop is not None and self.stop.signal:
            raise RunStopped(f"stopped in {self.chunk.label}", 128 + self.stop.signal.value)

    def saved_frame(self, frame):
        if frame > len(self.saved):
            return None
        self.pictures.append(self.saved[frame - 1])
        return self.saved[frame - 1].astype(np.float32)

    def frame_finished(self, frame, frames, picture):
        check_finite(picture)  # never a NaN picture passed on as black
        self.pictures.append(picture.astype(np.uint8))
        if self.on_frame:
            self.on_frame(self.chunk, frame, self.pictures[-1])


@dataclasses.dataclass
class ChunkResult:
    pictures: np.ndarray  # uint8 (frames, height, width, 3)
    steps: list  # (frame in the clip, job, optimizers.Progress) of every step: the loss log's
    seconds: float  # how long the painting took where it ran


def paint_chunk(settings, chunk, frames, styles, network, stop=None, saved=(), on_frame=None):
    """Paint one chunk's frames (a list of RGB arrays) as a video of its own, going on after the
    frames `saved` (see ChunkObserver): a ChunkResult."""
    started = time.perf_counter()
    observer = ChunkObserver(chunk, stop, saved, on_frame)
    float_frames = (np.asarray(frame, np.float32) for frame in frames)
    stylize_video(settings, float_frames, chunk.frame_count, styles, network, observer)
    return ChunkResult(np.stack(observer.pictures), observer.steps, time.perf_counter() - started)
