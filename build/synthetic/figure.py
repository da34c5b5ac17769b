"""Rendering one synthetic figure: pose -> 3D body -> view -> shapes drawn back to front -> keypoints with
visibility, mask, and the figure composited on a background."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from posefinder.build.synthetic.backgrounds import make_background
from posefinder.build.synthetic.body import Body, build_body, required
from posefinder.build.synthetic.camera import Projector, View, sample_view
from posefinder.build.synthetic.head import SKIN, draw_head
from posefinder.build.synthetic.kinematics import BodyPose, Proportions, forward_kinematics, sample_proportions
from posefinder.build.synthetic.poses import sample_pose
from posefinder.build.synthetic.shapes import Shape, fill, project_part, stroke
from posefinder.build.synthetic.style import HAIR_STYLES, STYLES, Outfit, RenderStyle, sample_outfit, shade
from posefinder.build.synthetic.visibility import occluded
from posefinder.models import skeleton
from posefinder.models.pose import OCCLUDED, VISIBLE, Pose

#: Default empty border around the figure, as a fraction of the image's shorter side.
DEFAULT_MARGIN = 0.04

#: The head's parts, back to front ("head" draws the skull and the hair shell "hair" together, per pixel).
_HEAD_ORDER = ("neck", "left_ear", "right_ear", "head", "mouth", "left_eye", "right_eye", "left_eye_shine",
               "right_eye_shine")  # fmt: skip
_FACE_FEATURES = frozenset(("mouth", "left_eye", "right_eye", "left_eye_shine", "right_eye_shine"))


@dataclass
class SyntheticFigure:
    """A drawn character with its exact keypoints and mask."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, figure composited on its background
    foreground: np.ndarray  # (H, W, 4) uint8 RGBA, the figure alone (alpha = coverage)
    mask: np.ndarray  # (H, W) bool, the figure's pixels (alpha > 0.5)
    pose: Pose  # 25 keypoints in pixels (v=2 visible, 1 hidden by the body), bbox = mask box, source "synthetic"
    body_pose: BodyPose | None = None  # the kinematic pose it shows
    view: View | None = None
    extra: dict = field(default_factory=dict)


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def draw_order(shapes: list[Shape]) -> list[Shape]:
    """Drawn shapes back to front: by depth, the head's parts as one, attached parts right after their anchors."""
    drawn = [s for s in shapes if s.part.draw]
    free = [s for s in drawn if not s.part.after and s.part.group is None]
    head = {s.part.name: s for s in drawn if s.part.group == "head"}
    items: list[tuple[float, list[Shape]]] = [(s.depth, [s]) for s in free]
    if "head" in head:
        # the head sits on the shoulders: drawn after the chest unless it is clearly behind it
        depth = head["head"].depth
        chest = next((s for s in free if s.part.name == "chest"), None)
        if chest is not None:
            reach = float(np.sqrt((required(head["head"].axes3, "axes3")[2] ** 2).sum()))
            if depth < chest.depth + reach:
                depth = min(depth, chest.depth - 1e-9)
        items.append((depth, [head[n] for n in _HEAD_ORDER if n in head]))
    items.sort(key=lambda item: -item[0])
    order = [s for _, group in items for s in group]
    for s in drawn:
        if not s.part.after:
            continue
        pos = [i for i, o in enumerate(order) if o.part.name in s.part.after]
        if pos:
            order.insert(max(pos) + 1, s)
        else:
            order.append(s)
    for s in [s for s in order if s.part.before]:
        first = next((i for i, o in enumerate(order) if o.part.name in s.part.before), None)
        here = order.index(s)
        if first is not None and here > first:
            order.pop(here)
            order.insert(first, s)
    return order


def _on_skin(head_labels, xy) -> bool:
    """Whether the head patch shows skin at a point (a face feature there is not covered by hair)."""
    if head_labels is None:
        return False
    (x0, y0), labels = head_labels
    j, i = int(round(xy[0])) - x0, int(round(xy[1])) - y0
    return 0 <= i < labels.shape[0] and 0 <= j < labels.shape[1] and labels[i, j] == SKIN


def _fit(shapes: list[Shape], size: tuple[int, int], margin_px: float, rng) -> tuple[float, np.ndarray]:
    """(scale, offset) placing the drawn shapes inside the image with margin_px around them."""
    boxes = np.array([s.bbox() for s in shapes if s.part.draw])
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
    w, h = size
    avail_w, avail_h = w - 2 * margin_px, h - 2 * margin_px
    scale = rng.uniform(0.62, 1.0) * min(avail_w / max(x1 - x0, 1e-6), avail_h / max(y1 - y0, 1e-6))
    free_w, free_h = avail_w - scale * (x1 - x0), avail_h - scale * (y1 - y0)
    ox = margin_px + rng.uniform(0, max(free_w, 0.0)) - scale * x0
    oy = margin_px + rng.uniform(0, max(free_h, 0.0)) - scale * y0
    return float(scale), np.array([ox, oy])


