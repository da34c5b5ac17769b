"""The paper's inference pipeline: segment -> threshold -> boxes -> padded square crops -> heatmaps -> keypoints.

For each image (sections 3.1, 3.3 and 4.1 of the paper):
1. segment: the segmenter sees the image scaled so that its longer side is `segmenter_input_size`
   (letterboxed into a square with the fill colour, so that images of any shape run in one batch), or,
   with segmenter_resize="shorter" (the authors' models), its shorter side, aspect kept, no letterbox; its
   foreground probabilities are scaled back to the image and thresholded at 0.5. The segmenter runs at
   output stride `segmenter_output_stride`: 8 as trained (the paper's), or 16 for about a third less
   auto-pose time on a CPU (the estimator sets it: nets/segmenter.py, Segmenter.set_output_stride);
2. boxes: the mask's large connected components are the characters (regions.py; one component gives
   the paper's enclosing box). A mask with no foreground means no character: no pose;
3. crops: a square window centred on each box, padded by `padding` (10%) of its longer side on every
   side, resampled to the pose network's input size (geometry.py; parts outside the image are `fill`);
4. heatmaps: the pose network's 25 heatmap logits per crop, all crops of all images in batches;
5. keypoints: gaussian smoothing, argmax with sub-pixel refinement and per-joint scores (heatmaps.py),
   mapped exactly back to image pixels through the crop.
Poses come largest character first. Each joint's visibility is 2 when its score reaches
`visible_score`, else 1 (guessed); 1 as well when it falls outside the image; 0 (absent) below
`absent_score` (0 by default: every joint is given).

Without a segmenter (a model file with a pose network only) the first pass crops the whole image padded
to a centred square; when `refine` is on, a second pass crops the box around the first pass's confident
keypoints (grown by `refine_margin` to cover hair and feet, at least a quarter of the image's longer
side), padded as above, and the pass whose joints score higher on average is kept. The pose's bbox is
then None (the keypoints' box stands in).

The networks are plain callables: pose_net(x) with x (N, 3, S, S) float RGB in [0, 1] gives (N, 25, H, H)
logits; segmenter(x) with x (N, 3, s, s) gives (N, 1, s, s) logits. So the pipeline runs the paper's
networks, tests' fakes, or an exported runtime alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from posefinder.models import skeleton
from posefinder.models.estimators.geometry import CropBox, square_crop_box, whole_image_box
from posefinder.models.estimators.regions import RegionRules, character_regions
from posefinder.models.pose import ABSENT, OCCLUDED, VISIBLE, Pose, as_xywh

#: The mask is thresholded at this resolution at most (longer side), then its boxes are scaled to the image.
MAX_MASK_SIDE = 2048

#: The refined crop of the no-segmenter mode is at least this fraction of the image's longer side.
REFINE_MIN_SIDE = 0.25


@dataclass(frozen=True)
class PipelineSettings:
    """How the pipeline runs; a model card's "inference" entries override the defaults (from_card)."""

    input_size: int = 256
    heatmap_size: int = 128
    segmenter_input_size: int = 256
    segmenter_output_stride: int = 8
    threshold: float = 0.5
    padding: float = 0.1
    smoothing: float = 0.1
    fill: tuple[int, int, int] = (255, 255, 255)
    #: segmenter input: "longer" side at segmenter_input_size, letterboxed (batched), or "shorter" side at
    #: it, aspect ratio kept, no letterbox (the authors' pre-processing; one image per run)
    segmenter_resize: str = "longer"
    segmenter_fill: tuple[int, int, int] | None = None  # letterbox colour (None: fill)
    #: the 8 midpoints: from their own heatmaps ("network") or rebuilt from their endpoints ("endpoints")
    midpoints: str = "network"
    visible_score: float = 0.3
    absent_score: float = 0.0
    refine: bool = True
    refine_margin: float = 0.15
    batch_size: int = 16
    regions: RegionRules = field(default_factory=RegionRules)

    @classmethod
    def from_card(cls, card, **overrides: Any) -> "PipelineSettings":
        """Settings of a model card (posefinder.models.weights.ModelCard), with keyword overrides."""
        inference = dict(card.inference or {})
        kw: dict[str, Any] = {"input_size": int(card.input_size), "heatmap_size": int(card.heatmap_size)}
        if card.segmenter_input_size:
            kw["segmenter_input_size"] = int(card.segmenter_input_size)
        if "segmenter_output_stride" in inference:
            kw["segmenter_output_stride"] = int(inference["segmenter_output_stride"])
        for key in ("threshold", "padding", "smoothing", "visible_score", "absent_score", "refine_margin"):
            if key in inference:
                kw[key] = float(inference[key])
        if "fill" in inference:
            kw["fill"] = tuple(int(v) for v in inference["fill"])
        if inference.get("segmenter_fill") is not None:
            kw["segmenter_fill"] = tuple(int(v) for v in inference["segmenter_fill"])
        for key, allowed in (("segmenter_resize", ("longer", "shorter")), ("midpoints", ("network", "endpoints"))):
            if key in inference:
                if inference[key] not in allowed:
                    raise ValueError(f"inference.{key} must be one of {', '.join(allowed)}, not {inference[key]!r}")
                kw[key] = str(inference[key])
        if "refine" in inference:
            kw["refine"] = bool(inference["refine"])
        if "max_characters" in inference:
            kw["regions"] = replace(RegionRules(), max_characters=int(inference["max_characters"]))
        kw.update(overrides)
        return cls(**kw)


