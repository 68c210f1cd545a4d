"""`python style_transfer.py` on bad input: exit status 2 and one line on stderr, never a traceback.

All cases run once, side by side, in a module fixture (several of them start TensorFlow, which
takes seconds mostly spent waiting); each test then checks its own case.
"""

import concurrent.futures
import os

import cv2
import numpy as np
import pytest
from conftest import REPO, run_cli

CLIP = str(REPO / "images" / "box_2s.webm")

# case: (arguments added to valid ones, text the error line must contain); "{dir}" is the inputs' folder.
# More kinds of bad images and weights files are tested in-process (test_weights.py and the image tests):
# each case here that gets past argument parsing starts TensorFlow, which takes seconds.
CASES = {
    "missing-content": (["--content", "{dir}/no_such_photo.png"], "no_such_photo.png"),
    "style-is-a-directory": (["--style", "{dir}/a_folder"], "a_folder"),
    "garbage-image": (["--content", "{dir}/garbage.jpg"], "garbage.jpg"),
    "unknown-style-layer": (["--style-layers", "conv1_1", "conv9_9"], "conv9_9"),
    "unknown-content-layer": (["--content-layers", "relu4_2"], "relu4_2"),
    "size-0": (["--size", "0"], "--size"),
    "size-negative": (["--size", "-5"], "--size"),
    "iterations-0": (["--iterations", "0"], "--iterations"),
    "iterations-abc": (["--iterations", "abc"], "--iterations"),
    "output-dir-under-a-file": (["--output-dir", "{dir}/a_file/sub"], "a_file"),
    "weights-truncated-h5": (["--weights", "{dir}/truncated.h5"], "truncated.h5"),
    "weights-h5-not-vgg19": (["--weights", "{dir}/other.h5"], "conv1_1"),
    "init-garbage": (["--init", "{dir}/garbage.jpg"], "garbage.jpg"),
    "masks-not-one-per-style": (["--style-masks", "{dir}/white.png", "{dir}/white.png"], "needs 1 masks"),
    "mask-not-an-image": (["--style-masks", "{dir}/garbage.jpg"], "garbage.jpg"),
    "mask-all-black": (["--content-mask", "{dir}/black.png"], "black.png has no region"),
    "mask-other-aspect": (["--style-masks", "{dir}/wide.png"], "wide.png is 80x10 px"),
    "video-not-a-video": (["--content", "{dir}/text.mp4"], "text.mp4"),
    "video-no-frame": (["--content", CLIP, "--first-frame", "60"], "no frame that decodes from frame 60 on"),
    "video-frames-change-size": (["--content", "{dir}/sizes/%04d.png"], "frame 1 is 64x50"),
    "video-unreadable-frame": (["--content", "{dir}/corrupt/%04d.png"], "0002.png"),
    "video-no-images": (["--content", "{dir}/empty/%04d.png"], "no file in"),
    "video-output-dir-under-a-file": (["--content", CLIP, "--output-dir", "{dir}/a_file/sub"], "a_file"),
    "video-needs-tiles": (["--content", CLIP, "--size", "96", "--tile-px", "64"], "painted whole"),
    "video-with-masks": (["--content", CLIP, "--content-mask", "{dir}/white.png"], "not on videos"),
}