def _keypoints(body: Body, proj: Projector, scale: float, offset: np.ndarray):
    """(25, 3) screen keypoints [x px, y px, depth], radius and tolerance (pixels) for the visibility test."""
    pts, k = proj.screen(body.keypoints3d)
    kp = np.zeros((skeleton.NUM_KEYPOINTS, 3))
    kp[: skeleton.NUM_COCO] = pts * scale
    kp[: skeleton.NUM_COCO, :2] += offset
    ks = np.ones(skeleton.NUM_KEYPOINTS)
    ks[: skeleton.NUM_COCO] = k
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():  # a midpoint is the mean of its endpoints
        kp[m] = (kp[a] + kp[b]) / 2
        ks[m] = (ks[a] + ks[b]) / 2
    return kp, body.keypoint_radius * ks * scale, body.keypoint_tolerance * ks * scale


def _background(rng, size, background, floor_y, figure_x) -> tuple[np.ndarray, str]:
    w, h = size
    if background is None:
        return np.full((h, w, 3), 255, np.uint8), "white"
    if isinstance(background, np.ndarray):
        bg = np.asarray(background)
        if bg.ndim != 3 or bg.shape[2] != 3:
            raise ValueError(f"a background image is (H, W, 3) RGB; got shape {bg.shape}")
        if bg.shape[:2] != (h, w):
            import cv2

            bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_AREA)
        return bg.astype(np.uint8), "image"
    return make_background(rng, (w, h), None if background == "random" else str(background), floor_y, figure_x)


def composite(background: np.ndarray, canvas: np.ndarray) -> np.ndarray:
    """The premultiplied RGBA canvas over an RGB background: bg * (1 - alpha) + rgb, (H, W, 3) uint8."""
    import cv2

    inv = cv2.cvtColor(255 - canvas[..., 3], cv2.COLOR_GRAY2RGB)
    return cv2.add(cv2.multiply(background, inv, scale=1.0 / 255.0), np.ascontiguousarray(canvas[..., :3]))


