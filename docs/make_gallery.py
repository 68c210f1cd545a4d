"""Regenerate the gallery (docs/gallery.md; a few in the README): each control shown on the bundled images.

    .venv/bin/python docs/make_gallery.py                # all pictures, about 10 minutes on 2 cores
    .venv/bin/python docs/make_gallery.py tv_off blend   # only some of them

Each picture is a normal run of style_transfer.py (its folder stays in outputs/gallery/); the final
image is copied to docs/gallery/NAME.jpg.
"""

import glob
import os
import sys

import cv2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import style_transfer
from utils import side_by_side

# The demonstrations are smaller and shorter than the defaults, to keep the whole gallery cheap.
SMALL = ["--size", "384", "--iterations", "100", "--save-every", "1000", "--print-every", "50"]
ASTRONAUT = "images/astronaut.png"
PERSON, BACKGROUND = "images/astronaut_person_mask.png", "images/astronaut_background_mask.png"
STARRY, WAVE, KANDINSKY = "images/starry_night.jpg", "images/great_wave.png", "images/kandinsky_composition_viii.png"

# name: (caption, flags)
PICTURES = {
    "default": ("python style_transfer.py, all defaults (512 px)", ["--print-every", "50"]),
    "small_default": ("--size 384 --iterations 100: the baseline of the pictures below", SMALL),
    "adam_original": (
        "the original: Adam, learning rate 2, float32, one pass of 150 iterations",
        [
            *SMALL,
            "--optimizer",
            "adam",
            "--learning-rate",
            "2",
            "--precision",
            "float32",
            "--scales",
            "1",
            "--iterations",
            "150",
        ],
    ),
    "one_pass": ("--scales 1 --iterations 100: no half-size pass first", [*SMALL, "--scales", "1"]),
    "float32": ("--precision float32", [*SMALL, "--precision", "float32"]),
    "seed": ("--seed 1", [*SMALL, "--seed", "1"]),
    "tv_off": ("--tv-weight 0", [*SMALL, "--tv-weight", "0"]),
    "content_weight": ("--content-weight 1e-2", [*SMALL, "--content-weight", "1e-2"]),
    "style_layers_low": (
        "--style-layers conv1_1 conv2_1 conv3_1",
        [*SMALL, "--style-layers", "conv1_1", "conv2_1", "conv3_1"],
    ),
    "content_layer_low": ("--content-layers conv2_2", [*SMALL, "--content-layers", "conv2_2"]),
    "blend": (
        "--style starry_night great_wave --style-blend 0.5 0.5",
        [*SMALL, "--style", STARRY, WAVE, "--style-blend", "0.5", "0.5"],
    ),
    "style_scale_large": ("--style-scale 2: larger brush strokes", [*SMALL, "--style-scale", "2"]),
    "colors_luminance": ("--preserve-colors luminance", [*SMALL, "--preserve-colors", "luminance"]),
    "colors_histogram": ("--preserve-colors histogram", [*SMALL, "--preserve-colors", "histogram"]),
    "init_content": ("--init content", [*SMALL, "--init", "content"]),
    "init_noise": ("--init noise", [*SMALL, "--init", "noise"]),
    "pooling_max": ("--pooling max", [*SMALL, "--pooling", "max"]),
    # A bright photo of large flat areas takes less style at the default weights than the night scene.
    "wave_astronaut": (
        "--content astronaut.png --style great_wave.png --style-weight 5",
        [*SMALL, "--content", ASTRONAUT, "--style", WAVE, "--style-weight", "5"],
    ),
    "kandinsky_astronaut": (
        "--content astronaut.png --style kandinsky_composition_viii.png --style-weight 5",
        [*SMALL, "--content", ASTRONAUT, "--style", KANDINSKY, "--style-weight", "5"],
    ),
    # Spatial control: each picture is shown with its masks beside it.
    "masks_two_styles": (
        "--style kandinsky starry_night --style-masks person background --style-weight 5",
        [
            *SMALL,
            "--content",
            ASTRONAUT,
            "--style",
            KANDINSKY,
            STARRY,
            "--style-masks",
            PERSON,
            BACKGROUND,
            "--style-weight",
            "5",
        ],
    ),
    "masks_content": (
        "--style great_wave --content-mask background --style-weight 5",
        [*SMALL, "--content", ASTRONAUT, "--style", WAVE, "--content-mask", BACKGROUND, "--style-weight", "5"],
    ),
}


def make(name):
    caption, flags = PICTURES[name]
    output_dir = os.path.join(ROOT, "outputs", "gallery", name)
    status = style_transfer.main(flags + ["--output-dir", output_dir])
    if status != 0:
        sys.exit(f"{name}: style_transfer.py exited with {status}")
    final = max(glob.glob(os.path.join(output_dir, "*", "*-final.png")), key=os.path.getmtime)
    target = os.path.join(ROOT, "docs", "gallery", f"{name}.jpg")
    picture = cv2.imread(final)
    masks = [flags[i + 1] for i, flag in enumerate(flags[:-1]) if flag == "--content-mask"]
    masks += [path for path in flags if path.endswith("_mask.png") and path not in masks]
    if masks:  # the masks beside the picture, in the order given
        picture = side_by_side([picture, *(cv2.imread(path) for path in masks)], picture.shape[0])
    cv2.imwrite(target, picture, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if name == "default":
        sheet = cv2.imread(final.replace("-final.png", "-sheet.png"))
        cv2.imwrite(os.path.join(ROOT, "docs", "gallery", "default_sheet.jpg"), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"{target}: {caption}")


if __name__ == "__main__":
    os.chdir(ROOT)
    os.makedirs(os.path.join(ROOT, "docs", "gallery"), exist_ok=True)
    for picture in sys.argv[1:] or PICTURES:
        make(picture)
