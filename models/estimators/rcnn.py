"""The "keypoint-rcnn" estimator: torchvision's COCO Keypoint R-CNN, the paper's task-pretrained baseline.

Table 1's "Task-Pretrained (R-CNN)" (OKS@50 0.758 on illustrations). It detects people in the whole image
and gives 17 COCO keypoints each, extended to the 25-point skeleton with the limb midpoints
(skeleton.midpoints_from_endpoints). Its weights are torchvision's own file in torch hub's cache
(paths.torch_hub_dir()/checkpoints); `posefinder models fetch keypoint-rcnn` downloads them there with
torchvision's hash-checked download. Nothing else ever downloads: where the file is absent the estimator
is unavailable and says so. The cached file is checked against the sha256 prefix in its name and read
with torch's weights-only loader (never a full unpickle).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path
from typing import Sequence

import numpy as np

from posefinder.models import paths, skeleton
from posefinder.models.errors import ModelError
from posefinder.models.estimators.base import Availability, resolve_device
from posefinder.models.pose import OCCLUDED, VISIBLE, Pose

NAME = "keypoint-rcnn"

#: Detections below this box score are dropped (the best one is kept when none reaches it).
MIN_BOX_SCORE = 0.5
#: A keypoint is visible (v=2) when sigmoid(its heatmap logit) reaches this, else guessed (v=1).
VISIBLE_SCORE = 0.3
MAX_CHARACTERS = 4

FETCH_HINT = "`posefinder models fetch keypoint-rcnn` downloads them once (needs the network)"


def weights_path() -> Path:
    """Where torchvision keeps the COCO Keypoint R-CNN weights (torch hub's checkpoints folder)."""
    from posefinder.models.nets import KEYPOINT_RCNN_COCO_FILE

    return paths.torch_hub_dir() / "checkpoints" / KEYPOINT_RCNN_COCO_FILE


def availability() -> Availability:
    """Available when torchvision's weights file is in torch hub's cache (no download, no hashing)."""
    path = weights_path()
    if path.is_file() and path.stat().st_size > 0:
        return Availability(NAME, True, f"torchvision's COCO Keypoint R-CNN weights at {path}")
    return Availability(NAME, False, f"its COCO weights are not in torch hub's cache ({path})", FETCH_HINT)


def _expected_sha256_prefix(path: Path) -> str:
    return path.stem.rsplit("-", 1)[-1]


def verified_state_dict(path: Path | None = None) -> dict:
    """The cached weights, checked against the sha256 prefix in their file name, read weights-only."""
    import torch

    path = weights_path() if path is None else Path(path)
    if not path.is_file():
        raise ModelError(f"{NAME}: its weights are not at {path}; {FETCH_HINT}")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(_expected_sha256_prefix(path)):
        raise ModelError(f"{path}: the cached Keypoint R-CNN weights are corrupt (wrong sha256); delete the file "
                         f"and run `posefinder models fetch keypoint-rcnn`")  # fmt: skip
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for broken archives
        raise ModelError(f"{path}: unreadable Keypoint R-CNN weights ({str(exc).splitlines()[0][:160]})") from None


def fetch(progress: bool = True) -> Path:
    """Download the weights with torchvision's own hash-checked download; ModelError when that fails."""
    from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights

    path = weights_path()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # torch hub announces the download on stdout
            KeypointRCNN_ResNet50_FPN_Weights.COCO_V1.get_state_dict(progress=progress, check_hash=True,
                                                                     weights_only=True)  # fmt: skip
    except Exception as exc:  # URLError, HTTPError, timeouts, hash mismatch: all mean "not fetched"
        reason = str(getattr(exc, "reason", "") or exc).strip().splitlines()
        raise ModelError(
            f"cannot download the Keypoint R-CNN weights ({reason[0][:160] if reason else type(exc).__name__}); "
            "check the network connection and try again"
        ) from None
    return path


def pose_from_detection(
    keypoints_xyv: np.ndarray,
    keypoint_logits: np.ndarray,
    box_xyxy: np.ndarray,
    box_score: float,
    image_size: tuple[int, int],
) -> Pose:
    """A 25-point Pose from one torchvision detection (17 keypoints in torchvision's continuous coordinates,
    where a pixel's centre is at +0.5; PoseFinder's is at +0)."""
    kp17 = np.zeros((skeleton.NUM_COCO, 3))
    kp17[:, :2] = np.asarray(keypoints_xyv, dtype=np.float64)[:, :2] - 0.5
    scores17 = 1.0 / (1.0 + np.exp(-np.asarray(keypoint_logits, dtype=np.float64)))
    kp17[:, 2] = np.where(scores17 >= VISIBLE_SCORE, VISIBLE, OCCLUDED)
    kp25 = skeleton.midpoints_from_endpoints(kp17)
    scores = np.zeros(skeleton.NUM_KEYPOINTS)
    scores[: skeleton.NUM_COCO] = scores17
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        scores[m] = min(scores17[a], scores17[b])
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    return Pose(
        keypoints=kp25,
        bbox_xywh=(x0, y0, x1 - x0, y1 - y0),
        image_size=image_size,
        source=f"model:{NAME}",
        scores=scores,
        score=float(box_score),
    )


class KeypointRCNNEstimator:
    """Runs a torchvision KeypointRCNN (eval mode) on whole images; people best first."""

    name = NAME

    def __init__(self, detector, *, device: str = "cpu", batch_size: int = 4) -> None:
        self.device = resolve_device(device)
        self.detector = detector.eval().to(self.device)
        self.batch_size = batch_size

    def estimate(self, image: np.ndarray) -> list[Pose]:
        return self.estimate_batch([image])[0]

    def estimate_batch(self, images: Sequence[np.ndarray]) -> list[list[Pose]]:
        import torch

        from posefinder.models.estimators.pipeline import check_image

        images = [check_image(im) for im in images]
        out: list[list[Pose]] = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                tensors = [torch.from_numpy(im).to(self.device).permute(2, 0, 1).float().div_(255) for im in chunk]
                for im, det in zip(chunk, self.detector(tensors)):
                    out.append(self._poses(det, (im.shape[1], im.shape[0])))
        return out

    def _poses(self, det: dict, image_size: tuple[int, int]) -> list[Pose]:
        scores = det["scores"].float().cpu().numpy()
        order = np.argsort(-scores, kind="stable")
        keep = [i for i in order if scores[i] >= MIN_BOX_SCORE] or list(order[:1])
        return [
            pose_from_detection(
                det["keypoints"][i].float().cpu().numpy(),
                det["keypoints_scores"][i].float().cpu().numpy(),
                det["boxes"][i].float().cpu().numpy(),
                float(scores[i]),
                image_size,
            )
            for i in keep[:MAX_CHARACTERS]
        ]


def load(device: str = "cpu") -> KeypointRCNNEstimator:
    """The estimator with torchvision's COCO weights from the cache (ModelError when absent or corrupt)."""
    from posefinder.models.nets.keypoint_rcnn import keypoint_rcnn

    state = verified_state_dict()
    detector = keypoint_rcnn(weights=None)
    try:
        detector.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0][:160]
        raise ModelError(f"{weights_path()}: not torchvision's Keypoint R-CNN weights ({reason})") from None
    return KeypointRCNNEstimator(detector, device=device)
