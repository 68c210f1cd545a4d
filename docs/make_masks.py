"""Make the masks of the bundled astronaut photo used in docs/masks.md (spatial control).

    .venv/bin/python docs/make_masks.py

A rough outline of the person, drawn as a polygon, is refined along the photo's edges by OpenCV's
GrabCut; any paint program does as well (white where a style goes, black elsewhere).
"""

import os

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The person's outline in the 512x512 photo: head, neck ring, shoulders, helmet, the suit to the bottom.
OUTLINE = [(155, 60), (175, 25), (230, 12), (285, 30), (300, 80), (292, 140), (280, 170), (305, 200), (308, 260),
           (350, 290), (368, 345), (420, 343), (480, 368), (505, 420), (512, 512), (0, 512), (0, 470), (22, 330),
           (60, 280), (112, 240), (118, 180), (150, 170), (158, 130)]  # fmt: skip
SURE_PX = 25  # GrabCut may only move the outline by about this much


def person_mask(photo):
    rough = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(rough, [np.array(OUTLINE, np.int32)], 255)
    labels = np.where(rough > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    square = np.ones((SURE_PX, SURE_PX), np.uint8)
    labels[cv2.erode(rough, square) > 0] = cv2.GC_FGD
    labels[cv2.dilate(rough, square) == 0] = cv2.GC_BGD
    cv2.grabCut(photo, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), 6, cv2.GC_INIT_WITH_MASK)
    person = np.where((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    return cv2.morphologyEx(person, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))


if __name__ == "__main__":
    person = person_mask(cv2.imread(os.path.join(ROOT, "images", "astronaut.png")))
    cv2.imwrite(os.path.join(ROOT, "images", "astronaut_person_mask.png"), person)
    cv2.imwrite(os.path.join(ROOT, "images", "astronaut_background_mask.png"), 255 - person)