def render_figure(
    seed: int | np.random.Generator,
    size: tuple[int, int] = (256, 256),
    *,
    pose: BodyPose | Pose | None = None,
    background: str | np.ndarray | None = "random",
    margin: float = DEFAULT_MARGIN,
    kind: str | None = None,
    view: View | None = None,
    proportions: Proportions | None = None,
    outfit: Outfit | None = None,
    prior=None,
    style: RenderStyle | str | None = None,
) -> SyntheticFigure:
    """Draw one figure in an image of size (width, height).

    seed: an int (the same int gives the same figure) or a Generator (advanced). pose: the kinematic pose
    (default: sample_pose(rng, kind, prior)), or a 2D Pose to imitate (lifted as prior.lift_pose does, and
    seen from the view that draws it; it needs both shoulders and hips); background: "random", a
    backgrounds.KINDS name, an (H, W, 3) uint8 image, or None for white; margin: the least empty border,
    as a fraction of the shorter side. view, proportions, outfit: fixed instead of random. style: a
    RenderStyle or the name of one in style.STYLES (proportions, line weight, palette, costume shapes); the
    default draws the figures it always drew.
    """
    if isinstance(style, str):
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
        style = STYLES[style]
    if style is not None and style.is_default:
        style = None
    rng = _rng(seed)
    w, h = int(size[0]), int(size[1])
    if isinstance(pose, Pose):
        from posefinder.build.synthetic.prior import lift_pose

        lifted = lift_pose(pose, rng)
        if lifted is None:
            raise ValueError("a 2D pose to draw needs both shoulders and both hips")
        body_pose = lifted.pose
        body_pose.extra["view"] = lifted.view
    else:
        body_pose = pose.clipped() if pose is not None else sample_pose(rng, kind=kind, prior=prior)
    if proportions is not None:
        prop = proportions
    elif style is not None:
        prop = style.restyle_proportions(sample_proportions(rng, style.heads))
    else:
        prop = sample_proportions(rng)
    look = outfit if outfit is not None else sample_outfit(rng)
    if style is not None and outfit is None:
        look = style.restyle_outfit(look, rng)
    sk = forward_kinematics(body_pose, prop)
    body = build_body(sk, prop, look, rng)
    if view is not None:
        cam = view
    elif isinstance(body_pose.extra.get("view"), View):  # a prior pose comes with the view it was drawn from
        cam = body_pose.extra["view"]
    else:
        cam = sample_view(rng, body_pose.kind)
    proj = Projector(cam, np.mean(list(sk.points.values()), axis=0))

    chest_facing = proj.toward_camera(body.chest_forward)
    shapes = []
    for part in body.parts:
        if part.front_only and chest_facing < 0.25:
            continue
        if part.normal is not None and proj.toward_camera(part.normal) < part.min_facing:
            continue
        shapes.append(project_part(part, proj))
    outline_px = int(round(look.outline_px * min(w, h) / 256.0)) if look.outline_px > 0 else 0
    if look.outline_px > 0:
        outline_px = max(1, outline_px)
    scale, offset = _fit(shapes, (w, h), margin * min(w, h) + outline_px, rng)
    shapes = [s.transformed(scale, offset) for s in shapes]

    # draw back to front on a premultiplied RGBA canvas
    canvas = np.zeros((h, w, 4), np.uint8)
    light = -np.asarray(look.light_dir, dtype=np.float64)
    light = light / max(float(np.linalg.norm(light)), 1e-9)
    by_name = {s.part.name: s for s in shapes}
    head_labels = None
    for s in draw_order(shapes):
        if s.part.name == "head":
            hair_style = HAIR_STYLES.get(look.hair) if "hair" in by_name else None
            dark = tuple(look.outline_dark or shade(look.color("hair"), 0.42))
            head_labels = draw_head(canvas, s, by_name.get("hair"), hair_style, look.colors, outline_px, dark,
                                    look.light_dir, look.shading)  # fmt: skip
            continue
        if s.part.name in _FACE_FEATURES and not _on_skin(head_labels, s.center):
            continue
        base = look.color(s.part.material)
        if look.shading and s.part.shade:
            fill(canvas, s, shade(base, 0.8) + (255,))
            fill(canvas, s.inner(-light, 0.84), base + (255,))
        else:
            fill(canvas, s, tuple(base) + (255,))
        if s.part.outline and outline_px > 0:
            dark = look.outline_dark if look.outline_dark is not None else shade(base, 0.42)
            stroke(canvas, s, tuple(dark) + (255,), outline_px)

    # keypoints and their visibility
    kp, radius, tol = _keypoints(body, proj, scale, offset)
    hidden = occluded([s for s in shapes if s.part.occluder], kp, radius, tol, body.keypoint_parts)
    keypoints = np.concatenate([kp[:, :2], np.where(hidden, OCCLUDED, VISIBLE)[:, None]], axis=1)

    # mask, box, composite
    alpha = canvas[..., 3]
    mask = alpha >= 128
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:  # cannot happen for a fitted figure; kept for safety of callers' sizes
        raise ValueError(f"image size {size} is too small to draw a figure")
    bbox = (float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1))
    bg, bg_kind = _background(rng, (w, h), background, float(rows[-1]), (float(cols[0]), float(cols[-1])))
    image = composite(bg, canvas)
    foreground = canvas.copy()
    edge = (alpha > 0) & (alpha < 255)
    if edge.any():
        foreground[edge, :3] = np.clip(
            canvas[edge, :3].astype(np.float32) * 255.0 / alpha[edge, None].astype(np.float32), 0, 255
        ).astype(np.uint8)
    pose_out = Pose(
        keypoints=keypoints,
        bbox_xywh=bbox,
        image_size=(w, h),
        source="synthetic",
        meta={"kind": body_pose.kind, "view": cam.as_dict(), "heads": round(float(prop.extra.get("heads", 0.0)), 2),
              "look": "mannequin" if look.mannequin else "clothed", "background": bg_kind},  # fmt: skip
    )
    return SyntheticFigure(image=image, foreground=foreground, mask=mask, pose=pose_out, body_pose=body_pose,
                           view=cam, extra={"scale_px": scale})  # fmt: skip


def figure_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of figure `index` of `figures(n, seed)`: render_figure(figure_rng(seed, i)) redraws it."""
    return np.random.default_rng([int(seed), int(index)])


def figures(n: int, seed: int = 0, size: tuple[int, int] = (256, 256), **kw) -> Iterator[SyntheticFigure]:
    """n figures, each drawn from its own generator (figure_rng(seed, i)): the same seed gives the same figures."""
    for i in range(int(n)):
        yield render_figure(figure_rng(seed, i), size, **kw)
