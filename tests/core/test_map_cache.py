"""Map cache: slices written are read back, reopened from disk, and keyed by weights hash."""
import numpy as np
import pytest

from viewer.core.map_cache import MapCache, cache_key


def _slice(v, shape=(8, 6)):
    return np.full(shape, v, np.float32)


def test_put_get_and_reopen_from_disk(tmp_path):
    cache = MapCache(tmp_path)
    st = cache.store("1.2.3", "abc", (3, 8, 6))
    assert st.on_disk and st.n_done() == 0 and st.get_map(1) is None
    lungs = np.zeros((3, 8, 6), bool)
    lungs[:, 2:5, 1:4] = True
    st.put(1, _slice(0.25))
    assert st.has_map(1) and not st.has(1) and st.get_map(1) is None  # lungs not in yet
    st.put_lungs(lungs)
    assert st.has(1) and not st.has(0) and st.has_lungs()
    np.testing.assert_allclose(st.get_map(1), 0.25)
    np.testing.assert_array_equal(st.get_lungs(1), lungs[1])
    np.testing.assert_array_equal(st.lungs() != 0, lungs)
    # a fresh cache object (new session) finds the slice on disk
    again = MapCache(tmp_path).store("1.2.3", "abc", (3, 8, 6))
    assert again.has(1) and again.n_done() == 1
    np.testing.assert_allclose(again.get_map(1), 0.25)
    np.testing.assert_array_equal(again.get_lungs(2), lungs[2])


def test_store_of_an_older_version_is_recomputed(tmp_path):
    import json

    st = MapCache(tmp_path).store("s", "w", (2, 4, 4))
    st.put_lungs(np.ones((2, 4, 4), bool))
    st.put(0, _slice(0.5, (4, 4)))
    meta = st.folder / "meta.json"
    old = json.loads(meta.read_text())
    del old["lungs"]  # written before lungs were segmented once per series
    meta.write_text(json.dumps(old))
    again = MapCache(tmp_path).store("s", "w", (2, 4, 4))
    assert again.n_done() == 0 and not again.has_lungs()


def test_other_weights_do_not_reuse_maps(tmp_path):
    cache = MapCache(tmp_path)
    cache.store("s", "w1", (2, 4, 4)).put(0, _slice(1.0, (4, 4)))
    other = MapCache(tmp_path).store("s", "w2", (2, 4, 4))
    assert other.n_done() == 0
    assert cache_key("s", "w1") != cache_key("s", "w2")


def test_bad_inputs_are_named(tmp_path):
    st = MapCache(tmp_path).store("s", "w", (2, 4, 4))
    with pytest.raises(ValueError, match="slice index 5"):
        st.get_map(5)
    with pytest.raises(ValueError, match="shape"):
        st.put(0, _slice(0.1, (3, 3)))
    with pytest.raises(ValueError, match="lung mask has shape"):
        st.put_lungs(np.ones((1, 4, 4), bool))
    with pytest.raises(ValueError, match="shape"):
        MapCache(tmp_path).store("s", "w", (0, 4, 4))
    with pytest.raises(ValueError, match="series key"):
        cache_key("", "w")


def test_unwritable_cache_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    st = MapCache(blocker).store("s", "w", (1, 4, 4))
    assert not st.on_disk and "memory only" in st.warning
    st.put_lungs(np.ones((1, 4, 4), bool))
    st.put(0, _slice(0.5, (4, 4)))
    assert st.has(0)


def test_lungs_slice_by_slice_with_a_front(tmp_path):
    """Issue #16: the front fills the slices not finished (readable for planning, never
    'done'); each finished slice is stored on its own; a store reopened half way keeps only the
    finished slices' lungs."""
    st = MapCache(tmp_path).store("s", "w", (3, 4, 4))
    assert not st.lungs_started() and st.lung_array() is None
    front = np.zeros((3, 4, 4), bool)
    front[:, 1:3, 1:3] = True
    st.put_lungs_front(front)
    assert st.lungs_started() and not st.has_lungs() and not st.has_lungs_at(0)
    np.testing.assert_array_equal(st.lung_array() != 0, front)
    assert st.get_lungs(0) is None and st.lungs() is None
    finished = np.ones((4, 4), bool)
    st.put_lungs_slice(2, finished)
    st.put(2, _slice(0.5, (4, 4)))
    st.put(1, _slice(0.5, (4, 4)))
    assert st.has(2) and not st.has(1) and st.get_map(1) is None  # slice 1's lungs not in
    np.testing.assert_array_equal(st.get_lungs(2), finished)
    np.testing.assert_array_equal(st.done_mask(), [False, False, True])
    # a new session: the front is not kept, the finished slice and its map are
    again = MapCache(tmp_path).store("s", "w", (3, 4, 4))
    assert not again.lungs_started() and again.has(2) and not again.has_lungs_at(0)
    again.put_lungs_front(np.zeros((3, 4, 4), bool))  # never over a finished slice
    np.testing.assert_array_equal(again.get_lungs(2), finished)
    for i in (0, 1):
        again.put_lungs_slice(i, front[i])
    assert again.has_lungs() and again.lungs() is not None
    again.clear_maps()
    assert again.n_done() == 0 and again.has_lungs()
    with pytest.raises(ValueError, match="slice 0 lung mask has shape"):
        again.put_lungs_slice(0, np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="lung mask has shape"):
        again.put_lungs_front(np.ones((2, 4, 4), bool))


def test_a_store_with_one_lungs_flag_is_rebuilt(tmp_path):
    """Stores written before the lungs were stored slice by slice (``lungs_done.npy`` of one
    value) are made again, not misread."""
    st = MapCache(tmp_path).store("s", "w", (2, 4, 4))
    st.put_lungs(np.ones((2, 4, 4), bool))
    st.put(0, _slice(0.5, (4, 4)))
    np.save(st.folder / "lungs_done.npy", np.ones(1, np.uint8))
    again = MapCache(tmp_path).store("s", "w", (2, 4, 4))
    assert again.n_done() == 0 and not again.has_lungs()
