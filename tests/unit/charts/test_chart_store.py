"""Chart stores: the key rules shared by every store (content keys included), and the local folder store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ibflow.charts.local_store import LocalChartStore
from ibflow.charts.store import MAX_KEY_LENGTH, ChartStore, content_key, validate_key
from ibflow.core.errors import NotFound, ValidationError

PNG = b"\x89PNG\r\n\x1a\nfake chart"


@pytest.fixture
def store(tmp_path: Path) -> LocalChartStore:
    return LocalChartStore(tmp_path / "charts")


def test_put_get_delete_round_trip(store: LocalChartStore) -> None:
    charts: ChartStore = store
    charts.put("executions/17/daily.png", PNG)
    assert charts.get("executions/17/daily.png") == PNG
    charts.delete("executions/17/daily.png")
    with pytest.raises(NotFound):
        charts.get("executions/17/daily.png")


def test_put_replaces_and_leaves_no_temporary_files(store: LocalChartStore) -> None:
    store.put("a/chart.png", b"old")
    store.put("a/chart.png", b"new")
    assert store.get("a/chart.png") == b"new"
    assert sorted(p.name for p in (store.root / "a").iterdir()) == ["chart.png"]


def test_a_missing_key_is_not_found_and_deleting_it_is_fine(store: LocalChartStore) -> None:
    with pytest.raises(NotFound, match=r"nothing\.png"):
        store.get("nothing.png")
    store.delete("nothing.png")
    store.delete("no/such/folder.png")
    store.put("folder/x.png", PNG)
    with pytest.raises(NotFound):
        store.get("folder")  # a folder is not a chart
    with pytest.raises(NotFound):
        store.get("folder/x.png/deeper")
    store.delete("folder")
    assert store.get("folder/x.png") == PNG


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "a/../../x",
        "/abs",
        "/etc/passwd",
        "a//b",
        "a/",
        "",
        ".",
        "a/./b",
        ".hidden",
        "a/..",
        "with space.png",
        "back\\slash",
        "ümlaut.png",
        "x" * (MAX_KEY_LENGTH + 1),
    ],
)
def test_bad_keys_are_refused_before_touching_the_folder(store: LocalChartStore, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_key(key)
    assert set(caught.value.problems) == {"key"}
    for operation in (lambda: store.put(key, PNG), lambda: store.get(key), lambda: store.delete(key)):
        with pytest.raises(ValidationError):
            operation()
    assert list(store.root.iterdir()) == []


def test_good_keys_pass_unchanged() -> None:
    for key in ("daily.png", "2026/11/25/exec-17_1d.v2.png", "x" * MAX_KEY_LENGTH):
        assert validate_key(key) == key


def test_a_folder_link_leading_out_of_the_root_is_refused(store: LocalChartStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    os.symlink(outside, store.root / "link")
    with pytest.raises(ValidationError, match="outside"):
        store.put("link/evil.png", PNG)
    with pytest.raises(ValidationError, match="outside"):
        store.put("link/deeper/evil.png", PNG)
    with pytest.raises(ValidationError):
        store.get("link/secret.png")
    with pytest.raises(ValidationError):
        store.delete("link/secret.png")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.png"]


def test_a_file_link_leading_out_of_the_root_is_refused(store: LocalChartStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"secret")
    os.symlink(secret, store.root / "chart.png")
    with pytest.raises(ValidationError):
        store.get("chart.png")
    with pytest.raises(ValidationError):
        store.put("chart.png", PNG)
    assert secret.read_bytes() == b"secret"


def test_links_that_stay_inside_the_root_are_followed(store: LocalChartStore) -> None:
    store.put("real/chart.png", PNG)
    os.symlink(store.root / "real", store.root / "alias")
    assert store.get("alias/chart.png") == PNG


def test_the_root_is_created_and_resolved(tmp_path: Path) -> None:
    store = LocalChartStore(tmp_path / "a" / ".." / "charts")
    assert store.root == (tmp_path / "charts").resolve()
    assert store.root.is_dir()


def test_a_failed_write_leaves_neither_chart_nor_temporary_file(store: LocalChartStore) -> None:
    with pytest.raises(TypeError):
        store.put("broken.png", "not bytes")  # type: ignore[arg-type]
    assert list(store.root.iterdir()) == []


def test_a_content_key_names_the_bytes_so_identical_charts_share_one_key() -> None:
    chart, other = b"\x89PNG\r\n\x1a\none chart", b"\x89PNG\r\n\x1a\nanother chart"
    digest = hashlib.sha256(chart).hexdigest()
    key = content_key(digest)
    assert key == f"sha256/{digest[:2]}/{digest}.png"
    assert validate_key(key) == key
    assert content_key(hashlib.sha256(bytes(chart)).hexdigest()) == key
    assert content_key(hashlib.sha256(other).hexdigest()) != key


@pytest.mark.parametrize("digest", ["", "ab", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "../" + "a" * 61])
def test_a_content_key_needs_a_sha256_digest(digest: str) -> None:
    with pytest.raises(ValidationError) as caught:
        content_key(digest)
    assert set(caught.value.problems) == {"digest"}


def test_identical_charts_are_one_file_in_the_local_store(store: LocalChartStore) -> None:
    for data in (PNG, PNG, b"other"):
        store.put(content_key(hashlib.sha256(data).hexdigest()), data)
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 2
