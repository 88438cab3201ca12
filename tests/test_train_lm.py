"""``thresher train-lm``: the ARPA file is well formed (header counts, every n-gram's context and suffix one
order down), KenLM loads it, each context's continuations sum to 1 under KenLM's own query at every order,
the estimate equals a plain dict-based interpolated modified Kneser-Ney, held-in text is less perplex than
its words shuffled, and usage errors are one line with exit status 2."""
from __future__ import annotations

import gzip
import json
import math
import random
from collections import Counter, defaultdict
from typing import Dict, List, Tuple

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from tests.gcs_emulator import gcs  # noqa: F401 (a fixture)
from thresher.pipelines.commands import cli
from thresher.pipelines.commands.kneser_ney import FALLBACK, discounts, estimate

kenlm = pytest.importorskip("kenlm")


def real_texts(n: int) -> List[str]:
    path = SHARED_DATA / "bench" / "real-pages.texts.jsonl.gz"
    if not path.exists():
        pytest.fail(f"real data missing: {path}")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f)]


def read_arpa(path) -> Tuple[Dict[int, int], Dict[int, Dict[Tuple[str, ...], Tuple[float, float]]]]:
    """(header counts, n -> {words: (log10 p, log10 backoff)})."""
    header, grams, order = {}, defaultdict(dict), 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ngram "):
                n, count = line[len("ngram "):].split("=")
                header[int(n)] = int(count)
            elif line.endswith("-grams:"):
                order = int(line[1:line.index("-")])
            elif order and line and line != "\\end\\":
                parts = line.split("\t")
                words = tuple(parts[1].split(" "))
                assert len(words) == order, line
                grams[order][words] = (float(parts[0]), float(parts[2]) if len(parts) > 2 else 0.0)
    return header, grams


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_lm")
    texts = real_texts(300)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, text in enumerate(texts[:250]):
            f.write(json.dumps({"id": str(i), "body": text}) + "\n")
    rc = cli.main(["train-lm", "--input", str(root / "corpus.jsonl"), "--out", str(root / "lm"), "--language", "en",
                   "--order", "3", "--vocab-size", "2000", "--text-field", "body"])
    assert rc == 0
    return root / "lm", texts


def test_arpa_is_well_formed_and_kenlm_loads_it(trained, capsys):
    folder, _ = trained
    header, grams = read_arpa(folder / "en.arpa")
    assert header == {n: len(grams[n]) for n in (1, 2, 3)} and all(header.values())
    for n in (2, 3):
        for words in grams[n]:
            assert words[:-1] in grams[n - 1] and words[1:] in grams[n - 1], words
    assert grams[1][("<s>",)][0] == -99.0 and ("<unk>",) in grams[1] and ("</s>",) in grams[1]
    assert all(p <= 0 for n in grams for p, _ in grams[n].values())
    model = kenlm.Model(str(folder / "en.arpa"))
    assert model.order == 3


def _continuation_mass(model, context: Tuple[str, ...], vocab: List[str]) -> float:
    state = kenlm.State()
    if context and context[0] == "<s>":
        model.BeginSentenceWrite(state)
        context = context[1:]
    else:
        model.NullContextWrite(state)
    for word in context:
        nxt = kenlm.State()
        model.BaseScore(state, word, nxt)
        state = nxt
    total = 0.0
    for word in vocab:
        total += 10 ** model.BaseScore(state, word, kenlm.State())
    return total


def test_each_contexts_continuations_sum_to_one_at_every_order(trained):
    folder, _ = trained
    _, grams = read_arpa(folder / "en.arpa")
    model = kenlm.Model(str(folder / "en.arpa"))
    vocab = [w for (w,) in grams[1] if w != "<s>"]
    rnd = random.Random(0)
    contexts = [()] + [("<s>",)] + rnd.sample([w[:-1] for w in grams[2]], 5) + rnd.sample([w[:-1] for w in grams[3]], 5)
    contexts += [w[:-1] for w in grams[3] if w[0] == "<s>"][:2]
    for context in contexts:
        assert _continuation_mass(model, context, vocab) == pytest.approx(1.0, abs=1e-4), context


