"""Tagger data: Danbooru metadata and sidecars, the paper's filters, the rulebook, the split, augmentation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

from posefinder.build.data import danbooru  # noqa: E402
from posefinder.build.data.danbooru import DatasetError, PaperFilter, TaggedImage, TaggerAugment, TagAugmentParams  # noqa: E402
from posefinder.build.data.rulebook import GROUPS, RulebookError, load_rulebook, normalize_tag  # noqa: E402
from posefinder.build.data.splits import split_of  # noqa: E402
from tagseg_helpers import BASE_TAGS, post, tiny_rulebook, write_image, write_metadata  # noqa: E402

# -- metadata ----------------------------------------------------------------------------------------


def test_jsonl_metadata_finds_images_flat_and_in_bucket_folders(tmp_path):
    images = tmp_path / "512px"
    write_image(images / "123.jpg")
    write_image(images / "0567" / "1234567.jpg")  # Danbooru's bucket: id mod 1000, 4 digits
    write_image(images / "77.png")
    meta = write_metadata(tmp_path / "metadata" / "2021.json", [
        post(123, ["solo", "1girl", "long_hair"], width=1000, height=1500, ext="png"),  # .png upload, .jpg on disk
        post(1234567, ["Solo", "1girl", "blue_eyes"], style="tags", rating="q"),  # Danbooru2019 tag objects
        post(77, ["solo"], ext="png"),
        post(999, ["solo"]),  # no image on disk
    ])  # fmt: skip
    posts, missing = danbooru.read_metadata(meta, images)
    assert missing == 1
    by_id = {p.post_id: p for p in posts}
    assert set(by_id) == {"123", "1234567", "77"}
    assert by_id["123"].image_path == images / "123.jpg"
    assert by_id["123"].tags == ("solo", "1girl", "long_hair")
    assert (by_id["123"].width, by_id["123"].height, by_id["123"].rating) == (1000, 1500, "s")
    assert by_id["1234567"].image_path == images / "0567" / "1234567.jpg"
    assert by_id["1234567"].tags == ("solo", "1girl", "blue_eyes") and by_id["1234567"].rating == "q"
    assert by_id["77"].image_path.suffix == ".png"
    # a metadata folder reads every file in it
    assert {p.post_id for p in danbooru.read_posts(images, [tmp_path / "metadata"])} == set(by_id)


def test_broken_metadata_gets_a_one_line_error_with_its_line(tmp_path):
    write_image(tmp_path / "img" / "1.jpg")
    meta = tmp_path / "meta.jsonl"
    meta.write_text(json.dumps(post(1, ["solo"])) + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"meta\.jsonl:2: not a JSON object per line"):
        danbooru.read_metadata(meta, tmp_path / "img")
    meta.write_text(json.dumps({"tag_string": "solo"}) + "\n")
    with pytest.raises(DatasetError, match=r"meta\.jsonl:1: the post has no \"id\""):
        danbooru.read_metadata(meta, tmp_path / "img")
    with pytest.raises(DatasetError, match="no such metadata"):
        danbooru.read_metadata(tmp_path / "nope.json", tmp_path / "img")


def test_sidecars_txt_comma_and_space_separated_and_json(tmp_path):
    folder = tmp_path / "imgs"
    a = write_image(folder / "a.png")
    a.with_suffix(".txt").write_text("1girl, long hair, Blue Eyes,  solo\n")  # kohya / WD tagger style
    b = write_image(folder / "sub" / "b.jpg")
    (folder / "sub" / "b.jpg.txt").write_text("solo 1girl long_hair\n")  # hydrus style <image>.txt
    c = write_image(folder / "c.webp", size_wh=(30, 20))
    (folder / "c.webp.json").write_text(json.dumps({"id": 42, "tag_string": "solo 1boy", "image_width": 900,
                                                    "image_height": 700, "rating": "g"}))
    write_image(folder / "untagged.png")
    posts, missing = danbooru.read_sidecars(folder)
    assert missing == 1
    by_path = {p.image_path: p for p in posts}
    assert by_path[a].tags == ("1girl", "long_hair", "blue_eyes", "solo") and by_path[a].post_id == "a"
    assert by_path[b].tags == ("solo", "1girl", "long_hair")
    assert by_path[c].post_id == "42" and by_path[c].tags == ("solo", "1boy")
    assert (by_path[c].width, by_path[c].height, by_path[c].rating) == (900, 700, "g")
    assert by_path[a].size() == (64, 48)  # no size in a .txt sidecar: read from the file


# -- filters -----------------------------------------------------------------------------------------


def _post(tags, w=600, h=800, pid="1"):
    return TaggedImage(post_id=pid, image_path=Path(f"{pid}.jpg"), tags=tuple(tags), width=w, height=h)  # never read


@pytest.mark.parametrize(
    "tags, size, reason",
    [
        (BASE_TAGS, (600, 800), None),
        ([t for t in BASE_TAGS if t != "solo"], (600, 800), "not_solo"),
        ([t for t in BASE_TAGS if t != "1girl"], (600, 800), "not_solo"),
        ([t if t != "1girl" else "1boy" for t in BASE_TAGS], (600, 800), None),
        (BASE_TAGS + ["comic"], (600, 800), "comic"),
        (BASE_TAGS + ["4koma"], (600, 800), "comic"),
        (BASE_TAGS + ["multiple_views"], (600, 800), "comic"),
        (BASE_TAGS + ["doujinshi"], (600, 800), "comic"),
        (BASE_TAGS, (2000, 511), "too_small"),  # the short side counts ...
        (BASE_TAGS, (512, 2000), None),  # ... a long image with a 512 px short side passes
        (BASE_TAGS, (512, 512), None),
    ],
)
def test_paper_filter_rules(tags, size, reason):
    rulebook = load_rulebook()
    assert PaperFilter().reason_to_drop(_post(tags, *size), rulebook) == reason


def test_at_least_12_positive_tags_counted_on_classes_or_raw(tmp_path):
    rulebook = load_rulebook()
    tags = list(BASE_TAGS)
    classes = rulebook.class_indices(tags)
    assert len(classes) >= 12
    # drop class-bearing tags until exactly 12 classes remain, then one more
    while len(rulebook.class_indices(tags)) > 12:
        tags.pop()
    assert PaperFilter().reason_to_drop(_post(tags), rulebook) is None
    fewer = tags[:-1]
    assert len(rulebook.class_indices(fewer)) == 11
    assert PaperFilter().reason_to_drop(_post(fewer), rulebook) == "few_tags"
    # counted on raw tags, 12 raw tags are enough whatever the rulebook says
    raw12 = ["solo", "1girl"] + [f"unknown_tag_{i}" for i in range(10)]
    assert PaperFilter(count_tags_on="raw").reason_to_drop(_post(raw12), rulebook) is None
    assert PaperFilter(count_tags_on="raw").reason_to_drop(_post(raw12[:-1]), rulebook) == "few_tags"
    assert PaperFilter().reason_to_drop(_post(raw12), rulebook) == "few_tags"


def test_filter_reads_the_size_from_the_file_when_metadata_has_none(tmp_path):
    small = write_image(tmp_path / "s.png", size_wh=(700, 300))
    big = write_image(tmp_path / "b.png", size_wh=(520, 640))
    posts = [TaggedImage("s", small, tuple(BASE_TAGS)), TaggedImage("b", big, tuple(BASE_TAGS))]
    kept, report = danbooru.filter_posts(posts + [_post(["solo"], pid="x")], PaperFilter(), load_rulebook())
    assert [p.post_id for p in kept] == ["b"]
    assert report.kept == 1 and report.dropped == {"too_small": 1, "not_solo": 1}
    assert "kept 1" in report.summary() and "too_small 1" in report.summary()


def test_ratings_filter_only_when_asked():
    p = _post(BASE_TAGS)
    p.rating = "e"
    assert PaperFilter().reason_to_drop(p, load_rulebook()) is None
    assert PaperFilter(ratings=frozenset({"s", "g"})).reason_to_drop(p, load_rulebook()) == "rating"


# -- rulebook ----------------------------------------------------------------------------------------


def test_starter_rulebook_loads_with_the_papers_kinds_of_classes():
    rulebook = load_rulebook()
    counts = rulebook.group_counts()
    assert set(counts) == set(GROUPS) and all(counts[g] >= 20 for g in GROUPS)
    assert len(rulebook) >= 200
    names = set(rulebook.class_names)
    for expected in ("blue_hair", "long_hair", "red_eyes", "skirt", "thighhighs", "hat", "bare_shoulders",
                     "sitting", "hand_in_hair", "from_behind", "full_body"):
        assert expected in names
    # union rules: the paper's examples map to one class
    hand = rulebook.class_names.index("hand_in_hair")
    for raw in ("hand_in_hair", "adjusting_hair", "hair_tucking"):
        assert rulebook.encode([raw])[hand] == 1
    blue = rulebook.class_names.index("blue_hair")
    assert rulebook.encode(["aqua_hair"])[blue] == 1 and rulebook.encode(["Aqua Hair"])[blue] == 1
    assert rulebook.encode(["solo", "1girl"]).sum() == 0


def test_rulebook_format_allows_the_papers_1062_classes(tmp_path):
    classes = {f"class_{i}": {"group": GROUPS[i % 3], "tags": [f"tag_{i}", f"tag_{i}_b"]} for i in range(1062)}
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"format": "posefinder-rulebook", "version": 1, "classes": classes}))
    book = load_rulebook(path)
    assert len(book) == 1062 and book.class_names[1061] == "class_1061"
    labels = book.encode(["tag_5_b", "tag_1061"])
    assert labels.nonzero()[0].tolist() == [5, 1061]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{nope", "not valid JSON"),
        (json.dumps([1, 2]), "a rulebook is a JSON object"),
        (json.dumps({"classes": {"a": ["a"]}}), "not a PoseFinder rulebook"),
        (json.dumps({"format": "posefinder-rulebook", "version": 99, "classes": {"a": ["a"]}}), "newer"),
        (json.dumps({"format": "posefinder-rulebook", "version": "1", "classes": {"a": ["a"]}}), "whole number"),
        (json.dumps({"format": "posefinder-rulebook", "version": 1, "classes": {}}), "non-empty object"),
        (json.dumps({"format": "posefinder-rulebook", "version": 1, "classes": {"a": []}}), "class 'a': needs a non-empty list"),
        (json.dumps({"format": "posefinder-rulebook", "version": 1, "classes": {"a": "a"}}), "needs a non-empty list"),
        (json.dumps({"format": "posefinder-rulebook", "version": 1, "classes": {"a": ["x", "X"]}}), "listed twice"),
        (json.dumps({"format": "posefinder-rulebook", "version": 1, "classes": {"a": [3]}}), "non-empty strings"),
        (json.dumps({"format": "posefinder-rulebook", "version": 1,
                     "classes": {"a": {"group": "shoes", "tags": ["a"]}}}), "group 'shoes' is not one of"),
        (json.dumps({"format": "posefinder-rulebook", "version": 1,
                     "classes": {"a": {"tagz": ["a"]}}}), "unknown key 'tagz'"),
        (json.dumps({"format": "posefinder-rulebook", "version": 1,
                     "classes": {"Long Hair": ["a"], "long_hair": ["b"]}}), "defined twice"),
    ],
)
def test_rulebook_validation_errors_are_clear(tmp_path, content, message):
    path = tmp_path / "rules.json"
    path.write_text(content)
    with pytest.raises(RulebookError, match=message) as info:
        load_rulebook(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_rulebook_file(tmp_path):
    with pytest.raises(RulebookError, match="no such rulebook file"):
        load_rulebook(tmp_path / "absent.json")


def test_rulebook_roundtrip_and_normalised_tags(tmp_path):
    book = load_rulebook(tiny_rulebook(tmp_path / "r.json"))
    assert book.class_names == ["red_hair", "blue_hair", "solo"]
    assert normalize_tag("  Long  Hair ") == "long_hair"
    from posefinder.build.data.rulebook import Rulebook, save_rulebook

    again = load_rulebook(save_rulebook(book, tmp_path / "again.json"))
    assert again.classes == book.classes and isinstance(again, Rulebook)


# -- split -------------------------------------------------------------------------------------------


def test_split_is_80_10_10_deterministic_and_stable_as_data_grows():
    keys = [str(i) for i in range(20000)]
    splits = [split_of(k) for k in keys]
    assert splits == [split_of(k) for k in keys]  # deterministic
    share = {s: splits.count(s) / len(keys) for s in ("train", "val", "test")}
    assert abs(share["train"] - 0.8) < 0.015 and abs(share["val"] - 0.1) < 0.01 and abs(share["test"] - 0.1) < 0.01
    # adding images never moves one: the split of the first 1000 posts is the same within all 20000
    small = danbooru.split_posts([_post(BASE_TAGS, pid=k) for k in keys[:1000]])
    grown = danbooru.split_posts([_post(BASE_TAGS, pid=k) for k in reversed(keys)])
    for name in small:
        assert {p.post_id for p in small[name]} <= {p.post_id for p in grown[name]}
    assert split_of("12345") == split_of(12345)


# -- augmentation ------------------------------------------------------------------------------------


def _bar_image(size=101):
    image = np.full((size, size, 3), 255, np.uint8)
    image[size // 2 - 2 : size // 2 + 3, 15:-15] = (200, 40, 40)
    return image


def _bar_angle_deg(image) -> float:
    ys, xs = np.nonzero((image[..., 1] < 150) & (image[..., 0] > 120))
    pts = np.stack([xs, ys], 1).astype(float)
    pts -= pts.mean(0)
    _, _, vt = np.linalg.svd(pts, full_matrices=False)
    dx, dy = vt[0]
    angle = np.degrees(np.arctan2(-dy, dx))  # image y points down: anticlockwise is positive
    return (angle + 90) % 180 - 90


def test_augmentation_rotates_at_most_15_degrees_and_flips_horizontally():
    aug = TaggerAugment()
    rng = np.random.default_rng(0)
    params = [aug.sample(rng) for _ in range(2000)]
    angles = np.array([p.angle_deg for p in params])
    assert np.abs(angles).max() <= 15.0 and angles.min() < -14 and angles.max() > 14
    flips = np.mean([p.flip for p in params])
    assert 0.45 < flips < 0.55
    # the applied rotation is the sampled one, measured on the image
    bar = _bar_image()
    for angle in (-15.0, -7.0, 10.0, 15.0):
        out = aug.apply(bar, TagAugmentParams(angle_deg=angle))
        assert _bar_angle_deg(out) == pytest.approx(angle, abs=1.0)
    # 200 random augmentations of the bar: never tilted by more than 15 degrees (flips mirror the sign)
    measured = [abs(_bar_angle_deg(aug(bar, rng))) for _ in range(200)]
    assert max(measured) <= 16.0
    # a flip is a horizontal mirror, never a vertical one
    image = np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(aug.apply(image, TagAugmentParams(flip=True)), image[:, ::-1])
    with pytest.raises(ValueError, match="15 degrees"):
        TaggerAugment(max_rotation_deg=30)


def test_augmentation_never_changes_hue():
    rng = np.random.default_rng(2)
    image = rng.integers(60, 190, (32, 32, 3), dtype=np.uint8)  # mid-range colours: brightness never clips
    chroma = image.max(-1).astype(int) - image.min(-1)
    hue_before = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)[..., 0].astype(int)
    aug = TaggerAugment()
    for _ in range(50):
        params = aug.sample(rng)
        out = aug.apply(image, TagAugmentParams(brightness=params.brightness, contrast=params.contrast))
        assert not np.array_equal(out, image)
        hue_after = cv2.cvtColor(out, cv2.COLOR_RGB2HSV_FULL)[..., 0].astype(int)
        diff = np.abs(hue_before - hue_after)
        diff = np.minimum(diff, 256 - diff)
        # hue is defined where a pixel has colour; rounding to uint8 moves it by a few steps at most
        assert diff[chroma >= 20].max() <= 6


def test_tagger_dataset_yields_letterboxed_images_and_labels(tmp_path):
    from tagseg_helpers import tiny_tag_folder

    folder = tiny_tag_folder(tmp_path, n=4, size=(40, 20))
    book = load_rulebook(tiny_rulebook(tmp_path / "r.json"))
    posts = sorted(danbooru.read_sidecars(folder)[0], key=lambda p: p.post_id)
    data = danbooru.TaggerDataset(posts, book, input_size=32, augment=TaggerAugment(), seed=3)
    image, labels = data[0]
    assert tuple(image.shape) == (3, 32, 32) and 0 <= float(image.min()) and float(image.max()) <= 1
    assert labels.tolist() == [1.0, 0.0, 1.0]  # red_hair, solo
    assert data[1][1].tolist() == [0.0, 1.0, 1.0]
    assert np.array_equal(data.image(2), data.image(2))  # seeded: reproducible per (seed, epoch, index)
    plain = danbooru.TaggerDataset(posts, book, input_size=32)
    letterboxed = plain.image(0)
    assert (letterboxed[:7] == 255).all() and (letterboxed[-7:] == 255).all()  # 40x20 padded to a square
