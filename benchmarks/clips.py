"""Synthetic clips, made with OpenCV, that expose what textured real clips hide: plain areas where an
optical flow is noise. Each maker returns the clip's frames, RGB uint8 (height, width, 3); write_clip
writes them as a numbered PNG sequence (lossless) or a video file.

    moving_object  a textured disc crossing a flat light-grey field, the camera still
    slow_pan       a camera panning slowly over a low-texture wall
    scene_cut      the moving object, then a cut to the wall
    occluded       a flat grey bar passing over a textured wall, the camera still: each part of the wall is
                   covered for a few frames, then uncovered again (disocclusion; long-term consistency)
"""

import os

import cv2
import numpy as np

FIELD_GREY = 205  # the flat field behind the moving object


def textured_disc(radius_px, seed):
    """A disc of random coloured blobs: texture that a flow can follow. (2r, 2r, 3) uint8 and its mask."""
    rng = np.random.default_rng(seed)
    side = 2 * radius_px
    blobs = cv2.resize(rng.uniform(0, 255, (6, 6, 3)).astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC)
    checks = ((np.indices((side, side)) // 4).sum(axis=0) % 2 * 60 - 30)[..., None]
    disc = np.clip(blobs + checks, 0, 255).astype(np.uint8)
    mask = np.zeros((side, side), np.uint8)
    cv2.circle(mask, (radius_px, radius_px), radius_px - 1, 1, -1)
    return disc, mask.astype(bool)


def moving_object(frame_count, width_px=160, height_px=120, step_px=3, seed=0):
    """A textured disc moving right by step_px a frame over a flat grey field; a still camera."""
    radius = height_px // 4
    disc, mask = textured_disc(radius, seed)
    frames = []
    for index in range(frame_count):
        frame = np.full((height_px, width_px, 3), FIELD_GREY, np.uint8)
        left, top = width_px // 6 + index * step_px, height_px // 2 - radius
        region = frame[top : top + 2 * radius, left : left + 2 * radius]
        region[mask[: region.shape[0], : region.shape[1]]] = disc[: region.shape[0], : region.shape[1]][
            mask[: region.shape[0], : region.shape[1]]
        ]
        frames.append(frame)
    return frames


def wall(width_px, height_px, seed):
    """A low-texture wall: a faint large-scale shading and fainter grain around a warm off-white."""
    rng = np.random.default_rng(seed)
    shading = cv2.resize(rng.normal(0, 6, (5, 8)).astype(np.float32), (width_px, height_px), cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(rng.normal(0, 3, (height_px, width_px)).astype(np.float32), (0, 0), 1.0)
    grey = 215 + shading + grain
    return np.clip(np.stack([grey + 4, grey, grey - 8], axis=2), 0, 255).astype(np.uint8)


def slow_pan(frame_count, width_px=160, height_px=120, step_px=1, seed=1):
    """A camera panning right by step_px a frame over a low-texture wall."""
    surface = wall(width_px + step_px * frame_count, height_px, seed)
    return [surface[:, index * step_px : index * step_px + width_px].copy() for index in range(frame_count)]


def scene_cut(frame_count, width_px=160, height_px=120, cut_at=None):
    """The moving object for the first half (or cut_at frames), then a cut to the slow pan over a blue wall."""
    cut_at = frame_count // 2 if cut_at is None else cut_at
    blue = np.array([0.55, 0.7, 1.0], np.float32)
    pan = [(frame * blue).astype(np.uint8) for frame in slow_pan(frame_count - cut_at, width_px, height_px)]
    return moving_object(cut_at, width_px, height_px) + pan


def textured_wall(width_px, height_px, seed):
    """A wall of coloured blobs and 4 px checks: texture that a flow can follow everywhere."""
    rng = np.random.default_rng(seed)
    blobs = cv2.resize(rng.uniform(40, 215, (6, 8, 3)).astype(np.float32), (width_px, height_px), cv2.INTER_CUBIC)
    checks = ((np.indices((height_px, width_px)) // 4).sum(axis=0) % 2 * 40 - 20)[..., None]
    return np.clip(blobs + checks, 0, 255).astype(np.uint8)


def occluder_masks(frame_count, width_px=160, height_px=120, step_px=4):
    """Where occluded's bar is in each frame: bool (height, width). It is a fifth of the frame wide and
    moves right by step_px a frame, so that it covers a pixel for width / 5 / step_px frames (8 at 160 px)."""
    masks = []
    for index in range(frame_count):
        mask = np.zeros((height_px, width_px), bool)
        left = index * step_px
        mask[height_px // 6 : height_px - height_px // 6, left : left + width_px // 5] = True
        masks.append(mask)
    return masks


def occluded(frame_count, width_px=160, height_px=120, step_px=4, seed=2):
    """A flat grey bar moving right by step_px a frame over a textured wall; a still camera."""
    surface = textured_wall(width_px, height_px, seed)
    frames = []
    for mask in occluder_masks(frame_count, width_px, height_px, step_px):
        frame = surface.copy()
        frame[mask] = FIELD_GREY
        frames.append(frame)
    return frames


CLIPS = {"moving_object": moving_object, "slow_pan": slow_pan, "scene_cut": scene_cut, "occluded": occluded}


def write_clip(frames, path, fps=25.0):
    """The frames as a numbered PNG sequence (path such as folder/%04d.png, numbered from 1) or as a
    video file (.mp4, .avi, .m4v: MPEG-4 part 2). Returns path."""
    path = str(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if "%" in os.path.basename(path):
        for number, frame in enumerate(frames, start=1):
            cv2.imwrite(path % number, frame[:, :, ::-1])
        return path
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame[:, :, ::-1])
    writer.release()
    return path