def make_inputs(folder):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (30, 40, 3), np.uint8)
    cv2.imwrite(str(folder / "photo.png"), photo)
    cv2.imwrite(str(folder / "painting.png"), rng.integers(0, 256, (36, 28, 3), np.uint8))
    (folder / "a_folder").mkdir()
    (folder / "a_file").write_text("a regular file where a folder is expected\n")
    (folder / "garbage.jpg").write_bytes(rng.bytes(2000))
    cv2.imwrite(str(folder / "white.png"), np.full((30, 40), 255, np.uint8))
    cv2.imwrite(str(folder / "black.png"), np.zeros((30, 40), np.uint8))
    cv2.imwrite(str(folder / "wide.png"), np.full((10, 80), 255, np.uint8))

    import h5py

    with h5py.File(folder / "other.h5", "w") as f:  # a well-formed HDF5 file that is not VGG19
        f.create_group("dense_1").create_dataset("dense_1_W_1:0", data=np.zeros((10, 4), np.float32))
    with h5py.File(folder / "big.h5", "w") as f:
        f.create_group("block1_conv1").create_dataset("block1_conv1_W_1:0", data=rng.random((3, 3, 3, 64, 40)))
    data = (folder / "big.h5").read_bytes()
    (folder / "truncated.h5").write_bytes(data[: len(data) // 2])

    (folder / "text.mp4").write_text("not a video\n")
    for name, sizes in {"sizes": [(48, 64), (50, 64)], "corrupt": [(48, 64)] * 3}.items():
        (folder / name).mkdir()
        for number, size in enumerate(sizes, start=1):
            cv2.imwrite(str(folder / name / f"{number:04d}.png"), np.zeros((*size, 3), np.uint8))
    (folder / "corrupt" / "0002.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "empty").mkdir()


@pytest.fixture(scope="module")
def results(tmp_path_factory, vgg_weights):
    """{case: (CompletedProcess, folder)}; vgg_weights makes sure the cache is filled first, so that a
    case that wrongly got past its error would not start a download of its own."""
    folder = tmp_path_factory.mktemp("cli")
    make_inputs(folder)

    def run(case):
        extra, _ = CASES[case]
        extra = [arg.replace("{dir}", str(folder)) for arg in extra]
        args = [
            "--content",
            folder / "photo.png",
            "--style",
            folder / "painting.png",
            "--size",
            "16",
            "--iterations",
            "1",
            "--output-dir",
            folder / "out" / case,
            *extra,
        ]
        return run_cli(*args, timeout=240)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(CASES, pool.map(run, CASES)))
    return {case: (result, folder) for case, result in done.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_error_line(results, case):
    result, folder = results[case]
    report = f"exit status {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, report
    assert result.returncode == 2, report
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, report
    assert "error" in lines[0], report
    assert CASES[case][1] in lines[0], report


def test_nothing_is_created_under_a_file_given_as_output_folder(results, tmp_path):
    _, folder = results["output-dir-under-a-file"]
    assert (folder / "a_file").read_bytes() == b"a regular file where a folder is expected\n"
    make_inputs(tmp_path)  # what the folder held before the runs: no case, refused, made anything in it
    assert sorted(os.listdir(folder)) == sorted(os.listdir(tmp_path))


@pytest.mark.parametrize(
    "case",
    [
        "missing-content",
        "garbage-image",
        "unknown-style-layer",
        "size-0",
        "iterations-abc",
        "weights-truncated-h5",
        "weights-h5-not-vgg19",
        "init-garbage",
        "video-not-a-video",
        "video-no-frame",
        "video-frames-change-size",
        "video-unreadable-frame",
        "video-no-images",
        "video-needs-tiles",
    ],
)
def test_input_errors_are_found_before_any_run_folder_is_made(results, case):
    _, folder = results[case]
    out = folder / "out" / case
    assert not out.exists() or not any(os.scandir(out))


def test_the_readmes_options_table_lists_what_help_lists():
    """Every flag of --help, with its constant, is in the README's options table, and nothing else is."""
    import re
    import subprocess
    import sys

    from conftest import REPO

    readme = (REPO / "README.md").read_text().split("## Options", 1)[1].split("\n## ", 1)[0]
    documented = dict(re.findall(r"^\| `(--[a-z-]+)[^|]*\| (?:`([A-Z_]+)`)? *\|", readme, re.MULTILINE))
    help_text = subprocess.run(
        [sys.executable, str(REPO / "style_transfer.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, COLUMNS="1000"),
    ).stdout
    described = {}
    for block in re.split(r"\n(?=  --)", help_text.split("options:", 1)[1])[1:]:  # one per flag
        constant = re.search(r"; ([A-Z_]+)\)", " ".join(block.split()))
        described[block.split()[0]] = constant.group(1) if constant else ""
    assert documented == described
