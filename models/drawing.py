"""Drawing poses onto images: the skeleton overlay (pose --draw, thumbnails) and ControlNet's OpenPose render.

Pure numpy + OpenCV, no Qt: the CLI, the app's thumbnails and exports all draw with these.
"""

from __future__ import annotations

import numpy as np

from posefinder.models import skeleton
from posefinder.models.formats.openpose import to_openpose18
from posefinder.models.pose import Pose

#: RGB colours of the character's sides in the overlay (left warm, right cool, centre light).
SIDE_COLORS: dict[str, tuple[int, int, int]] = {
    "left": (255, 140, 40),
    "right": (40, 160, 255),
    "center": (235, 235, 235),
}

#: ControlNet / OpenPose body colours, one per OpenPose-18 point and per limb (RGB).
OPENPOSE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip

#: OpenPose-18 limbs as ControlNet draws them (0-based indices into the OpenPose-18 order).
OPENPOSE_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip


def limb_color(a: int, b: int) -> tuple[int, int, int]:
    """The overlay colour of the limb between keypoints a and b: its side's, centre when sides differ."""
    sa, sb = skeleton.side(skeleton.KEYPOINT_NAMES[a]), skeleton.side(skeleton.KEYPOINT_NAMES[b])
    return SIDE_COLORS[sa if sa == sb else "center"]


def draw_skeleton(
    image: np.ndarray,
    pose: Pose,
    thickness: int | None = None,
    joints: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of the (H, W, 3) uint8 RGB image with the pose's limbs and joints drawn on it.

    thickness defaults to about 0.6% of the image's longer side; joints (a (25,) bool mask) limits what
    is drawn (default: the present keypoints). Left limbs are orange, right limbs blue.
    """
    import cv2

    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    t = thickness or max(1, int(round(max(out.shape[:2]) * 0.006)))
    show = pose.present if joints is None else (pose.present & np.asarray(joints, dtype=bool))
    pts = np.round(pose.xy * 16).astype(np.int64)  # 4 bits of sub-pixel precision
    for a, b in skeleton.LIMBS:
        if show[a] and show[b]:
            cv2.line(out, tuple(map(int, pts[a])), tuple(map(int, pts[b])), limb_color(a, b), t, cv2.LINE_AA, 4)
    for i in np.flatnonzero(show):
        color = SIDE_COLORS[skeleton.side(skeleton.KEYPOINT_NAMES[i])]
        cv2.circle(out, tuple(map(int, pts[i])), 16 * (t + 1), color, -1, cv2.LINE_AA, 4)
        cv2.circle(out, tuple(map(int, pts[i])), 16 * (t + 1), (20, 20, 20), 1, cv2.LINE_AA, 4)
    return out


def render_openpose(poses: Pose | list[Pose], size: tuple[int, int], stick_width: int = 4) -> np.ndarray:
    """ControlNet's OpenPose conditioning image: the poses' 18-point skeletons on black, (H, W, 3) uint8 RGB.

    size is (width, height). Limbs are filled ellipses at 60% opacity and joints dots of radius 4, in
    OpenPose's colours, as ControlNet's annotator draws them.
    """
    import cv2

    width, height = int(size[0]), int(size[1])
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for pose in [poses] if isinstance(poses, Pose) else list(poses):
        arr = to_openpose18(pose)
        for li, (a, b) in enumerate(OPENPOSE_LIMBS):
            if arr[a, 2] <= 0 or arr[b, 2] <= 0:
                continue
            (xa, ya), (xb, yb) = arr[a, :2], arr[b, :2]
            length = float(np.hypot(xa - xb, ya - yb))
            angle = float(np.degrees(np.arctan2(ya - yb, xa - xb)))
            centre = (int((xa + xb) / 2), int((ya + yb) / 2))
            poly = cv2.ellipse2Poly(centre, (int(length / 2), stick_width), int(angle), 0, 360, 1)
            layer = canvas.copy()
            cv2.fillConvexPoly(layer, np.asarray(poly), OPENPOSE_COLORS[li])
            canvas = cv2.addWeighted(canvas, 0.4, layer, 0.6, 0)
        for i in range(18):
            if arr[i, 2] > 0:
                cv2.circle(canvas, (int(arr[i, 0]), int(arr[i, 1])), 4, OPENPOSE_COLORS[i], -1)
    return canvas
