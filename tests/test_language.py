"""The language step (fastText lid.176) and the model's location (thresher.transforms.assets)."""
from __future__ import annotations

import os
import pickle

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from thresher.pipelines.recipe.params import step_params
from tests.conftest import SHARED_DATA, local_pipeline
from thresher.transforms import assets
from thresher.transforms.base import ERRORS, KEPT, REJECTED
from thresher.transforms.document import Document
from thresher.transforms.filters.language import LOW_SCORE, NOT_KEPT, LanguageFilter, shared_lid_model

EN = "The committee will publish its annual report on the state of the river next week."
DE = "Guten Tag, wie geht es Ihnen heute? Das Wetter ist schön."
JA = "今日は天気がいいですね。"
ZH = "这是一个中文句子。"
WU = "侬好，今朝天气老好个"  # Shanghainese: lid.176's top label is wuu (0.92)


@pytest.fixture(scope="session")
def lid_path() -> str:
    return assets.fetch_lid_model()  # a cached download after the first run


def step(lid_path, **params) -> LanguageFilter:
    s = LanguageFilter(model_path=lid_path, **params)
    s.setup()
    return s


class FakeModel:
    """Stands in for lid.176 with fixed scores, best first."""

    labels = frozenset({"en", "de", "ja", "zh", "wuu", "yue"})

    def __init__(self, pairs):
        self.pairs = pairs

    def predict(self, text, k=1):
        return self.pairs if k == -1 else self.pairs[:k]


def faked(pairs, **params) -> LanguageFilter:
    s = LanguageFilter(**params)
    s._model = FakeModel(pairs)
    return s


# --- known answers with the real model --------------------------------------------


def test_english_is_kept_and_annotated(lid_path):
    out = step(lid_path).process(Document("a", EN))
    assert out.annotations["language"] == "en"
    assert 0.65 < out.annotations["language_score"] <= 1.0
    assert isinstance(out.annotations["language_score"], float)


def test_other_language_is_dropped_as_not_kept(lid_path):
    assert step(lid_path).process(Document("a", DE)) == NOT_KEPT
    assert step(lid_path, languages=["en", "de"]).process(Document("a", DE)).annotations["language"] == "de"


def test_empty_languages_keeps_everything_and_annotates(lid_path):
    s = step(lid_path, languages=[])
    assert s.process(Document("a", DE)).annotations["language"] == "de"
    kept = s.process(Document("b", ""))  # low score, kept all the same
    assert kept.annotations["language"] == "en" and kept.annotations["language_score"] < 0.2


@pytest.mark.parametrize("text", ["", "   \t ", "\n\n", "!!! ??? ...", "12345", "Hello"])
def test_empty_whitespace_symbols_and_one_word_score_low(lid_path, text):
    # lid.176 answers "en" with a low score (0.12 for no words at all) for text without language
    assert step(lid_path).process(Document("a", text)) == LOW_SCORE


def test_cjk_text(lid_path):
    s = step(lid_path, languages=["ja", "zh"])
    assert s.process(Document("a", JA)).annotations["language"] == "ja"
    assert s.process(Document("b", ZH)).annotations["language"] == "zh"


def test_newlines_are_read_as_spaces(lid_path):
    s = step(lid_path, languages=[])
    with_newlines = s.process(Document("a", EN.replace(" the ", "\nthe\n")))
    with_spaces = s.process(Document("a", EN.replace(" the ", " the ")))
    assert with_newlines.annotations == with_spaces.annotations


def test_lone_surrogates_do_not_raise(lid_path):
    out = step(lid_path, languages=[]).process(Document("a", EN + " \ud800"))
    assert out.annotations["language"] == "en"


def test_map_chinese_labels_wu_as_zh(lid_path):
    assert step(lid_path, languages=["zh"]).process(Document("a", WU)).annotations["language"] == "zh"
    assert step(lid_path, languages=["zh"], map_chinese=False).process(Document("a", WU)) == NOT_KEPT
    raw = step(lid_path, languages=[], map_chinese=False).process(Document("a", WU))
    assert raw.annotations["language"] == "wuu"