def test_held_in_text_is_less_perplex_than_shuffled_words(trained):
    from thresher.transforms.filters.ccnet_lm import CCNetLanguageModel

    folder, texts = trained
    lm = CCNetLanguageModel(str(folder / "en.arpa"), str(folder / "en.sp.model"))
    rnd = random.Random(1)
    better = 0
    for text in texts[:40]:
        words = text.split()
        rnd.shuffle(words)
        better += lm.perplexity(text) < lm.perplexity(" ".join(words))
    assert better == 40
    held_out = [lm.perplexity(t) for t in texts[250:300]]
    held_in = [lm.perplexity(t) for t in texts[:50]]
    assert np.median(held_in) < np.median(held_out)


def reference_kneser_ney(sentences: List[List[int]], order: int, bos: int, eos: int, unk: int):
    """Interpolated modified Kneser-Ney with plain dicts: n -> {gram: probability}, n -> {context: gamma}."""
    raw = {n: Counter() for n in range(1, order + 1)}
    for s in sentences:
        s = [bos] + s + [eos]
        for n in range(1, order + 1):
            for i in range(len(s) - n + 1):
                raw[n][tuple(s[i:i + n])] += 1
    adjusted = {order: dict(raw[order])}
    for n in range(order - 1, 0, -1):
        left = Counter(g[1:] for g in adjusted[n + 1])
        adjusted[n] = {g: (c if g[0] == bos else left[g]) for g, c in raw[n].items()}
    adjusted[1].setdefault((unk,), 0)
    probs, gammas = {}, {}
    for n in range(1, order + 1):
        counts = {g: c for g, c in adjusted[n].items() if not (n == 1 and (g == (bos,) or c == 0))}
        d, _ = discounts(np.array(list(counts.values())))
        disc = lambda c: 0.0 if c == 0 else d[min(c, 3) - 1]  # noqa: E731
        totals, mass = Counter(), Counter()
        for g, c in adjusted[n].items():
            if n == 1 and g == (bos,):
                continue
            totals[g[:-1]] += c
            mass[g[:-1]] += disc(c)
        gammas[n] = {h: mass[h] / totals[h] for h in totals}
        vocab = len([g for g in adjusted[1] if g != (bos,)])
        probs[n] = {}
        for g, c in adjusted[n].items():
            if n == 1 and g == (bos,):
                continue
            lower = 1.0 / vocab if n == 1 else probs[n - 1][g[1:]]
            probs[n][g] = (c - disc(c)) / totals[g[:-1]] + gammas[n][g[:-1]] * lower
    return probs, gammas


def test_estimate_equals_a_plain_dict_implementation():
    rnd = random.Random(3)
    # a Zipf-like corpus, large enough for Kneser-Ney's discounts (no fallback)
    sentences = [[int(min(3000, rnd.paretovariate(0.6) + 2)) for _ in range(rnd.randint(0, 12))] for _ in range(400)]
    model, fell_back = estimate([np.array(s, dtype=np.int64) for s in sentences], 3, 4096, 1, 2, 0)
    assert not fell_back
    probs, gammas = reference_kneser_ney(sentences, 3, 1, 2, 0)
    for n in (1, 2, 3):
        ids, logp, backoff = model[n]
        grams = [tuple(row) for row in ids.tolist()]
        assert grams == sorted(grams)
        expected = set(probs[n]) | ({(1,)} if n == 1 else set())
        assert set(grams) == expected
        for gram, lp, bo in zip(grams, logp, backoff):
            if gram == (1,):
                assert lp == -99.0
            else:
                assert lp == pytest.approx(math.log10(probs[n][gram]), abs=1e-9), gram
            gamma = gammas.get(n + 1, {}).get(gram)
            assert bo == pytest.approx(math.log10(gamma) if gamma else 0.0, abs=1e-9), gram


