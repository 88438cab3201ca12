"""The data card: content, escaping, self-containment, old stats files, and a headless-browser render."""
from __future__ import annotations

import argparse
import copy
import html.parser
import json
import re
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest

import yaml

from thresher.pipelines.report import datacard, svg_charts
from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.registry import STEPS
from thresher.pipelines.run.execute import write_lock
from thresher.pipelines.run.runners import RunnerConfig
from thresher.pipelines.report.profile import ProfileAnnotations
from thresher.pipelines.report.stats import COPIES_ADDED, build_stats
from thresher.pipelines.report.svg_charts import BAR, fmt_num, fmt_short, nice_ticks
from thresher.transforms.document import Document

HOSTILE = "<script>alert(1)</script>"


def old_stats():
    """stats.json as written before provenance, tokens, summaries, profile and examples existed."""
    return {"recipe": "demo",
            "input": {"documents": 1000, "read_errors": 2, "total": 1002,
                      "by_source": {"web": {"documents": 1000, "errors": 2}}},
            "steps": [{"index": 0, "step": "gopher", "in": 1000, "out": 900, "dropped_total": 98, "errors": 2,
                       "dropped": {"gopher_too_few_alpha_words": 38, "gopher_short_doc": 60}, "balanced": True},
                      {"index": 1, "step": "minhash_dedup", "in": 900, "out": 700, "dropped_total": 200, "errors": 0,
                       "dropped": {"minhash_duplicate": 200}, "report": {"converged": 1, "rounds": 3},
                       "balanced": True}],
            "output": {"documents": 700, "files": 1}, "dropped_total": 298, "errors_total": 4,
            "rejected_written": 298, "errors_written": 0, "balanced": True,
            "files": [{"kind": "data", "path": "out/data/part-0.parquet", "rows": 700},
                      {"kind": "rejected", "path": "out/rejected/part-0.parquet", "rows": 298}]}


MIX = {"kind": "mix", "unit": "tokens", "budget": 1_000_000, "seed": 7, "max_epochs": 4, "token_counting": "estimate",
       "sources": [{"source": "web", "weight": 0.75, "available_tokens": 1_500_000, "available_documents": 700,
                    "target": 750_000, "rate": 0.5, "achieved_tokens": 749_321, "achieved_documents": 351,
                    "epochs": 0.5, "shortfall": 679}]}
CONTAMINATION = {"kind": "contamination", "ngram": 13, "min_matches": 1, "documents_checked": 700,
                 "documents_flagged": 4, "benchmarks": {"gsm8k": {"items": 1319, "items_found": 3}},
                 "items": [{"benchmark": "gsm8k", "item": "Janet's ducks lay 16 eggs", "documents": 4,
                            "examples": ["doc-17", HOSTILE]}]}


def _profile():
    """The profile of a few output documents, made by the pipeline's own CombineFn."""
    fn = ProfileAnnotations()
    acc = fn.create_accumulator()
    for i, (lang, score) in enumerate([("en", 0.91), ("en", 0.12), ("de", 0.13), (HOSTILE, 0.55), ("en", None)]):
        annotations = {"language": lang, "cluster_size": i % 3 + 1 if i != 2 else 40}
        if score is not None:
            annotations["edu_score"] = score
        acc = fn.add_input(acc, Document(id=f"d{i}", text="word " * (20 * (i + 1) ** 2), annotations=annotations))
    return fn.extract_output(fn.merge_accumulators([acc]))


