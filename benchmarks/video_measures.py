"""Measures of the video mode on benchmarks/clips.occluded (a flat bar passing over a textured wall, the
camera still), where which pixels show the same part of the wall in two frames is known without a flow:

    return_error(pictures, masks)   (returned, steady): the mean squared difference, on 0..1 values, between
                                    each frame's painting and the first frame's on the wall's pixels that the
                                    bar covered in between and has uncovered again (what long-term consistency
                                    is for), and on the pixels it never covered (their drift, for scale)
    disoccluded_start(share)        frames.later_frame, with the pixels the method does not trust (uncovered,
                                    entering at the border) started from `share` of the frame's usual start
                                    image and the rest of the warped picture, instead of all warped
"""

import cv2
import numpy as np

import utils
from neural_style.work import flow, frames


def resized_masks(masks, height, width):
    return [cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0 for mask in masks]


def return_error(pictures, masks):
    """See the module's docstring; masks: where the bar is in each frame, at the pictures' size."""
    pictures = [np.asarray(picture, np.float64) / 255 for picture in pictures]
    never_covered = ~np.any(masks, axis=0)
    covered_between = np.zeros_like(masks[0])
    returned, steady = [], []
    for index in range(1, len(pictures)):
        back = ~masks[0] & ~masks[index] & covered_between
        squared = ((pictures[index] - pictures[0]) ** 2).mean(axis=2)
        if back.any():
            returned.append(squared[back].mean())
        steady.append(squared[never_covered].mean())
        covered_between |= masks[index]
    return float(np.mean(returned)), float(np.mean(steady))


def disoccluded_start(share):
    """A stand-in for frames.later_frame (see the module's docstring); patch it in for one run."""
    later_frame = frames.later_frame

    def with_start(work, job, content, to_output, earlier, start=None):
        settings, (previous, motion) = work.settings, earlier[0]
        usual = utils.start_image(
            settings.init, content, work.style.paintings[0], settings.noise_ratio, settings.seed
        )  # fmt: skip
        warped = flow.warp(previous, motion.backward)
        untrusted = (motion.reliability == 0)[..., None]
        start = np.where(untrusted, share * usual + (1 - share) * warped, warped)
        return later_frame(work, job, content, to_output, earlier, start)

    return with_start
