"""Reading lists: seeded blinded order, JSON round trip, navigation, imported maps."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from viewer.study.reading_list import (
    ReadingList,
    SliceTarget,
    discover_imported_maps,
    load_imported_map,
    slice_targets_from_series,
    validate_method,
)

METHODS = ["gan", "gradcam", "msgradcam", "smoothgrad"]


def slices(n=10):
    sev = ["mild", "common", "severe", "critical", None]
    return [SliceTarget(i, "1.2", "1.2.3", f"1.2.3.{i}", severity_category=sev[i % 5])
            for i in range(n)]


def order(rl):
    return [(it.slice_index, it.method) for it in rl.items]


def test_order_reproducible_from_seed_and_independent_of_input_order():
    a = ReadingList.build(slices(), METHODS, seed=42)
    b = ReadingList.build(list(reversed(slices())), list(reversed(METHODS)), seed=42)
    c = ReadingList.build(slices(), METHODS, seed=43)
    assert len(a) == 40 and order(a) == order(b) and order(a) != order(c)
    assert sorted(order(a)) == [(i, m) for i in range(10) for m in sorted(METHODS)]
    assert order(a) != sorted(order(a))  # shuffled
    assert [it.code for it in a.items[:3]] == ["R001", "R002", "R003"]
    # the code does not reveal the method: same code position, other methods across seeds
    assert len({ReadingList.build(slices(), METHODS, seed=s).items[0].method
                for s in range(20)}) > 1


def test_random_seed_is_recorded_and_reproduces():
    a = ReadingList.build(slices(), METHODS)
    assert order(ReadingList.build(slices(), METHODS, seed=a.seed)) == order(a)


def test_json_round_trip(tmp_path):
    a = ReadingList.build(slices(), ["gan", "gradcam"], seed=7, name="sample")
    path = a.save(tmp_path / "list.json")
    b = ReadingList.load(path)
    assert b.items == a.items and b.seed == 7 and b.blinded and b.name == "sample"
    assert json.loads(path.read_text())["items"][0]["code"] == "R001"


def test_progress_and_next_unscored():
    rl = ReadingList.build(slices(3), ["gan", "gradcam"], seed=1)
    keys = [it.key for it in rl.items]
    assert str(rl.progress([])) == "0 / 6 scored"
    assert rl.next_unscored([]) == 0
    scored = {keys[0], keys[1], keys[3]}
    assert str(rl.progress(scored | {keys[0]})) == "3 / 6 scored"
    assert rl.next_unscored(scored, after=0) == 2
    assert rl.next_unscored(scored, after=3) == 4
    assert rl.next_unscored(scored - {keys[0]}, after=5) == 0  # wraps
    assert rl.next_unscored(set(keys)) is None
    assert rl.index_of(keys[4]) == 4
    req = rl.items[2].request(blinded=True)
    assert req["blinded"] is True and req["method"] == rl.items[2].method


def test_bad_inputs():
    with pytest.raises(ValueError, match="no slices"):
        ReadingList.build([], METHODS, seed=1)
    with pytest.raises(ValueError, match="no methods"):
        ReadingList.build(slices(), [], seed=1)
    with pytest.raises(ValueError, match="method 'cam'"):
        ReadingList.build(slices(), ["gan", "cam"], seed=1)
    with pytest.raises(ValueError, match="given twice"):
        ReadingList.build(slices(2) + slices(1), METHODS, seed=1)
    with pytest.raises(ValueError, match="seed"):
        ReadingList.build(slices(), METHODS, seed=-3)
    with pytest.raises(ValueError, match="no map files"):
        ReadingList.build(slices(), ["import:mine"], seed=1)
    with pytest.raises(ValueError, match="severity"):
        ReadingList.build([SliceTarget(0, sop_instance_uid="1", severity_category="bad")],
                          METHODS, seed=1)
    assert validate_method("import:unet_v2") == "import:unet_v2"


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ReadingList.load(tmp_path / "nope.json")
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ReadingList.load(p)
    p.write_text(json.dumps({"format": "something"}))
    with pytest.raises(ValueError, match="not a reading list"):
        ReadingList.load(p)
    good = ReadingList.build(slices(2), ["gan"], seed=1).to_json()
    good["items"][1]["slice_index"] = -4
    p.write_text(json.dumps(good))
    with pytest.raises(ValueError, match="item 2: slice index"):
        ReadingList.load(p)


def test_imported_maps(tmp_path):
    folder = tmp_path / "maps"
    folder.mkdir()
    np.save(folder / "slice_000.npy", np.full((4, 5), 0.5, np.float32))
    Image.fromarray(np.full((4, 5), 255, np.uint8)).save(folder / "slice_002.png")
    (folder / "readme.txt").write_text("ignored")
    # what a killed export leaves behind is hidden, not a second map of slice 0
    np.save(folder / ".part-0123456789-slice_000.npy", np.zeros((4, 5), np.float32))
    found = discover_imported_maps(folder)
    assert sorted(found) == [0, 2] and found[0].name == "slice_000.npy"
    rl = ReadingList.build(slices(3), ["gan", "import:mine"], seed=5,
                           imported_maps={"import:mine": found})
    imported = [it for it in rl.items if it.method == "import:mine"]
    assert sorted(it.slice_index for it in imported) == [0, 2]
    assert all(it.map_path for it in imported) and len(rl) == 5
    assert load_imported_map(found[0], (4, 5)).mean() == pytest.approx(0.5)
    assert load_imported_map(found[2]).max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differs from the slice"):
        load_imported_map(found[0], (5, 5))
    np.save(folder / "bad_005.npy", np.full((4, 5), 3.0))
    with pytest.raises(ValueError, match="outside"):
        load_imported_map(folder / "bad_005.npy")
    (folder / "junk_006.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read"):
        load_imported_map(folder / "junk_006.png")
    with pytest.raises(ValueError, match="does not exist"):
        discover_imported_maps(tmp_path / "none")


def test_targets_from_series_info():
    refs = [SimpleNamespace(sop_instance_uid=f"9.{i}") for i in range(4)]
    info = SimpleNamespace(study_uid="9", series_uid="9.9", n_slices=4, refs=refs)
    t = slice_targets_from_series(info, [1, 3], severities={3: "severe"})
    assert [(x.slice_index, x.sop_instance_uid, x.severity_category) for x in t] == [
        (1, "9.1", None), (3, "9.3", "severe")]
    with pytest.raises(ValueError, match="outside the series"):
        slice_targets_from_series(info, [4])
    pics = SimpleNamespace(study_uid="", series_uid="", n_slices=2,
                           refs=[SimpleNamespace(sop_instance_uid="")] * 2)
    with pytest.raises(ValueError, match="image hash"):
        slice_targets_from_series(pics)
    assert slice_targets_from_series(pics, image_hashes={0: "h0", 1: "h1"})[1].image_hash == "h1"