def full_stats():
    """What the builder writes now (build_stats with tokens, summaries, profile, examples, provenance),
    with hostile strings where data flows in."""
    counts = {("read", "web", "docs"): 1000, ("read", "web", "errors"): 2,
              ("read", "web", "docs", "tokens"): 2_000_000,
              ("step", 0, "out"): 900, ("step", 0, "out", "tokens"): 1_900_000, ("step", 0, "errors"): 2,
              ("step", 0, "dropped", "gopher_short_doc"): 60,
              ("step", 0, "dropped", "gopher_too_few_alpha_words"): 35,
              ("step", 0, "dropped", HOSTILE): 3,
              ("step", 1, "out"): 700, ("step", 1, "out", "tokens"): 1_500_000,
              ("step", 1, "dropped", "minhash_duplicate"): 200,
              ("step", 1, "report", "converged"): 1, ("step", 1, "report", "rounds"): 3,
              ("step", 1, "report", "shuffle_bytes"): 544_500, ("step", 1, "report", "shuffle_bytes_per_doc"): 605,
              ("step", 2, "out"): 700, ("step", 2, "out", "tokens"): 1_500_000,
              ("step", 3, "out"): 700, ("step", 3, "out", "tokens"): 1_500_000,
              ("step", 4, "out"): 750, ("step", 4, "out", "tokens"): 1_600_000, ("step", 4, "report", COPIES_ADDED): 50}
    summary = {"recipe": "demo", "inputs": ["web"],
               "steps": [{"index": i, "step": s} for i, s in
                         enumerate(["gopher", "minhash_dedup", "decontaminate", "fineweb_edu", "mix"])],
               "input_files": {"count": 3, "bytes": 123_457_813 + 5, "listed": [
                   {"source": "web", "path": "gs://bucket/cc/part-0.warc.gz", "bytes": 123_456_789},
                   {"source": "web", "path": "gs://bucket/cc/part-1.warc.gz", "bytes": 1024}]},
               "run": {"started_unix": 0.0, "recipe_file": "recipes/demo.yaml", "runner": "local", "workers": 2,
                       "versions": {"apache-beam": "2.77.0", "thresher": "0.1.0"},
                       "recipe": {"name": "demo", "note": "```" + HOSTILE,
                                  "steps": [{"gopher": {"min_doc_words": 50}}]}}}
    files = [{"kind": "data", "path": "out/data/part-0.parquet", "rows": 750},
             {"kind": "rejected", "path": "out/rejected/part-0.parquet", "rows": 298}]
    facts = [("summary", 2, CONTAMINATION), ("summary", 4, MIX),
             ("summary", 3, {"kind": "quality", "top_percent": 10.0, "cutoff": 2.8125, "scored": 700}),
             ("summary", 1, {"kind": "something_new", "alpha": 0.25, "nested": {"a": [1, 2]}}),
             ("profile", 0, _profile()),
             ("examples", ("00_gopher", "gopher_short_doc"), [
                 {"id": "doc-1", "url": "http://example.com/a?x=<b>", "text": "Too short."},
                 {"id": HOSTILE, "url": "javascript:" + HOSTILE,
                  "text": HOSTILE + " | [x](http://evil) ![i](http://evil/p.png) " + "y" * 400}])]
    stats = build_stats(counts, summary, files, facts)
    stats["run"].update(started="2025-01-02T03:04:05+00:00", finished="2025-01-02T03:06:10+00:00", wall_s=125.0)
    return stats


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(page):
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def test_html_has_every_section_and_number():
    page = datacard.render_html(full_stats())
    for text in ("Accounting", "Balanced: yes",
                 "input total 1,002 + copies added 50 = output 750 + dropped 298 + errors 4",
                 "Provenance", "2025-01-02T03:04:05+00:00", "125.0 s (2 min 5 s)", "apache-beam", "2.77.0",
                 "gs://bucket/cc/part-0.warc.gz", "123,456,789", "all 3 file(s), 2 listed", "117.7 MiB",
                 "min_doc_words: 50", "Funnel", "1,900,000 tokens (95.0%)", "700 docs (70.0%)",
                 "750 docs (75.0%)", "1,600,000 tokens (80.0%)", "copies added", "Drops", "gopher_short_doc",
                 "minhash_duplicate", "Distributions", "length_chars", "edu_score", "0.4275", "[0.1, 0.15): 2",
                 "Step reports", "converged", "rounds", "gsm8k", "1,319", "Janet", "doc-17", "749,321", "679",
                 "2.8125", "top_percent", "something_new", "Examples of dropped documents", "doc-1",
                 "Files written"):
        assert text in page, text
    kinds = [attrs.get("class", "") for tag, attrs in _tags(page) if tag == "svg"]
    assert all(k.startswith("chart") for k in kinds)
    # funnel, drop reasons, 4 numeric annotations (2 lengths, cluster_size, edu_score), language
    assert sorted(kinds) == ["chart funnel"] + ["chart hbar"] * 2 + ["chart histogram"] * 4
    cluster = page.split("<h3>cluster_size</h3>")[1].split("</svg>")[0].split("<svg")[1]
    # a gap (no "…" label: its tooltip names the empty range) and a log bin
    assert ">…<" not in cluster and "<title>no documents in [3, 38.055)</title>" in cluster  # no 3 in 1, 2, 40
    assert "[38.055, 45.255): 1" in cluster and ">38.1<" in cluster


