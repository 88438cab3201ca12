"""decontaminate: benchmark files, n-gram rules, and real GSM8K / MMLU items planted in clean prose."""
from __future__ import annotations

import gzip
import random
import re
from collections import Counter
from typing import Dict, List

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import SHARED_DATA, local_pipeline
from thresher.transforms.base import ERRORS, KEPT, REJECTED, SUMMARY, ParamError
from thresher.transforms.select.benchmark_files import file_format, match_files, read_items, stem
from thresher.transforms.select.decontaminate import REASON, Decontaminate, _ScanFn, best_item, contaminating
from thresher.transforms.select.ngram_index import BuildIndex, Matcher, item_ngrams
from thresher.transforms.document import Document
from thresher.transforms.dedup.minhash.signatures import shingle_hashes
from thresher.transforms.text.hashing import text_word_hashes

BENCH = SHARED_DATA / "decontam-benchmarks"
GSM8K = str(BENCH / "gsm8k" / "test.jsonl")
MMLU_TEST = str(BENCH / "mmlu" / "test" / "*.csv")
HUMANEVAL = str(BENCH / "humaneval" / "HumanEval.jsonl.gz")


def _one(check):
    def _check(actual):
        assert len(actual) == 1, actual
        check(actual[0])
    return _check


def _index(items: Dict[str, str], ngram: int, max_items_per_ngram: int = 10):
    """An NGramIndex of hand-written items (benchmark "t"), as the pipeline builds it."""
    builder = BuildIndex(max_items_per_ngram)
    acc = builder.create_accumulator()
    for key, text in items.items():
        acc = builder.add_input(acc, (("t", key),) + item_ngrams(text, ngram))
    return builder.extract_output(builder.merge_accumulators([acc, builder.create_accumulator()]))


def _verdict(index, text: str, k: int):
    counts = Matcher(index).counts(text)
    flagged = contaminating(counts, index.sizes, k)
    best = best_item(counts, flagged)
    return [index.names[i][1] for i in flagged], (counts[best] if best is not None else 0)


# --- benchmark files -------------------------------------------------------------------------------

def test_formats_of_the_real_files():
    gsm = list(read_items(GSM8K))
    assert file_format(GSM8K) == "gsm8k" and len(gsm) == 1319
    assert gsm[0].benchmark == "gsm8k" and gsm[0].item == "test/0"
    assert gsm[0].text.startswith("Janet\u2019s ducks lay 16 eggs") and gsm[0].text.endswith("#### 18")
    assert gsm[-1].item == "test/1318"

    he = list(read_items(HUMANEVAL))  # gzip
    assert file_format(HUMANEVAL) == "humaneval" and len(he) == 164
    assert he[0].item == "HumanEval/0" and "def has_close_elements" in he[0].text
    assert he[0].text.endswith("    return False\n")  # prompt + canonical solution

    algebra = str(BENCH / "mmlu" / "test" / "abstract_algebra_test.csv")
    mmlu = list(read_items(algebra))
    assert file_format(algebra) == "mmlu" and len(mmlu) == 100
    assert mmlu[0].benchmark == "mmlu" and mmlu[0].item == "abstract_algebra_test/0"
    assert mmlu[0].text == ("Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q."
                            "\n0\n4\n2\n6")  # question + four choices, not the answer letter
    assert len(match_files([MMLU_TEST])) == 57
    assert sum(1 for f in match_files([str(BENCH / "mmlu" / "dev" / "*.csv")]) for _ in read_items(f)) == 285
    assert stem("gs://b/HumanEval.jsonl.gz") == "HumanEval" and stem("x/test") == "test"


def test_text_files_gzip_and_forced_format(tmp_path):
    path = tmp_path / "my_evals.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("first item line\n\n   \nsecond item line\n")
    items = list(read_items(str(path)))
    assert [(i.benchmark, i.item, i.text) for i in items] == [
        ("my_evals", "my_evals/0", "first item line"), ("my_evals", "my_evals/3", "second item line")]
    plain = tmp_path / "questions.data"  # unknown extension, gzip content, explicit format
    plain.write_bytes(gzip.compress(b'{"question": "q?", "answer": "a"}\n'))
    assert [i.text for i in read_items(str(plain), "gsm8k")] == ["q?\na"]
    assert file_format(str(plain)) == "gsm8k"  # JSON lines are detected by content too