def test_merged_chinese_score_never_exceeds_one(lid_path):
    # zh 0.99971 + wuu 0.00030 + ... : fastText adds 1e-5 to each probability
    score = step(lid_path, languages=["zh"]).process(Document("a", ZH)).annotations["language_score"]
    assert 0.999 < score <= 1.0


# --- decisions and boundaries (fixed scores) ---------------------------------------


def test_min_score_is_exclusive_as_in_datatrove():
    assert faked([("en", 0.65)]).process(Document("a", "x")) == LOW_SCORE
    assert faked([("en", 0.6500001)]).process(Document("a", "x")).annotations["language_score"] == 0.6500001
    assert faked([("en", 0.5)], min_score=0.4).process(Document("a", "x")).annotations["language"] == "en"


def test_min_scores_override_per_language():
    params = dict(languages=["en", "de"], min_scores={"de": 0.9})
    assert faked([("de", 0.9)], **params).process(Document("a", "x")) == LOW_SCORE
    assert faked([("de", 0.91)], **params).process(Document("a", "x")).annotations["language"] == "de"
    assert faked([("en", 0.66)], **params).process(Document("a", "x")).annotations["language"] == "en"


def test_not_kept_is_reported_before_low_score():
    assert faked([("de", 0.3)]).process(Document("a", "x")) == NOT_KEPT


def test_dropped_documents_carry_language_and_score():
    not_kept = faked([("de", 0.3)]).process(Document("a", "x"))
    assert not_kept == NOT_KEPT and not_kept.doc.annotations == {"language": "de", "language_score": 0.3}
    low = faked([("en", 0.65)]).process(Document("b", "x"))  # the boundary: 0.65 is not above 0.65
    assert low == LOW_SCORE and low.doc.annotations == {"language": "en", "language_score": 0.65}
    assert low.doc.id == "b" and low.doc.text == "x"


def test_chinese_varieties_are_summed():
    pairs = [("wuu", 0.4), ("ja", 0.3), ("zh", 0.2), ("yue", 0.1)]
    out = faked(pairs, languages=["zh"]).process(Document("a", "x"))
    assert out.annotations["language"] == "zh"
    assert out.annotations["language_score"] == pytest.approx(0.7 - 2e-5)
    assert faked(pairs, languages=["zh"], map_chinese=False).process(Document("a", "x")) == NOT_KEPT
    # the merged Chinese score can lose to another language
    out = faked([("ja", 0.45), ("zh", 0.3), ("wuu", 0.1)], languages=[]).process(Document("a", "x"))
    assert (out.annotations["language"], out.annotations["language_score"]) == ("ja", 0.45)


@pytest.mark.parametrize("params", [
    dict(min_score=1.5), dict(min_score=-0.1), dict(min_scores={"en": 2.0}),
    dict(min_scores={"de": 0.5}), dict(languages=["wuu"]), dict(languages=[""]),
])
def test_bad_parameters_raise(params):
    with pytest.raises(ValueError):
        LanguageFilter(**params)


def test_unknown_language_code_fails_at_setup(lid_path):
    with pytest.raises(ValueError, match="eng"):
        step(lid_path, languages=["eng"])


def test_parameters_for_recipes():
    params = step_params(LanguageFilter)
    assert list(params) == ["languages", "min_score", "min_scores", "map_chinese", "model_path"]
    assert params["min_score"].default == 0.65
    assert params["languages"].default == ["en"]  # the lock file shows what None used to stand for


# --- model sharing, pickling, Beam --------------------------------------------------


def test_model_is_loaded_once_per_process(lid_path):
    a, b = step(lid_path), step(lid_path)
    assert a._model is b._model is shared_lid_model(lid_path)


def test_pickled_step_leaves_the_model_behind(lid_path):
    s = step(lid_path)
    copy = pickle.loads(pickle.dumps(s))
    assert copy._model is None and s._model is not None
    assert copy.process(Document("a", EN)).annotations["language"] == "en"