@dataclass
class Character:
    """One character to estimate: its crop, and its box and mask area (None without a segmenter)."""

    crop: CropBox
    bbox_xywh: tuple[float, float, float, float] | None
    area: int = 0


def check_image(image: np.ndarray) -> np.ndarray:
    """The image as an (H, W, 3) uint8 array; ValueError for anything else."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(f"an estimator takes an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    return image


class PosePipeline:
    """Runs a pose network (and optionally a segmenter) on images; see the module docstring.

    name: the estimator name written into Pose.source ("model:<name>"); model_name: the model file's name
    (kept in Pose.meta["model"]). device: where the networks live ("cpu" or "cuda").
    """

    def __init__(
        self,
        pose_net: Callable,
        segmenter: Callable | None = None,
        settings: PipelineSettings = PipelineSettings(),
        *,
        name: str = "model",
        model_name: str = "",
        device: str = "cpu",
        channels_last: bool = False,
    ) -> None:
        self.pose_net = pose_net
        self.segmenter = segmenter
        self.settings = settings
        self.name = name
        self.model_name = model_name
        self.device = device
        self.channels_last = channels_last

    # -- networks ---------------------------------------------------------------------------------
    def _run(self, network: Callable, batch: np.ndarray) -> np.ndarray:
        """A network's float32 output for a (N, S, S, 3) uint8 batch: numpy networks (takes_numpy, as
        ONNX Runtime's) take (N, 3, S, S) float32 RGB in [0, 1] as is, torch modules as a tensor on
        self.device (torch is imported only for them)."""
        if getattr(network, "takes_numpy", False):
            x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
            return np.asarray(network(x), dtype=np.float32)
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return network(x).float().cpu().numpy()

    def heatmap_logits(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """The pose network's (N, 25, H, H) float32 logits for (S, S, 3) uint8 crops, in batches."""
        out = [self._run(self.pose_net, np.stack(crops[start : start + self.settings.batch_size]))
               for start in range(0, len(crops), self.settings.batch_size)]  # fmt: skip
        return np.concatenate(out) if out else np.zeros((0, skeleton.NUM_KEYPOINTS, 1, 1), np.float32)

    def foreground(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Foreground probabilities of each image (float32, at most MAX_MASK_SIDE on the longer side)."""
        import cv2

        segmenter = self.segmenter
        if segmenter is None:
            raise ValueError("foreground() needs a segmenter; this estimator has a pose network only")
        s = self.settings.segmenter_input_size
        shorter = self.settings.segmenter_resize == "shorter"
        fill = np.asarray(self.settings.segmenter_fill or self.settings.fill, np.uint8)
        inputs, valid = [], []
        for image in images:
            h, w = image.shape[:2]
            scale = s / (min(h, w) if shorter else max(h, w))
            vw, vh = max(1, round(w * scale)), max(1, round(h * scale))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            resized = cv2.resize(image, (vw, vh), interpolation=interp)
            if shorter:
                canvas = resized
            else:
                canvas = np.empty((s, s, 3), np.uint8)
                canvas[...] = fill
                canvas[:vh, :vw] = resized
            inputs.append(canvas)
            valid.append((vw, vh))
        probs_all: list[np.ndarray] = []
        batch = 1 if shorter else self.settings.batch_size  # shorter: each image has its own shape
        for start in range(0, len(inputs), batch):
            logits = self._run(segmenter, np.stack(inputs[start : start + batch]))[:, 0]
            with np.errstate(over="ignore"):
                probs_all.extend((1.0 / (1.0 + np.exp(-logits))).astype(np.float32))
        out = []
        for image, (vw, vh), p in zip(images, valid, probs_all):
            h, w = image.shape[:2]
            mscale = min(1.0, MAX_MASK_SIDE / max(h, w))
            mw, mh = max(1, round(w * mscale)), max(1, round(h * mscale))
            out.append(cv2.resize(np.ascontiguousarray(p[:vh, :vw]), (mw, mh), interpolation=cv2.INTER_LINEAR))
        return out

    # -- characters -------------------------------------------------------------------------------
    def characters_from_mask(self, probs: np.ndarray, image_size: tuple[int, int]) -> list[Character]:
        """The characters of a foreground probability map (any resolution) of a (width, height) image."""
        w, h = image_size
        mh, mw = probs.shape
        sx, sy = w / mw, h / mh
        out = []
        for region in character_regions(probs > self.settings.threshold, self.settings.regions):
            x, y, bw, bh = region.bbox_xywh
            bbox = (x * sx, y * sy, bw * sx, bh * sy)
            crop = square_crop_box(bbox, self.settings.input_size, self.settings.padding)
            out.append(Character(crop, bbox, region.area))
        return out

    # -- estimation -------------------------------------------------------------------------------
    def estimate(self, image: np.ndarray) -> list[Pose]:
        """The poses of the characters in an (H, W, 3) uint8 RGB image, largest first."""
        return self.estimate_batch([image])[0]

    def estimate_batch(self, images: Sequence[np.ndarray]) -> list[list[Pose]]:
        """estimate() of many images, with the networks run in batches."""
        images = [check_image(im) for im in images]
        if not images:
            return []
        if self.segmenter is not None:
            masks = self.foreground(images)
            chars = [self.characters_from_mask(m, (im.shape[1], im.shape[0])) for im, m in zip(images, masks)]
        else:
            chars = [[Character(whole_image_box((im.shape[1], im.shape[0]), self.settings.input_size), None)]
                     for im in images]  # fmt: skip
        poses = self._poses(images, chars)
        if self.segmenter is None and self.settings.refine:
            poses = self._refined(images, poses)
        return poses

    def estimate_in_boxes(self, images: Sequence[np.ndarray], boxes_xywh: Sequence) -> list[Pose]:
        """The pose of the character in a given box (pixel edges) of each image, one per image: the crop,
        heatmaps, decoding and mapping of estimate(), with the box given instead of segmented (evaluation
        with ground-truth boxes, as the paper's Table 1 scores pose networks)."""
        images = [check_image(im) for im in images]
        s = self.settings
        chars = [[Character(square_crop_box(box, s.input_size, s.padding), as_xywh(box))]
                 for box in boxes_xywh]  # fmt: skip
        return [poses[0] for poses in self._poses(images, chars)]

    def _poses(self, images: Sequence[np.ndarray], chars: list[list[Character]]) -> list[list[Pose]]:
        flat = [(i, c) for i, cs in enumerate(chars) for c in cs]
        crops = [c.crop.extract(images[i], self.settings.fill) for i, c in flat]
        out: list[list[Pose]] = [[] for _ in images]
        if not crops:
            return out
        from posefinder.models.estimators.heatmaps import decode_heatmaps

        uv, scores = decode_heatmaps(self.heatmap_logits(crops), self.settings.smoothing)
        hm = self.settings.heatmap_size
        for (i, char), uv_i, sc_i in zip(flat, uv, scores):
            xy = char.crop.heatmap_to_image(uv_i, hm)
            if self.settings.midpoints == "endpoints":
                xy, sc_i = midpoints_from_endpoints(xy, sc_i)
            out[i].append(self._pose(xy, sc_i, char, images[i].shape))
        return out

    def _pose(self, xy: np.ndarray, scores: np.ndarray, char: Character, shape) -> Pose:
        h, w = shape[:2]
        s = self.settings
        vis = np.where(scores >= s.visible_score, VISIBLE, OCCLUDED).astype(np.float64)
        outside = (xy[:, 0] < -0.5) | (xy[:, 1] < -0.5) | (xy[:, 0] > w - 0.5) | (xy[:, 1] > h - 0.5)
        vis[outside] = OCCLUDED
        vis[scores < s.absent_score] = ABSENT
        meta = {"crop_xywh": char.crop.window_xywh(), "area": char.area}
        if self.model_name:
            meta["model"] = self.model_name
        return Pose(
            keypoints=np.concatenate([xy, vis[:, None]], axis=1),
            bbox_xywh=char.bbox_xywh,
            image_size=(w, h),
            source=f"model:{self.name}",
            scores=scores,
            score=float(scores.mean()),
            meta=meta,
        )

    def _refined(self, images: Sequence[np.ndarray], first: list[list[Pose]]) -> list[list[Pose]]:
        """Second pass of the no-segmenter mode: crop around the first pass's confident keypoints."""
        chars: list[list[Character]] = []
        for image, pose in zip(images, (p[0] for p in first)):
            min_side = REFINE_MIN_SIDE * max(image.shape[:2])  # the pose's image_size
            box = _keypoint_box(pose, self.settings.visible_score, self.settings.refine_margin, min_side)
            crop = None if box is None else square_crop_box(box, self.settings.input_size, self.settings.padding)
            chars.append([] if crop is None else [Character(crop, None)])
        second = self._poses(images, chars)
        return [[b[0]] if b and (b[0].score or 0.0) > (a[0].score or 0.0) else a for a, b in zip(first, second)]


def midpoints_from_endpoints(xy: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(25, 2) points and (25,) scores with each midpoint rebuilt from its endpoints: their mean, and the
    lower of their scores (for networks whose 8 extra channels have no documented order)."""
    xy, scores = np.array(xy, np.float64), np.array(scores, np.float64)
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        xy[m] = (xy[a] + xy[b]) / 2.0
        scores[m] = min(scores[a], scores[b])
    return xy, scores


def _keypoint_box(pose: Pose, min_score: float, margin: float, min_side: float):
    """The box (pixel edges) around a pose's confident keypoints, grown by margin of its longer side, and
    at least min_side on each side (around the same centre)."""
    keep = pose.present if pose.scores is None else pose.present & (pose.scores >= min_score)
    if keep.sum() < 2:
        keep = pose.present
    if not keep.any():
        return None
    lo, hi = pose.xy[keep].min(axis=0) - 0.5, pose.xy[keep].max(axis=0) + 0.5
    size = hi - lo
    size = np.maximum(size + 2 * margin * size.max(), min_side)
    centre = (lo + hi) / 2
    x0, y0 = centre - size / 2
    return (float(x0), float(y0), float(size[0]), float(size[1]))