@pytest.mark.parametrize("name, content, message", [
    ("weird.jsonl", '{"foo": 1, "bar": 2}\n', "neither GSM8K"),
    ("three.csv", "a,b,c\n", "not MMLU"),
    ("blob.bin", "\x00\x01 nothing known", "cannot detect"),
    ("broken.jsonl", '{"question": "q", "answer": "a"}\nnot json\n', "broken.jsonl:2: not JSON"),
    ("short_row.csv", "q,a,b,c,d,A\nq,a,b\n", "row 1 (line 2) has 3 columns"),
])
def test_unknown_or_broken_format_names_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ParamError) as err:
        list(read_items(str(path)))
    assert err.value.param == "benchmarks" and name in str(err.value) and message in str(err.value)


def test_real_license_file_is_not_a_benchmark():
    with pytest.raises(ParamError, match="LICENSE: cannot detect"):
        file_format(str(BENCH / "gsm8k" / "LICENSE"))


def test_preflight(tmp_path):
    Decontaminate([GSM8K, MMLU_TEST, HUMANEVAL]).preflight({})
    with pytest.raises(ParamError, match="no file matches") as err:
        Decontaminate([GSM8K, str(tmp_path / "absent" / "*.jsonl")]).preflight({})
    assert err.value.param == "benchmarks"
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(ParamError, match="empty.txt: no benchmark item"):
        Decontaminate([str(tmp_path / "*.txt")]).preflight({})
    with pytest.raises(ParamError, match="cannot detect"):
        Decontaminate([str(BENCH / "humaneval" / "*")]).preflight({})  # LICENSE matches the glob


@pytest.mark.parametrize("kwargs, param", [
    (dict(benchmarks=[]), "benchmarks"), (dict(benchmarks="a.jsonl"), "benchmarks"),
    (dict(format="csv"), "format"), (dict(ngram=0), "ngram"), (dict(min_matches=0), "min_matches"),
    (dict(action="delete"), "action"), (dict(max_examples=-1), "max_examples"),
    (dict(max_items_per_ngram=-1), "max_items_per_ngram"),
])
def test_bad_parameters(kwargs, param):
    kwargs = {"benchmarks": [GSM8K], **kwargs}
    with pytest.raises(ParamError) as err:
        Decontaminate(**kwargs)
    assert err.value.param == param


# --- n-gram rules ----------------------------------------------------------------------------------

ITEM = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa"
SHORT = "Photosynthesis converts light energy"


def test_normalisation_matches_reformatted_text():
    # case, spacing, punctuation, apostrophes; NFKD turns the superscript 2 into 2; digit runs are all 0
    assert list(text_word_hashes("Hello,   WORLD!\nIt\u2019s  42 km\u00b2.")) == list(text_word_hashes("hello world its 7 km3"))
    # same n-gram hashes as the near-dedup shingles (same words, same hash)
    assert list(item_ngrams(ITEM, 5)[0]) == list(shingle_hashes(ITEM, 5))
    assert list(item_ngrams(SHORT, 13)[0]) == list(shingle_hashes(SHORT, 13))
    assert item_ngrams("", 13)[0].size == 0 and item_ngrams("!!! ...", 13)[0].size == 0


def test_min_matches_boundary():
    index = _index({"nato": ITEM}, ngram=5)  # 16 distinct words: 12 five-grams
    words = ITEM.split()
    exactly_3 = "Some notes. " + " ".join(words[:7]).upper() + ". More notes."  # 3 five-grams
    only_2 = "Some notes. " + ", ".join(words[:6]) + ". More notes."  # 2 five-grams
    assert _verdict(index, exactly_3, 3) == (["nato"], 3)
    assert _verdict(index, only_2, 3) == ([], 2)
    assert _verdict(index, only_2, 2) == (["nato"], 2)
    assert _verdict(index, " ".join(words[:4]), 1) == ([], 0)  # 4 words: no five-gram
    assert _verdict(index, ITEM + " " + ITEM, 12) == (["nato"], 12)  # repeated n-grams count once
    assert _verdict(index, ITEM, 13) == (["nato"], 12)  # K above the item's 12 n-grams: all of them suffice