def test_data_is_escaped_and_page_is_self_contained():
    page = datacard.render_html(full_stats())
    assert HOSTILE not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "y" * 301 not in page  # example texts are cut
    tags = _tags(page)
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe", "object", "embed", "image", "use")]
    for tag, attrs in tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href", "xlink:href", "action"):
                assert value.startswith("#"), (tag, name, value)  # in-page anchors only
    assert "url(" not in page and "@import" not in page


def test_markdown_has_sections_and_escapes():
    text = datacard.render_markdown(full_stats())
    for part in ("# Thresher data card: demo", "## Accounting", "**Balanced: yes**", "## Provenance",
                 "## Funnel", "## Drops", "## Distributions", "### length_chars",
                 "## Step reports", "## Examples of dropped documents", "| gsm8k | 1,319 | 3 |", "749,321",
                 "```yaml", "min_doc_words: 50", "█"):
        assert part in text, part
    before, fenced, after = text.split("````")  # the recipe's own ``` cannot close the fence
    assert fenced.startswith("yaml\n") and "note: '```<script>" in fenced  # code blocks show text as is
    assert HOSTILE not in before + after and "<b>" not in text
    assert "&lt;script&gt;" in after
    assert "\\[x\\](http://evil)" in text and "!\\[i\\](http://evil/p.png)" in text  # no links or images
    row = next(line for line in text.splitlines() if "Too short" not in line and "javascript:" in line)
    assert row.count(" | ") == 2 and "\\|" in row  # the pipe in the text does not split the cell


def test_shuffle_bytes_have_their_own_section():
    text = datacard.render_markdown(full_stats())
    section = text.split("## Shuffles")[1].split("## ")[0]
    assert "Dataflow Shuffle" in section
    assert "| 01 minhash_dedup | 531.7 KiB | 605 | 900 |" in section  # 544,500 B; 900 documents in
    assert "## Shuffles" not in datacard.render_markdown(old_stats())  # no step reported shuffle bytes


def test_old_stats_render_and_unbalanced_is_loud():
    stats = old_stats()
    page, text = datacard.render_html(stats), datacard.render_markdown(stats)
    assert "Balanced: yes" in page and "Funnel" in page and "gopher_short_doc" in page and "## Drops" in text
    assert "Distributions" not in page and "Provenance" in page and "Examples" not in text
    assert "tokens (" not in page and "input tokens" not in page  # no token counts to show
    bad = copy.deepcopy(stats)
    bad["balanced"], bad["steps"][0]["balanced"] = False, False
    bad["output"]["documents"] = 650
    page = datacard.render_html(bad)
    assert "Balanced: NO" in page and "≠" in page and "do not balance: 00 gopher" in page
    minimal = {"recipe": "x", "input": {"documents": 0, "total": 0}, "steps": [], "output": {"documents": 0}}
    assert "Balanced: NO" in datacard.render_html(minimal) and datacard.render_markdown(minimal)


def test_write_report_and_cli(tmp_path, capsys):
    (tmp_path / "stats.json").write_text(json.dumps(full_stats()))
    parser = datacard.add_arguments(argparse.ArgumentParser())
    assert datacard.run(parser.parse_args([str(tmp_path)])) == 0
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "## Funnel" in (tmp_path / "report.md").read_text()
    assert datacard.run(parser.parse_args([str(tmp_path / "missing")])) == 2
    assert "stats.json" in capsys.readouterr().err


def test_chart_helpers():
    assert nice_ticks(0) == [0, 1] and nice_ticks(7) == [0, 2, 4, 6, 8] and nice_ticks(1000)[-1] == 1000
    assert nice_ticks(1, 4, integer=True) == [0, 1]
    assert fmt_num(1234) == "1,234" and fmt_num(2.0) == "2" and fmt_num(0.123456) == "0.12346"
    assert fmt_num(2345.67) == "2,345.7" and fmt_short(4870.9) == "4.87k" and fmt_short(0.05) == "0.05"


