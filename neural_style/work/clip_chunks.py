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

In the run folder, each chunk's pictures are kept in checkpoints/chunk<NNN>.npz as soon as it is
painted, and a frame is written (frames/00001.png, ...) as soon as every chunk that paints it is:
a stopped or killed run goes on with the chunks not yet painted.
"""

import dataclasses
import time

import numpy as np

from neural_style.errors import RunStopped
from neural_style.files.videos import open_video
from neural_style.runs.recorder import check_finite, loss_row, minutes_left
from neural_style.work.frames import stylize_video
from neural_style.work.observer import Observer
from utils import encode_png


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
    """Collects a chunk's pictures and loss rows (frames numbered as in the whole clip); saves nothing
    on the way: a chunk is the unit that is kept, and painted again when it was not finished."""

    def __init__(self, chunk, stop=None):
        self.chunk, self.stop, self.rows, self.pictures = chunk, stop, [], []

    def step(self, job, progress, optimizer):
        self.rows.append(loss_row(job, progress, frame=self.chunk.first + job.frame - 1))
        if self.stop is not None and self.stop.signal:
            raise RunStopped(f"stopped in {self.chunk.label}", 128 + self.stop.signal.value)

    def frame_finished(self, frame, frames, picture):
        check_finite(picture, None)  # never a NaN picture passed on as black
        self.pictures.append(picture.astype(np.uint8))


@dataclasses.dataclass
class ChunkResult:
    pictures: np.ndarray  # uint8 (frames, height, width, 3)
    rows: list  # the loss log's rows
    seconds: float  # how long the painting took where it ran


def paint_chunk(settings, chunk, frames, styles, network, stop=None):
    """Paint one chunk's frames (a list of RGB arrays) as a video of its own: a ChunkResult."""
    started = time.perf_counter()
    observer = ChunkObserver(chunk, stop)
    float_frames = (np.asarray(frame, np.float32) for frame in frames)
    stylize_video(settings, float_frames, chunk.frame_count, styles, network, observer)
    return ChunkResult(np.stack(observer.pictures), observer.rows, time.perf_counter() - started)


def paint_chunks_here(network, stop):
    """What paint_in_chunks paints with on this machine: the chunks one after another."""

    def paint(settings, styles, tasks):
        for chunk, frames in tasks:
            yield chunk, paint_chunk(settings, chunk, frames, styles, network, stop)

    return paint


def paint_in_chunks(run, styles, recorder, paint_chunks):
    """Paint the run's clip in chunks, those an earlier process kept taken as they are, and write
    every frame (blended where two chunks overlap) into the run folder. paint_chunks(settings,
    styles, [(chunk, frames)]) yields (chunk, ChunkResult) as chunks are done, in any order."""
    s, folder = run.settings, recorder.folder
    chunks = cut(run.frame_count, s.chunk_frames, s.chunk_overlap)
    pictures = {}
    for chunk in chunks:
        saved = folder.load_chunk(chunk)
        if saved is not None:
            pictures[chunk.index] = saved
    if pictures:
        print(f"resuming: {len(pictures)} of {len(chunks)} chunks were painted before")
    written = set()
    todo = [chunk for chunk in chunks if chunk.index not in pictures]
    started, done = time.perf_counter(), 0
    tasks = chunk_frames(run, todo)  # decoded as they are handed out
    try:
        for chunk, result in paint_chunks(s, styles, tasks):
            folder.save_chunk(chunk, result.pictures)
            recorder.chunk_finished(result.rows)
            pictures[chunk.index], done = result.pictures, done + 1
            left_min = minutes_left(time.perf_counter() - started, done, len(todo))
            print(f"{chunk.label} done ({done}/{len(todo)}; {result.seconds:.0f} s; about {left_min:.1f} min left)")
            write_frames(folder, chunks, pictures, written)
    except RunStopped as stopped:
        recorder.write_record(status="stopped")
        raise RunStopped(
            f"stopped: {len(pictures)} of {len(chunks)} chunks are kept in {folder.path}. "
            "Run the same command again to go on.",
            stopped.status,
        ) from None
    write_frames(folder, chunks, pictures, written)


def write_frames(folder, chunks, pictures, written):
    """Write every frame whose chunks are all painted and that is not written yet."""
    for frame in range(1, chunks[-1].last + 1):
        if frame not in written and (picture := frame_picture(frame, chunks, pictures)) is not None:
            folder.save_frame(frame, encode_png(picture))
            written.add(frame)