def test_short_items_are_one_ngram():
    index = _index({"short": SHORT}, ngram=13)
    assert index.lengths == (4,) and index.sizes.tolist() == [1]
    assert _verdict(index, "In class we saw that photosynthesis\nCONVERTS light \u2014 energy into sugar.", 5) == (
        ["short"], 1)  # one n-gram: min(5, 1) matches suffice
    # punctuation inside a word is deleted, not made a space (as in near-dedup): "lightenergy" is one word
    assert _verdict(index, "photosynthesis converts light-energy", 1) == ([], 0)
    assert _verdict(index, "Photosynthesis converts light into sugar.", 1) == ([], 0)
    assert _verdict(index, "energy light converts photosynthesis", 1) == ([], 0)


def test_edge_case_texts_and_cjk():
    cjk = "光合作用把光能转化为化学能储存在糖中"  # 18 characters: each Han character is a word
    index = _index({"nato": ITEM, "cjk": cjk}, ngram=13)
    assert index.sizes.tolist() == [6, 4]  # sorted names: ("t", "cjk"), ("t", "nato"); 16 words -> 4
    for text in ["", "   \n\t ", "!!! ??? --- ***", "植物在阳光下生长。"]:
        assert _verdict(index, text, 1) == ([], 0)
    assert _verdict(index, "课本：光合作用，把光能\n转化为 化学能、储存在糖中。", 6) == (["cjk"], 6)


def test_template_and_low_information_ngrams_are_ignored():
    preamble = "for which of these two scenarios does the main character do something clearly wrong"
    items = {str(i): f"{preamble} scenario {i} story number {i} about a {w} and a {w}s friend"
             for i, w in enumerate(["cat", "dog", "fox", "owl"])}
    index = _index(items, ngram=13, max_items_per_ngram=3)
    assert index.template_ngrams > 0
    assert _verdict(index, preamble + " scenario", 1) == ([], 0)  # shared by 4 > 3 items: boilerplate
    assert _verdict(_index(items, ngram=13, max_items_per_ngram=4), preamble + " scenario", 1) == (
        ["0", "1", "2", "3"], 3)  # in 4 items, not more: kept, and each of them is found
    # digits all normalise to 0: "0 m 0 m 0" has 2 distinct words, "m and 0 m easy" 4 (MIN_DISTINCT_WORDS)
    units = _index({"laps": "Swim 50 m, 100 m, 150 m, 200 m, 250 m and 300 m easy"}, ngram=5)
    assert units.low_information_ngrams == 6 and units.sizes.tolist() == [1]
    assert _verdict(units, "Pyramid: 50 m - 100 m - 150 m - 200 m - 150 m", 1) == ([], 0)
    assert _verdict(units, "then 400 m and 25 m easy", 1) == (["laps"], 1)


def test_error_goes_to_errors_output():
    fn = _ScanFn(Decontaminate([GSM8K]))
    fn.setup()
    out = list(fn.process(Document("bad", None), _index({"nato": ITEM}, ngram=5)))
    assert len(out) == 1 and out[0].tag == ERRORS and out[0].value["id"] == "bad"


# --- Beam: hand-made benchmark file, drop and annotate --------------------------------------------

