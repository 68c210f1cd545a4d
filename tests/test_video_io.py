"""neural_style/files/videos.py: reading videos and image sequences frame by frame, writing WebM, and the errors for
files that are not videos. Clips are a few frames of 64x48 pixels, written by the tests."""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from neural_style.files import videos
from neural_style.files.videos import VideoError

WIDTH, HEIGHT = 64, 48
FPS = 12.5
REPO = Path(__file__).resolve().parents[1]


def synthetic_frame(index):
    """RGB float32: a grey level that tells the frame's index even after lossy coding, with a red
    square moving right and a blue band, so that channel order and geometry show too."""
    frame = np.full((HEIGHT, WIDTH, 3), 30.0 + 20 * index, np.float32)
    frame[10:26, 4 + 4 * index : 20 + 4 * index] = (230, 20, 20)
    frame[36:44] = (20, 20, 230)
    return frame


def index_of(frame):
    return round((float(np.median(frame[:8])) - 30) / 20)


@pytest.fixture
def clip(tmp_path):
    """A WebM of 8 synthetic frames at 12.5 frames per second."""
    path = tmp_path / "clip.webm"
    with videos.VideoWriter(path, FPS, (WIDTH, HEIGHT)) as writer:
        for index in range(8):
            writer.write(synthetic_frame(index))
    return path


def test_a_written_clip_reads_back(clip):
    assert os.listdir(clip.parent) == ["clip.webm"]  # the partial file was renamed
    with videos.open_video(clip) as video:
        assert video.size == (WIDTH, HEIGHT)
        assert video.fps == pytest.approx(FPS, rel=1e-3)
        frames = list(video)
    assert len(frames) == 8
    for index, frame in enumerate(frames):
        assert frame.dtype == np.float32 and frame.shape == (HEIGHT, WIDTH, 3)
        assert np.abs(frame - synthetic_frame(index)).mean() < 4  # of 255: VP9 is lossy
    assert videos.count_frames(clip) == 8


@pytest.mark.parametrize(
    "first_frame, frame_count, every, expected",
    [
        (0, None, 1, list(range(8))),
        (2, 3, 1, [2, 3, 4]),
        (1, None, 3, [1, 4, 7]),
        (3, 2, 2, [3, 5]),
        (5, 10, 1, [5, 6, 7]),  # asked for more than there are: until the decoder stops
    ],
)
def test_a_subset_of_the_frames(clip, first_frame, frame_count, every, expected):
    with videos.open_video(clip, first_frame, frame_count, every) as video:
        assert video.fps == pytest.approx(FPS / every, rel=1e-3)
        assert [index_of(frame) for frame in video] == expected
    assert videos.count_frames(clip, first_frame, frame_count, every) == len(expected)


def test_an_odd_size_loses_its_last_column_and_row(tmp_path):
    path = tmp_path / "odd.webm"
    with videos.VideoWriter(path, FPS, (WIDTH + 1, HEIGHT + 1)) as writer:
        assert writer.size == (WIDTH, HEIGHT)
        for index in range(3):
            writer.write(np.pad(synthetic_frame(index), ((0, 1), (0, 1), (0, 0))))
    assert videos.open_video(path).size == (WIDTH, HEIGHT)
    assert videos.count_frames(path) == 3


def test_the_video_keeps_a_partial_name_until_closed(tmp_path):
    path = tmp_path / "out.webm"
    writer = videos.VideoWriter(path, FPS, (WIDTH, HEIGHT))
    writer.write(synthetic_frame(0))
    assert not path.exists() and (tmp_path / "out.partial.webm").exists()
    writer.close()
    assert path.exists() and not (tmp_path / "out.partial.webm").exists()

    with pytest.raises(KeyboardInterrupt):  # a run stopped midway leaves nothing
        with videos.VideoWriter(tmp_path / "stopped.webm", FPS, (WIDTH, HEIGHT)) as writer:
            writer.write(synthetic_frame(0))
            raise KeyboardInterrupt
    assert sorted(os.listdir(tmp_path)) == ["out.webm"]


