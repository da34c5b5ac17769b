"""Backgrounds for synthetic figures: flat colours, gradients, noise textures, random shapes and lines,
stripes and checks, and a floor line with the figure's shadow."""

from __future__ import annotations

import cv2
import numpy as np

from posefinder.build.synthetic.style import random_color, shade

KINDS = ("flat", "gradient", "radial", "noise", "shapes", "stripes", "floor")
_WEIGHTS = np.array([0.12, 0.18, 0.1, 0.16, 0.2, 0.08, 0.16])


def _color(rng) -> np.ndarray:
    return np.asarray(random_color(rng, sat=(0.0, 0.8), val=(0.15, 1.0)), dtype=np.float32)


def _grid(w: int, h: int):
    return np.arange(w, dtype=np.float32)[None, :], np.arange(h, dtype=np.float32)[:, None]


def flat(rng, w: int, h: int) -> np.ndarray:
    return np.broadcast_to(_color(rng).astype(np.uint8), (h, w, 3)).copy()


def _ramp(t: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Colours c0 -> c1 at t in [0, 1] (H, W), through a 256-entry lookup table."""
    lut = (c0[None, :] + np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None] * (c1 - c0)[None, :]).astype(np.uint8)
    idx = np.clip(t * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return lut[idx]


def gradient(rng, w: int, h: int) -> np.ndarray:
    x, y = _grid(w, h)
    a = rng.uniform(0, 2 * np.pi)
    cx, cy = np.cos(a), np.sin(a)
    lo = min(0.0, cx * (w - 1)) + min(0.0, cy * (h - 1))
    hi = max(0.0, cx * (w - 1)) + max(0.0, cy * (h - 1))
    t = (x * np.float32(cx / (hi - lo)) + y * np.float32(cy / (hi - lo))) - np.float32(lo / (hi - lo))
    return _ramp(t, _color(rng), _color(rng))


def radial(rng, w: int, h: int) -> np.ndarray:
    x, y = _grid(w, h)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    t = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) * np.float32(rng.uniform(1.0, 2.0) / float(np.hypot(w, h)))
    return _ramp(t, _color(rng), _color(rng))


def noise(rng, w: int, h: int) -> np.ndarray:
    base = gradient(rng, w, h).astype(np.float32) if rng.random() < 0.5 else flat(rng, w, h).astype(np.float32)
    out = base
    for cell, amp in ((int(rng.integers(16, 64)), rng.uniform(15, 55)), (int(rng.integers(3, 8)), rng.uniform(5, 25))):
        colour = rng.random() < 0.3
        small = rng.standard_normal((h // cell + 2, w // cell + 2, 3 if colour else 1)).astype(np.float32)
        if colour:
            amp *= 0.6
        big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        if big.ndim == 2:
            big = big[..., None]
        out = out + amp * big
    return np.clip(out, 0, 255).astype(np.uint8)


def shapes(rng, w: int, h: int) -> np.ndarray:
    img = gradient(rng, w, h) if rng.random() < 0.5 else flat(rng, w, h)
    s = float(max(w, h))
    for _ in range(int(rng.integers(3, 14))):
        color = tuple(int(v) for v in _color(rng))
        kind = rng.random()
        if kind < 0.3:
            c = (int(rng.uniform(0, w) * 16), int(rng.uniform(0, h) * 16))
            width = -1 if rng.random() < 0.7 else int(rng.integers(1, 6))
            cv2.circle(img, c, int(rng.uniform(0.03, 0.3) * s * 16), color, width, cv2.LINE_AA, 4)
        elif kind < 0.6:
            centre = (rng.uniform(0, w), rng.uniform(0, h))
            rect = (centre, (rng.uniform(0.05, 0.6) * s, rng.uniform(0.05, 0.6) * s), rng.uniform(0, 90))
            box = np.round(cv2.boxPoints(rect) * 16).astype(np.int32)
            cv2.fillConvexPoly(img, box, color, cv2.LINE_AA, 4)
        elif kind < 0.85:
            p0 = (int(rng.uniform(-0.2, 1.2) * w * 16), int(rng.uniform(-0.2, 1.2) * h * 16))
            p1 = (int(rng.uniform(-0.2, 1.2) * w * 16), int(rng.uniform(-0.2, 1.2) * h * 16))
            cv2.line(img, p0, p1, color, int(rng.integers(1, max(2, int(s * 0.03)))), cv2.LINE_AA, 4)
        else:
            tri = np.round(np.stack([rng.uniform(0, w, 3), rng.uniform(0, h, 3)], axis=1) * 16).astype(np.int32)
            cv2.fillConvexPoly(img, tri, color, cv2.LINE_AA, 4)
    return img


def stripes(rng, w: int, h: int) -> np.ndarray:
    x, y = _grid(w, h)
    period = rng.uniform(0.03, 0.2) * max(w, h)
    a = rng.uniform(0, np.pi)
    u = (x * np.cos(a) + y * np.sin(a)) / period
    if rng.random() < 0.35:
        v = (-x * np.sin(a) + y * np.cos(a)) / period
        t = (np.floor(u) + np.floor(v)) % 2
    else:
        t = np.floor(u) % 2
    c0 = _color(rng)
    c1 = np.asarray(shade(c0, rng.uniform(0.7, 1.3)), dtype=np.float32) if rng.random() < 0.6 else _color(rng)
    return _ramp(t.astype(np.float32), c0, c1)


def floor(rng, w: int, h: int, floor_y: float | None = None, figure_x: tuple[float, float] | None = None) -> np.ndarray:
    """A wall and a floor meeting at floor_y (the figure's lowest point), with a soft shadow under the figure."""
    fy = int(round(floor_y if floor_y is not None else rng.uniform(0.6, 0.95) * h))
    fy = int(np.clip(fy, 1, h - 1))
    img = gradient(rng, w, h) if rng.random() < 0.5 else flat(rng, w, h)
    floor_color = _color(rng)
    img[fy:] = np.clip(floor_color + rng.normal(0, 6, (h - fy, 1, 1)), 0, 255).astype(np.uint8)
    line = tuple(int(v) for v in shade(floor_color, 0.6))
    cv2.line(img, (0, fy), (w - 1, fy), line, max(1, int(round(max(w, h) * 0.004))), cv2.LINE_AA)
    if figure_x is not None:
        x0, x1 = figure_x
        shadow = img.copy()
        cx = int(round((x0 + x1) / 2 * 16))
        axes = (max(16, int((x1 - x0) * 0.6 * 16)), max(16, int((x1 - x0) * 0.08 * 16 + 32)))
        dark = tuple(int(v) for v in shade(floor_color, 0.5))
        cv2.ellipse(shadow, (cx, fy * 16), axes, 0, 0, 360, dark, -1, cv2.LINE_AA, 4)
        img = cv2.addWeighted(img, 0.6, shadow, 0.4, 0)
    return img


_MAKERS = {"flat": flat, "gradient": gradient, "radial": radial, "noise": noise, "shapes": shapes, "stripes": stripes}


def make_background(
    rng: np.random.Generator,
    size: tuple[int, int],
    kind: str | None = None,
    floor_y: float | None = None,
    figure_x: tuple[float, float] | None = None,
) -> tuple[np.ndarray, str]:
    """((H, W, 3) uint8 background, its kind) for an image of size (W, H); kind None draws one of KINDS."""
    w, h = int(size[0]), int(size[1])
    if kind is None or kind == "random":
        kind = KINDS[int(rng.choice(len(KINDS), p=_WEIGHTS / _WEIGHTS.sum()))]
    if kind == "floor":
        return floor(rng, w, h, floor_y, figure_x), kind
    if kind not in _MAKERS:
        raise ValueError(f"unknown background {kind!r}; use one of: random, {', '.join(KINDS)}")
    return _MAKERS[kind](rng, w, h), kind