def test_drop_and_annotate_modes(tmp_path):
    path = tmp_path / "drills.txt"
    path.write_text(f"{ITEM}\n{SHORT}\n", encoding="utf-8")
    words = ITEM.split()
    docs = [
        Document("k3", "Field log. " + " ".join(words[:7]).title() + " end of log."),
        Document("k2", "Field log. " + " ".join(words[:6]) + " end of log."),
        Document("short", "Plants: photosynthesis converts light energy into chemical energy."),
        Document("clean", "Plants turn sunlight into chemical energy stored in sugars."),
        Document("empty", ""),
    ]
    with local_pipeline() as p:
        pc = p | beam.Create(docs)
        drop = pc | "drop" >> Decontaminate([str(tmp_path / "*.txt")], ngram=5, min_matches=3, max_examples=1)
        note = pc | "annotate" >> Decontaminate([str(path)], ngram=5, min_matches=3, action="annotate")
        assert_that(drop[KEPT] | "kept ids" >> beam.Map(lambda d: (d.id, d.annotations)),
                    equal_to([("k2", {}), ("clean", {}), ("empty", {})]), label="drop kept")
        assert_that(drop[REJECTED] | "rejected" >> beam.Map(lambda d: (d.id, d.annotations)), equal_to([
            ("k3", {"contaminated": True, "contamination_matches": 3, "contamination_item": "drills:drills/0",
                    "drop_step": "decontaminate", "drop_reason": REASON}),
            ("short", {"contaminated": True, "contamination_matches": 1, "contamination_item": "drills:drills/1",
                       "drop_step": "decontaminate", "drop_reason": REASON})]), label="drop rejected")
        assert_that(note[KEPT] | "annotated" >> beam.Map(lambda d: (d.id, d.annotations)), equal_to([
            ("k3", {"contaminated": True, "contamination_matches": 3, "contamination_item": "drills:drills/0"}),
            ("k2", {"contaminated": False, "contamination_matches": 2, "contamination_item": "drills:drills/0"}),
            ("short", {"contaminated": True, "contamination_matches": 1, "contamination_item": "drills:drills/1"}),
            ("clean", {"contaminated": False, "contamination_matches": 0, "contamination_item": ""}),
            ("empty", {"contaminated": False, "contamination_matches": 0, "contamination_item": ""})]),
            label="annotate kept")
        assert_that(note[REJECTED], equal_to([]), label="annotate rejects nothing")
        expected = {"kind": "contamination", "ngram": 5, "min_matches": 3, "documents_checked": 5,
                    "documents_flagged": 2, "ngrams_ignored": {"template": 0, "low_information": 0},
                    "benchmarks": {"drills": {"items": 2, "items_found": 2, "items_without_ngrams": 0}},
                    "items": [{"benchmark": "drills", "item": "drills/0", "documents": 1, "examples": ["k3"]},
                              {"benchmark": "drills", "item": "drills/1", "documents": 1, "examples": ["short"]}]}
        assert_that(drop[SUMMARY], equal_to([expected]), label="drop summary")
        nothing = (p | "no docs" >> beam.Create([], reshuffle=False).with_output_types(Document)
                   | "empty input" >> Decontaminate([str(path)]))
        assert_that(nothing[SUMMARY] | beam.Map(lambda s: (s["documents_checked"], s["items"])),
                    equal_to([(0, [])]), label="one summary without documents")


# --- Beam: real GSM8K and MMLU items planted in clean prose ---------------------------------------

NAMES = ["Maria", "Tom", "Aisha", "Kenji", "Lena", "Omar", "Priya", "Sven"]
THINGS = ["apples", "marbles", "stamps", "pencils", "tickets", "cookies", "books", "seeds"]
SCIENCE = [
    "Cells divide by mitosis when an organism grows, and each daughter cell receives a copy of the genome.",
    "Ocean currents carry heat from the equator toward the poles and shape the climate of coastal regions.",
    "A catalyst lowers the activation energy of a reaction without being consumed by it.",
    "The orbit of a comet is an ellipse, and its tail always points away from the Sun.",
    "Enzymes fold into shapes that fit their substrates, which is why heat can stop them from working.",
    "Sound travels faster in water than in air because the molecules are packed more closely.",
    "Glaciers carve valleys into a U shape and leave piles of rock called moraines where they melt.",
    "Volcanic islands form over hot spots as the plate above them drifts slowly across the mantle.",
]


def _math_sentence(rng: random.Random) -> str:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    a, b, c = rng.randint(2, 90), rng.randint(2, 40), rng.randint(2, 9)
    return rng.choice([
        f"{name} has {a} {thing} and buys {b} more at the shop, so {name} now owns {a + b} {thing}.",
        f"If {name} shares {a * c} {thing} equally among {c} friends, each friend gets {a} of them.",
        f"On Monday {name} sold {a} {thing} for ${c} each and earned ${a * c} before lunch.",
        f"A box holds {b} {thing}; {name} fills {c} boxes and has {a} {thing} left over.",
    ])


def clean_prose(rng: random.Random, sentences: int) -> str:
    out = [_math_sentence(rng) if rng.random() < 0.5 else rng.choice(SCIENCE) for _ in range(sentences)]
    return " ".join(out)


def reformat(text: str, rng: random.Random) -> str:
    """Same words, other layout: case changed, whitespace and line breaks moved, punctuation changed."""
    out = []
    for token in text.split():
        token = re.sub(r"[.,?!;:]$", lambda m: rng.choice(["", " !", ";", " ...", "?", ","]), token)
        r = rng.random()
        token = token.upper() if r < 0.2 else token.lower() if r < 0.5 else token.title() if r < 0.6 else token
        out.append(token + rng.choice([" ", "  ", "\n", " \n  ", "\t", " "]))
    return "".join(out)