def test_discounts_fall_back_on_a_tiny_corpus(tmp_path, capsys):
    (tmp_path / "tiny.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n")
    # Chen & Goodman: t1..t4 = 4, 2, 1, 1 -> Y = 0.5, D1 = 1 - 2Y t2/t1, D2 = 2 - 3Y t3/t2, D3+ = 3 - 4Y t4/t3
    assert discounts(np.array([1, 1, 1, 1, 2, 2, 3, 4, 9])) == ((0.5, 1.25, 1.0), False)
    assert discounts(np.array([1, 1, 2])) == (FALLBACK, True)  # no count of 3 or 4
    rc = cli.main(["train-lm", "--input", str(tmp_path / "tiny.txt"), "--out", str(tmp_path / "lm"),
                   "--language", "xx", "--vocab-size", "30"])
    out = capsys.readouterr().out
    assert rc == 0 and "fell back to 0.5 1 1.5" in out and "xx: {lm: " in out
    assert kenlm.Model(str(tmp_path / "lm" / "xx.arpa")).order == 3


def _error(capsys, *argv) -> str:
    assert cli.main(["train-lm", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_usage_errors_are_one_line(tmp_path, capsys):
    good = tmp_path / "c.txt"
    good.write_text("some text here\nmore text there\n")
    (tmp_path / "blank.txt").write_text("\n  \n")
    (tmp_path / "afile").write_text("x")
    base = ["--out", str(tmp_path / "lm"), "--language", "en"]
    assert "no file matches" in _error(capsys, "--input", str(tmp_path / "none-*.txt"), *base)
    assert "--order" in _error(capsys, "--input", str(good), *base, "--order", "1")
    assert "--order" in _error(capsys, "--input", str(good), *base, "--order", "7")
    assert "--vocab-size" in _error(capsys, "--input", str(good), *base, "--vocab-size", "3")
    assert "--sample-docs" in _error(capsys, "--input", str(good), *base, "--sample-docs", "0")
    assert "--language" in _error(capsys, "--input", str(good), "--out", str(tmp_path / "lm"), "--language", "a/b")
    assert "no document with text" in _error(capsys, "--input", str(tmp_path / "blank.txt"), *base)
    assert "--out" in _error(capsys, "--input", str(good), "--out", str(tmp_path / "afile"), "--language", "en")


def test_train_lm_to_gcs_and_the_step_reads_it_from_there(gcs, tmp_path):
    from thresher.transforms.base import ParamError
    from thresher.transforms.filters.ccnet_lm import CCNetLanguageModel
    from thresher.transforms.filters.perplexity import Perplexity

    texts = real_texts(60)
    (tmp_path / "corpus.txt").write_text("\n".join(" ".join(t.split()) for t in texts) + "\n", encoding="utf-8")
    remote = f"gs://{gcs[0].name}/lm"
    assert cli.main(["train-lm", "--input", str(tmp_path / "corpus.txt"), "--out", remote, "--language", "en",
                     "--vocab-size", "500"]) == 0
    assert cli.main(["train-lm", "--input", str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "lm"),
                     "--language", "en", "--vocab-size", "500"]) == 0
    pair = {"lm": f"{remote}/en.arpa", "sp": f"{remote}/en.sp.model"}
    Perplexity(models={"en": pair}).preflight({})
    with pytest.raises(ParamError) as err:
        Perplexity(models={"en": {**pair, "lm": f"{remote}/missing.arpa"}}).preflight({})
    assert err.value.param == "models.en.lm" and "no such file" in str(err.value)
    here = CCNetLanguageModel(str(tmp_path / "lm" / "en.arpa"), str(tmp_path / "lm" / "en.sp.model"))
    there = CCNetLanguageModel(pair["lm"], pair["sp"])  # copied once to the temp folder, then loaded
    for text in texts[:5]:  # the same training (deterministic) whether written here or on gs://
        assert there.perplexity(text) == here.perplexity(text)
