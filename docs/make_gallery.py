"""Regenerate the README's gallery: each control demonstrated on the bundled images.

    .venv/bin/python docs/make_gallery.py            # all pictures, about half an hour on 2 cores
    .venv/bin/python docs/make_gallery.py tv blend   # only some of them

Each picture is a normal run of style_transfer.py (its folder stays in outputs/gallery/); the final
image is copied to docs/gallery/NAME.jpg.
"""
import glob
import os
import sys

import cv2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import style_transfer  # noqa: E402

BASE = ["--size", "320", "--save-every", "1000", "--print-every", "50"]
BRIDGE, ASTRONAUT = "images/cincinnati_bridge.jpg", "images/astronaut.png"
STARRY, WAVE, KANDINSKY = "images/starry_night.jpg", "images/great_wave.png", "images/kandinsky_composition_viii.png"

# name: (caption, flags)
PICTURES = {
    "default": ("defaults", []),
    "adam_original": ("Adam, learning rate 2, one pass (the original)",
                      ["--optimizer", "adam", "--learning-rate", "2", "--scales", "1", "--iterations", "300"]),
    "lbfgs_single": ("L-BFGS, one pass", ["--optimizer", "lbfgs", "--scales", "1", "--iterations", "150"]),
    "tv_off": ("total variation off", ["--tv-weight", "0"]),
    "tv_strong": ("strong total variation (--tv-weight 1e-2)", ["--tv-weight", "1e-2"]),
    "blend": ("two styles, --style-blend 0.5 0.5", ["--style", STARRY, WAVE, "--style-blend", "0.5", "0.5"]),
    "style_scale_small": ("--style-scale 0.5: smaller brush strokes", ["--style-scale", "0.5"]),
    "style_scale_large": ("--style-scale 2: larger brush strokes", ["--style-scale", "2"]),
    "colors_luminance": ("--preserve-colors luminance", ["--preserve-colors", "luminance"]),
    "colors_histogram": ("--preserve-colors histogram", ["--preserve-colors", "histogram"]),
    "init_content": ("--init content", ["--init", "content"]),
    "init_noise": ("--init noise", ["--init", "noise"]),
    "pooling_max": ("--pooling max", ["--pooling", "max"]),
    "shallow_style": ("style from conv1_1 and conv2_1 only: fine texture",
                      ["--style-layers", "conv1_1", "conv2_1"]),
    "wave_astronaut": ("astronaut in the Great Wave", ["--content", ASTRONAUT, "--style", WAVE]),
    "kandinsky_astronaut": ("astronaut in Kandinsky's Composition VIII", ["--content", ASTRONAUT, "--style", KANDINSKY]),
}


def make(name):
    caption, flags = PICTURES[name]
    output_dir = os.path.join(ROOT, "outputs", "gallery", name)
    status = style_transfer.main(BASE + flags + ["--output-dir", output_dir])
    if status != 0:
        sys.exit(f"{name}: style_transfer.py exited with {status}")
    final = max(glob.glob(os.path.join(output_dir, "*", "*-final.png")), key=os.path.getmtime)
    target = os.path.join(ROOT, "docs", "gallery", f"{name}.jpg")
    cv2.imwrite(target, cv2.imread(final), [cv2.IMWRITE_JPEG_QUALITY, 88])
    if name == "default":
        sheet = cv2.imread(final.replace("-final.png", "-sheet.png"))
        cv2.imwrite(os.path.join(ROOT, "docs", "gallery", "default_sheet.jpg"), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"{target}: {caption}")


if __name__ == "__main__":
    os.chdir(ROOT)
    os.makedirs(os.path.join(ROOT, "docs", "gallery"), exist_ok=True)
    for picture in sys.argv[1:] or PICTURES:
        make(picture)