def _pick(items, rng: random.Random, n: int, prefixes=("",)):
    """``n`` items of at least 30 words whose text is not also another item's (MMLU repeats a few)."""
    seen = Counter(" ".join(i.text.lower().split()) for i in items)
    pool = [i for i in items if any(i.item.startswith(p) for p in prefixes) and len(i.text.split()) >= 30
            and seen[" ".join(i.text.lower().split())] == 1]
    return rng.sample(pool, n)


def test_planted_gsm8k_and_mmlu_items_are_found():
    rng = random.Random(7)
    gsm = list(read_items(GSM8K))
    # subjects whose questions share no reading passage with other questions and whose choices are
    # not boilerplate found in many items ("(ii) and (iv) only": ignored), so every n-gram counts
    subjects = ("college_biology", "astronomy", "high_school_physics", "nutrition", "virology", "anatomy")
    mmlu = [i for f in match_files([MMLU_TEST]) for i in read_items(f)]
    planted = _pick(gsm, rng, 6) + _pick(mmlu, rng, 6, subjects)
    docs: List[Document] = []
    expected = {}
    for n, item in enumerate(planted):
        text = item.text
        if item.benchmark == "gsm8k" and n % 2:
            text = re.sub(r"<<[^>]*>>", "", text)  # a web copy without the calculator notes
        if item.benchmark == "mmlu" and n % 2:
            question, *choices = text.split("\n")
            text = question + "\n" + "   ".join(choices)
        doc_id = f"planted-{n:02d}"
        docs.append(Document(doc_id, clean_prose(rng, 4) + "\n\n" + reformat(text, rng) + "\n\n"
                             + clean_prose(rng, 3)))
        expected[(item.benchmark, item.item)] = doc_id
    clean_ids = [f"clean-{n:02d}" for n in range(60)]
    docs += [Document(i, clean_prose(rng, rng.randint(3, 25))) for i in clean_ids]
    asked = next(i for i in planted if i.benchmark == "gsm8k" and len(i.text.split("\n")[0].split()) >= 20)
    asked_question = asked.text.split("\n")[0]
    docs.append(Document("question-only", reformat(asked_question, rng)))  # the question alone: its n-grams match

    def check_summary(summary):
        assert summary["documents_checked"] == len(docs) and summary["documents_flagged"] == len(planted) + 1
        assert summary["benchmarks"]["gsm8k"] == {"items": 1319, "items_found": 6, "items_without_ngrams": 0}
        assert summary["benchmarks"]["mmlu"]["items"] == 14079 and summary["benchmarks"]["mmlu"]["items_found"] == 6
        found = {(r["benchmark"], r["item"]): r for r in summary["items"]}
        assert set(found) == set(expected)
        for key, doc_id in expected.items():
            extra = ["question-only"] if key == ("gsm8k", asked.item) else []
            assert found[key]["examples"] == sorted([doc_id] + extra)
            assert found[key]["documents"] == 1 + len(extra)
        assert summary["items"][0]["documents"] == 2  # most documents first

    with local_pipeline() as p:
        out = p | beam.Create(docs) | Decontaminate([GSM8K, MMLU_TEST])
        # every n-gram of a planted item survives the reformatting: all of them are matched
        full = {doc_id: (f"{key[0]}:{key[1]}", len(item_ngrams(item.text, 13)[0]))
                for item, (key, doc_id) in zip(planted, expected.items())}
        assert_that(out[REJECTED] | beam.Map(lambda d: (d.id, d.annotations["contamination_item"],
                                                         d.annotations["contamination_matches"])),
                    equal_to([(d, name, n) for d, (name, n) in full.items()]
                             + [("question-only", f"gsm8k:{asked.item}", len(item_ngrams(asked_question, 13)[0]))]),
                    label="planted found")
        assert_that(out[KEPT] | "kept" >> beam.Map(lambda d: d.id), equal_to(clean_ids), label="clean kept")
        assert_that(out[ERRORS], equal_to([]), label="no errors")
        assert_that(out[SUMMARY], _one(check_summary), label="summary")