def test_the_writer_refuses_frames_of_another_size(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        with videos.VideoWriter(tmp_path / "out.webm", FPS, (WIDTH, HEIGHT)) as writer:
            writer.write(np.zeros((HEIGHT, WIDTH + 2, 3), np.float32))  # OpenCV would drop it silently
    assert not os.listdir(tmp_path)


def write_png(path, rgb_or_other):
    pixels = rgb_or_other[..., ::-1] if rgb_or_other.ndim == 3 and rgb_or_other.shape[2] == 3 else rgb_or_other
    assert cv2.imwrite(str(path), pixels)


def test_an_image_sequence(tmp_path):
    for number in range(1, 5):  # OpenCV's reader starts at the first number that exists
        write_png(tmp_path / f"{number:04d}.png", np.rint(synthetic_frame(number)).astype(np.uint8))
    write_png(tmp_path / "0005.png", np.full((HEIGHT, WIDTH), 65535, np.uint16))  # grey, 16 bits
    transparent = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    write_png(tmp_path / "0006.png", transparent)  # BGRA, all transparent: over white
    pattern = str(tmp_path / "%04d.png")
    assert videos.is_video_source(pattern)
    with videos.open_video(pattern) as video:
        assert video.size == (WIDTH, HEIGHT) and video.fps == videos.DEFAULT_FPS
        frames = list(video)
    assert len(frames) == 6
    for number, frame in enumerate(frames[:4], start=1):
        np.testing.assert_array_equal(frame, np.rint(synthetic_frame(number)))  # PNG is lossless
    assert (frames[4] == 255).all() and (frames[5] == 255).all()
    with videos.open_video(pattern, first_frame=1, frame_count=2, every=2, fps=10) as video:
        assert video.fps == 5 and [index_of(frame) for frame in video] == [2, 4]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("clip.mp4", True),
        ("CLIP.MOV", True),
        ("a/b.webm", True),
        ("x.mkv", True),
        ("x.avi", True),
        ("frames/%04d.png", True),
        ("frame_%d.jpg", True),
        ("photo.jpg", False),
        ("frames/0001.png", False),
        ("100%.png", False),
        ("video.mp4.txt", False),
    ],
)
def test_is_video_source(name, expected):
    assert videos.is_video_source(name) == expected


def assert_one_line_naming(error, path):
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message


def test_files_that_are_not_videos(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    for path, reason in [
        (text, "not a video"),
        (empty, "empty"),
        (folder, "not a file"),
        (tmp_path / "missing.mp4", "does not exist"),
    ]:
        with pytest.raises(VideoError, match=reason) as error:
            videos.open_video(path)
        assert_one_line_naming(error, path)


def test_image_sequences_that_are_not_videos(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "0000.png").write_text("not an image\n")
    for pattern, reason in [
        (tmp_path / "empty" / "%04d.png", "no file in"),
        (tmp_path / "text" / "%04d.png", "cannot read"),
        (tmp_path / "missing" / "%04d.png", "does not exist"),
    ]:
        with pytest.raises(VideoError, match=reason) as error:
            videos.open_video(pattern)
        assert_one_line_naming(error, pattern)


@pytest.mark.parametrize(
    "numbers, unreadable, expected",
    [
        ([1, 2, 3, 4], 3, "cannot read .*0003.png: it is unreadable"),  # OpenCV alone would stop at 2 frames
        ([0, 1, 3, 4], None, "cannot read .*0003.png: .*missing"),  # a gap
        ([2, 3], None, "cannot read .*0002.png .*must be 0 or 1"),
    ],
)
def test_an_image_sequence_is_read_whole_or_refused(tmp_path, numbers, unreadable, expected):
    for number in numbers:
        write_png(tmp_path / f"{number:04d}.png", np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    if unreadable:
        (tmp_path / f"{unreadable:04d}.png").write_text("not an image\n")
    (tmp_path / "12.png").write_text("not a frame: %04d does not name it\n")
    pattern = tmp_path / "%04d.png"
    assert videos.sequence_files(pattern) == [str(tmp_path / f"{number:04d}.png") for number in numbers]
    with pytest.raises(VideoError, match=expected) as error:
        videos.count_frames(pattern)
    assert_one_line_naming(error, pattern)


def test_frames_that_change_size(tmp_path):
    write_png(tmp_path / "0000.png", np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    write_png(tmp_path / "0001.png", np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    write_png(tmp_path / "0002.png", np.zeros((HEIGHT + 2, WIDTH, 3), np.uint8))
    pattern = tmp_path / "%04d.png"
    video = videos.open_video(pattern)
    assert next(video).shape == (HEIGHT, WIDTH, 3) and next(video).shape == (HEIGHT, WIDTH, 3)
    with pytest.raises(VideoError, match="frame 2 is 64x50") as error:
        next(video)
    assert_one_line_naming(error, pattern)


def test_no_frame_from_the_first_asked_on(clip):
    with pytest.raises(VideoError, match="from frame 8 on") as error:
        videos.open_video(clip, first_frame=8)
    assert_one_line_naming(error, clip)


def test_videos_that_cannot_be_written(tmp_path):
    for path, reason in [(tmp_path / "out.mp4", "only WebM"), (tmp_path / "missing" / "out.webm", "cannot be created")]:
        with pytest.raises(VideoError, match=reason) as error:
            videos.VideoWriter(path, FPS, (WIDTH, HEIGHT))
        assert "\n" not in str(error.value) and str(path.parent) in str(error.value)


def test_the_bundled_clip():
    with videos.open_video(REPO / "images" / "box_2s.webm") as video:
        assert video.size == (192, 144) and video.fps == pytest.approx(29.97, abs=0.01)
        assert sum(1 for _ in video) == 60
