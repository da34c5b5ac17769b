"""The head, ray cast per pixel: skull and hair shell (two ellipsoids), the hairline with its bangs, cel
shading and outlines, supersampled and drawn onto the figure's canvas.

Each ray (one per sub-pixel, along the view direction) meets the hair shell, then the skull, then the
shell's inside; a surface point is hair when it lies above the hairline, a curve around the head that is
highest on the forehead (with the jagged tips of the bangs), lower on the sides and lowest at the nape.
"""

from __future__ import annotations

import cv2
import numpy as np

from posefinder.build.synthetic.body import required
from posefinder.build.synthetic.shapes import Shape
from posefinder.build.synthetic.style import HairStyle, shade

SKIN, HAIR, HAIR_INSIDE = 1, 2, 3


def hair_mask(u: np.ndarray, style: HairStyle) -> np.ndarray:
    """(N,) bool: which unit-sphere points u (N, 3) (x left, y up, z forward) are covered by hair."""
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    c = z / np.maximum(np.hypot(x, z), 1e-9)  # cos of the angle around the head from the front
    f, s, b = style.front, style.side, style.back
    a1 = (f - b) / 2
    a0 = ((f + b) / 2 + s) / 2
    a2 = ((f + b) / 2 - s) / 2
    h = a0 + a1 * c + a2 * (2 * c * c - 1)
    theta = np.arctan2(x, z)
    saw = np.abs((theta * style.bangs_count / np.pi) % 2.0 - 1.0)  # 0..1 zigzag
    h = h - style.bangs_depth * np.clip(c, 0, 1) ** 3 * saw
    return y > h


def _hits(center: np.ndarray, axes: np.ndarray, px: np.ndarray, py: np.ndarray):
    """Ray (along +z through each pixel) / ellipsoid: (hit, front unit point, back unit point, Ainv)."""
    Ainv = np.linalg.inv(axes)
    d = Ainv[:, 2]
    p0 = np.stack([px - center[0], py - center[1], np.zeros_like(px)], axis=1) @ Ainv.T  # z origin at centre
    a = float(d @ d)
    b = 2 * (p0 @ d)
    c = (p0 * p0).sum(axis=1) - 1
    disc = b * b - 4 * a * c
    hit = disc >= 0
    sq = np.sqrt(np.where(hit, disc, 0.0))
    t0, t1 = (-b - sq) / (2 * a), (-b + sq) / (2 * a)
    return hit, p0 + t0[:, None] * d, p0 + t1[:, None] * d, Ainv, t0


def _lit(u: np.ndarray, Ainv: np.ndarray, light3: np.ndarray) -> np.ndarray:
    n = u @ Ainv  # normal of the ellipsoid in screen space: Ainv^T u
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    return n @ light3 > 0.05


def draw_head(canvas: np.ndarray, skull: Shape, shell: Shape | None, style: HairStyle | None, colors: dict,
              outline_px: int, outline_color, light_dir, shading: bool) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """Draw the head onto the RGBA canvas; returns the label image of its patch as (x0, y0, labels) lookup
    array or None when the head is outside the canvas. colors: "skin", "hair" RGB."""
    h, w = canvas.shape[:2]
    boxes = [skull.bbox()] + ([shell.bbox()] if shell is not None else [])
    pad = outline_px + 2
    x0 = int(np.floor(min(b[0] for b in boxes))) - pad
    y0 = int(np.floor(min(b[1] for b in boxes))) - pad
    x1 = int(np.ceil(max(b[2] for b in boxes))) + pad
    y1 = int(np.ceil(max(b[3] for b in boxes))) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
    if x1 < x0 or y1 < y0:
        return None
    pw, ph = x1 - x0 + 1, y1 - y0 + 1
    ss = 2
    sx = x0 - 0.5 + (np.arange(pw * ss) + 0.5) / ss
    sy = y0 - 0.5 + (np.arange(ph * ss) + 0.5) / ss
    gx, gy = np.meshgrid(sx, sy)
    px, py = gx.ravel(), gy.ravel()
    n = px.size
    label = np.zeros(n, np.uint8)
    lit = np.ones(n, bool)
    light = np.array([light_dir[0], light_dir[1], -0.9])
    light /= np.linalg.norm(light)

    k_hit, k_front, _, k_inv, _ = _hits(required(skull.center, "center"), required(skull.axes3, "axes3"), px, py)
    todo = np.ones(n, bool)
    if shell is not None and style is not None:
        s_hit, s_front, s_back, s_inv, _ = _hits(required(shell.center, "center"), required(shell.axes3, "axes3"), px, py)
        outer = s_hit & hair_mask(s_front, style)
        label[outer] = HAIR
        lit[outer] = _lit(s_front[outer], s_inv, light)
        todo &= ~outer
        on_skull = todo & k_hit
        skull_hair = on_skull.copy()
        skull_hair[on_skull] = hair_mask(k_front[on_skull], style)
        label[skull_hair] = HAIR
        label[on_skull & ~skull_hair] = SKIN
        lit[on_skull] = _lit(k_front[on_skull], k_inv, light)
        todo &= ~k_hit
        inner = todo & s_hit
        inner[inner] = hair_mask(s_back[inner], style)
        label[inner] = HAIR_INSIDE
    else:
        label[k_hit] = SKIN
        lit[k_hit] = _lit(k_front[k_hit], k_inv, light)

    palette = np.zeros((4, 2, 3), np.float32)  # label x lit -> colour
    for lab, base in ((SKIN, colors["skin"]), (HAIR, colors["hair"]), (HAIR_INSIDE, shade(colors["hair"], 0.62))):
        palette[lab, 1] = base
        palette[lab, 0] = shade(base, 0.8) if shading else base
    lab2 = label.reshape(ph * ss, pw * ss)
    rgb = palette[lab2, lit.reshape(ph * ss, pw * ss).astype(np.int64)]
    cov = (lab2 > 0).astype(np.float32)
    if outline_px > 0:
        edge = np.zeros_like(lab2, dtype=np.uint8)
        dx = lab2[:, 1:] != lab2[:, :-1]
        dy = lab2[1:, :] != lab2[:-1, :]
        edge[:, 1:] |= dx
        edge[:, :-1] |= dx
        edge[1:, :] |= dy
        edge[:-1, :] |= dy
        k = max(1, int(round(outline_px * ss)) - 1)
        if k > 1:
            edge = cv2.dilate(edge, np.ones((k, k), np.uint8))
        e = edge.astype(bool)
        rgb[e] = outline_color
        cov[e] = 1.0
    prem = rgb * cov[..., None]
    prem = cv2.resize(prem, (pw, ph), interpolation=cv2.INTER_AREA)
    cov = cv2.resize(cov, (pw, ph), interpolation=cv2.INTER_AREA)
    roi = canvas[y0 : y1 + 1, x0 : x1 + 1].astype(np.float32)
    roi[..., :3] = roi[..., :3] * (1 - cov[..., None]) + prem
    roi[..., 3] = roi[..., 3] * (1 - cov) + 255.0 * cov
    canvas[y0 : y1 + 1, x0 : x1 + 1] = np.clip(np.round(roi), 0, 255).astype(np.uint8)
    # the label at each pixel centre (for deciding whether eyes are covered by hair)
    centre = lab2[ss // 2 :: ss, ss // 2 :: ss]
    return np.array([x0, y0]), centre