def test_beam_kept_and_rejected(lid_path):
    docs = [Document("en", EN), Document("de", DE), Document("empty", "")]
    with local_pipeline() as p:
        out = p | beam.Create(docs) | LanguageFilter(model_path=lid_path)
        assert_that(out[KEPT] | "k" >> beam.Map(lambda d: (d.id, d.annotations["language"])),
                    equal_to([("en", "en")]), label="kept")
        assert_that(out[REJECTED] | "r" >> beam.Map(lambda d: (d.id, d.annotations["drop_reason"],
                                                                d.annotations["language"],
                                                                0 <= d.annotations["language_score"] <= 1)),
                    equal_to([("de", NOT_KEPT, "de", True), ("empty", LOW_SCORE, "en", True)]), label="rejected")
        assert_that(out[ERRORS], equal_to([]), label="errors")


# --- accuracy on real sentences (benchmarks/langid_accuracy.py has every language) ----

# Top-label accuracy measured on the lingua test sentences, minus about half a point.
MIN_ACCURACY = {"en": 0.995, "de": 0.993, "fr": 0.985, "es": 0.987, "ru": 0.99, "ja": 0.985, "zh": 0.955}


def test_accuracy_on_major_languages(lid_path):
    s = step(lid_path, languages=[])
    folder = SHARED_DATA / "langid-lingua" / "sentences"
    for code, minimum in MIN_ACCURACY.items():
        lines = [t for t in (folder / f"{code}.txt").read_text(encoding="utf-8").split("\n") if t.strip()]
        accuracy = sum(s.identify(t)[0] == code for t in lines) / len(lines)
        assert accuracy >= minimum, f"{code}: {accuracy:.3f} < {minimum}"


# --- where the model is found -----------------------------------------------------


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(assets.LID_ENV, raising=False)
    return tmp_path / "cache" / "thresher"


def test_find_prefers_recipe_path_then_environment_then_cache(tmp_path, empty_cache, monkeypatch):
    given, env = tmp_path / "given.bin", tmp_path / "env.ftz"
    given.write_bytes(b"x")
    env.write_bytes(b"x")
    empty_cache.mkdir(parents=True)
    (empty_cache / "lid.176.bin").write_bytes(b"x")
    assert assets.find_lid_model(None) == str(empty_cache / "lid.176.bin")
    (empty_cache / "lid.176.ftz").write_bytes(b"x")
    assert assets.find_lid_model(None) == str(empty_cache / "lid.176.ftz")
    monkeypatch.setenv(assets.LID_ENV, str(env))
    assert assets.find_lid_model(None) == str(env)
    assert assets.find_lid_model(str(given)) == str(given)


def test_find_explains_where_it_looked(tmp_path, empty_cache, monkeypatch):
    monkeypatch.setenv(assets.LID_ENV, str(tmp_path / "nowhere.bin"))
    with pytest.raises(FileNotFoundError) as err:
        assets.find_lid_model(str(tmp_path / "missing.ftz"))
    message = str(err.value)
    for place in ("missing.ftz", "nowhere.bin", str(empty_cache / "lid.176.ftz"), "thresher assets"):
        assert place in message


def test_fetch_returns_a_cached_model_without_downloading(tmp_path, monkeypatch):
    (tmp_path / "lid.176.ftz").write_bytes(b"x")
    monkeypatch.setattr(assets, "_fetch_official", lambda *a: pytest.fail("downloaded"))
    assert assets.fetch_lid_model(str(tmp_path)) == str(tmp_path / "lid.176.ftz")


def test_fetched_model_is_the_official_compressed_one(lid_path):
    if lid_path.endswith(".ftz"):
        assert os.path.getsize(lid_path) == assets.LID_FTZ_BYTES


def test_a_truncated_file_is_rejected(tmp_path):
    part = tmp_path / "lid.176.ftz.part"
    part.write_bytes(b"short")
    with pytest.raises(RuntimeError, match="expected 938,013"):
        assets._check_size(part, assets.LID_FTZ_BYTES)
    assert not part.exists()