def _png_pixels(path):
    """RGB(A) pixels of an 8-bit non-interlaced PNG, as a (height, width, channels) array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6), header
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), dtype=np.int32)
    prev = np.zeros(width * bpp, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + prev) & 255
        elif kind == 1:  # Sub: running sum per channel
            row = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) & 255
        else:  # Average, Paeth: depend on the pixel to the left, byte by byte
            row = np.zeros_like(line)
            cur, up = row.tolist(), prev.tolist()
            vals = line.tolist()
            for i in range(len(vals)):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    cur[i] = (vals[i] + (a + b) // 2) & 255
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    cur[i] = (vals[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            row = np.array(cur, dtype=np.int32)
        out[y], prev = row, row
    return out.reshape(height, width, bpp)[:, :, :3]


def test_report_renders_in_headless_chromium(tmp_path):
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                   None)
    if browser is None:
        pytest.skip("no chromium, chromium-browser or google-chrome binary on PATH: browser render not checked")
    datacard.write_report(str(tmp_path), full_stats())
    page = (tmp_path / "report.html").as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(flags + ["--dump-dom", page], capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('<svg class="chart') == 7 and "<rect" in dom.stdout
    assert "<script" not in dom.stdout  # the hostile strings stayed text
    shot = tmp_path / "shot.png"
    run = subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1280,2000", page],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    pixels = _png_pixels(shot)
    bar = np.array([int(BAR[i:i + 2], 16) for i in (1, 3, 5)])
    bar_pixels = int((np.abs(pixels - bar).max(axis=2) <= 6).sum())
    assert bar_pixels > 2_000, f"only {bar_pixels} pixels of the bar colour {BAR}: charts not drawn"


# --- issue 12: a card that tells the truth ------------------------------------------------------


def _warning_count(page: str) -> int:
    return page.count('<p class="warning" role="alert">')


def test_failed_run_shows_a_red_warning_with_its_reason():
    stats = full_stats()
    assert _warning_count(datacard.render_html(stats)) == 0  # a good run: the green badge alone
    stats.update(status="failed", status_reason="input web: 0 documents from 13 files")
    page, text = datacard.render_html(stats), datacard.render_markdown(stats)
    assert _warning_count(page) == 1 and "Balanced: yes" in page
    assert page.index('class="warning"') < page.index("Balanced: yes")  # the warning comes first
    assert "This run FAILED: input web: 0 documents from 13 files" in page
    assert "> **⚠ WARNING: This run FAILED: input web: 0 documents from 13 files" in text
    stats["status_reason"] = HOSTILE
    assert HOSTILE not in datacard.render_html(stats)
    assert ".warning{background:#c62828" in page  # red
    stats["status_reason"] = "is `format: wet` right for these files?"  # its own end mark, no stray "."
    assert "right for these files? Its output is incomplete" in datacard.render_markdown(stats)


def test_empty_run_shows_a_red_warning_even_when_it_succeeded():
    stats = old_stats()
    stats["output"]["documents"] = 0
    stats.update(status="succeeded", status_reason="")
    page = datacard.render_html(stats)
    assert _warning_count(page) == 1 and "No document was written (1,000 read)" in page
    stats["output"]["documents"] = 1  # the boundary: one document written is no warning
    assert _warning_count(datacard.render_html(stats)) == 0
    minimal = {"recipe": "x", "input": {"documents": 0, "total": 0}, "steps": [], "output": {"documents": 0}}
    assert "No document was written (0 read)" in datacard.render_markdown(minimal)


def _extract_stats():
    stats = old_stats()
    stats["input"]["tokens"] = 10_000_000  # estimated on raw HTML
    stats["steps"].insert(0, {"index": 0, "step": "extract", "in": 1000, "out": 1000, "dropped_total": 0,
                              "errors": 0, "dropped": {}, "balanced": True, "tokens_out": 1_380_000})
    stats["steps"][1].update(index=1, tokens_out=1_242_000)
    stats["steps"][2].update(index=2, tokens_out=966_000)
    stats["output"]["tokens"] = 966_000
    return stats


def test_token_shares_are_of_the_extracted_text_not_raw_html():
    page, text = datacard.render_html(_extract_stats()), datacard.render_markdown(_extract_stats())
    funnel = page.split('class="chart funnel"')[1].split("</svg>")[0]
    assert "10,000,000 tokens of raw HTML, before extraction (not a share)" in funnel
    assert "1,380,000 tokens (100.0%)" in funnel and "966,000 tokens (70.0%)" in funnel
    assert "13.8%" not in page  # what the raw-HTML base made extraction seem to keep
    assert "Token shares are of the text after extraction (00 extract: 1,380,000 tokens)" in page
    assert "| input (read) | 1,002 | 1,000 | 0 | 2 | 10,000,000 | 100.0% | raw HTML |" in text
    assert "| 00 extract | 1,000 | 1,000 | 0 | 0 | 1,380,000 | 100.0% | 100.0% | yes |" in text
    # without an extract step the input's tokens are text and stay the base
    plain = full_stats()
    assert "raw HTML" not in datacard.render_html(plain)
    assert "1,900,000 tokens (95.0%)" in datacard.render_html(plain)


def test_an_annotation_with_one_value_shows_the_value_not_a_chart():
    fn = ProfileAnnotations()
    acc = fn.create_accumulator()
    for i in range(3):
        acc = fn.add_input(acc, Document(id=f"d{i}", text="word " * (i + 1),
                                         annotations={"extractor": "trafilatura", "exact_copies": 1,
                                                      "score": 0.5 + i / 10}))
    stats = old_stats()
    stats["profile"] = fn.extract_output(acc)
    page, text = datacard.render_html(stats), datacard.render_markdown(stats)
    for name, value in (("extractor", "trafilatura"), ("exact_copies", "1")):
        section = page.split(f"<h3>{name}</h3>")[1].split("<h3>")[0]
        assert "<svg" not in section and f"with {name} has the value {value}." in section
        assert f"<dt>every value</dt><dd>{value}</dd>" in section
    assert "<svg" in page.split("<h3>score</h3>")[1].split("<h3>")[0]  # three values: a histogram
    assert "- **every value**: trafilatura" in text


def test_long_drop_reasons_wrap_instead_of_being_cut():
    stats = old_stats()
    stats["steps"][0].update(step="gopher_quality", dropped={"gopher_mean_word_length_below_min": 38,
                                                             "gopher_short_doc": 60})
    page, text = datacard.render_html(stats), datacard.render_markdown(stats)
    chart = page.split('class="chart hbar"')[1].split("</svg>")[0]
    label = "gopher_mean_word_length_below_min (00 gopher_quality)"
    lines = re.findall(r"<tspan[^>]*>([^<]*)</tspan>", chart)
    assert "gopher_mean_word_length_below_min" in lines and "(00 gopher_quality)" in lines  # wrapped, not cut
    assert label not in lines and "…" not in chart
    assert all(len(line) <= svg_charts.WRAP for line in lines)
    # the drop table says what each reason means (the step's DROP_REASONS)
    assert "mean word length below min_avg_word_length" in page
    assert "| 00 gopher_quality | gopher_short_doc | fewer words than min_doc_words | 60 | 6.0% |" in text


def test_wrap_label_keeps_every_character():
    for label in ("short", "a" * 100, "url_soft_banned_words (12 url_filter)", "x_" * 40,
                  "mixed words and_under_scores " * 3):
        lines = svg_charts.wrap_label(label, 20)
        assert all(0 < len(line) <= 20 for line in lines)
        assert "".join(lines).replace(" ", "") == label.replace(" ", "")
    assert svg_charts.wrap_label("gopher_mean_word_length_below_min", 20) == ["gopher_mean_word_", "length_below_min"]
    assert svg_charts.wrap_label("a" * 45, 20) == ["a" * 20, "a" * 20, "a" * 5]
    assert svg_charts.wrap_label("x" * 20, 20) == ["x" * 20]  # the boundary: a label of exactly the width


def test_lock_file_and_card_show_every_parameter_with_its_default(tmp_path):
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(
        "version: 1\nname: lock\ninputs:\n  web:\n    paths: [x.jsonl]\n    format: jsonl\n"
        "steps:\n  - step: language\n    min_score: 0.5\n  - step: exact_dedup\n  - step: gopher_quality\n"
        f"output:\n  path: {tmp_path / 'out'}\n")
    recipe = load_recipe(str(recipe_file), STEPS)
    write_lock(recipe, RunnerConfig(runner="local", workers=1))
    lock_text = (tmp_path / "out" / "recipe.lock.yaml").read_text()
    lock = yaml.safe_load(lock_text)
    language, dedup, gopher = lock["recipe"]["steps"]
    assert gopher["min_stop_words"] == 2 and gopher["bullets"] == ["•", "-"] and "- •" in lock_text  # not \u2022
    assert language == {"step": "language", "languages": ["en"], "min_score": 0.5, "min_scores": None,
                        "map_chinese": True, "model_path": None}
    assert dedup == {"step": "exact_dedup", "normalize": "lower_whitespace", "priority": "id_hash",
                     "priority_annotation": None}
    stats = old_stats()
    stats["run"] = {"recipe": recipe.to_dict()}
    card = datacard.render_markdown(stats)
    fenced = card.split("```yaml\n")[1].split("```")[0]
    assert yaml.safe_load(fenced)["steps"] == lock["recipe"]["steps"]
    assert "defaults filled in, as in recipe.lock.yaml" in card
