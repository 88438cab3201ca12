"""Every mistake caught before the run: ``thresher validate`` and ``thresher run`` print one line per
problem and exit 2 before anything is written (CLI end to end, real files from ../shared/data)."""
from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.pipelines.commands.cli import main
from tests.conftest import PROJECT_ROOT, SHARED_DATA, require_fineweb_lists, require_lid_model
from thresher.transforms.io.sources.sniff import check_format

WARCS = SHARED_DATA / "warc-samples"
DOLMA_WARCS = str(WARCS / "dolma" / "*.warc.gz")  # CC WARC files: request, response records
WET = str(WARCS / "whirlwind-cc" / "whirlwind.warc.wet.gz")
WAT = str(WARCS / "whirlwind-cc" / "whirlwind.warc.wat.gz")
ARC = str(WARCS / "copycat-cc2008-arc" / "small-sample-1213893279526_0.arc.gz")
LDNOOBW = str(SHARED_DATA / "wordlists" / "ldnoobw")
GSM8K = str(SHARED_DATA / "decontam-benchmarks" / "gsm8k" / "test.jsonl")


def recipe(tmp_path, steps: str = "  - step: extract\n", paths=(DOLMA_WARCS,), fmt: str = "warc",
           extra_input: str = "", output: str = "") -> str:
    path = tmp_path / "recipe.yaml"
    out = output or str(tmp_path / "out")
    listed = ", ".join(f"'{p}'" for p in paths)
    path.write_text(f"version: 1\nname: t\ninputs:\n  web:\n    paths: [{listed}]\n    format: {fmt}\n"
                    f"{extra_input}steps:\n{steps}output:\n  path: '{out}'\n")
    return str(path)


def errors(capsys, *args):
    """(exit code, the 'error:' lines on stderr)."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [line for line in err.splitlines() if line.startswith("error: ")]


def both(capsys, tmp_path, path, *extra):
    """validate and run give the same error lines and exit 2; run wrote nothing."""
    out = tmp_path / "out"
    code, lines = errors(capsys, "validate", path, *extra)
    assert code == 2 and lines, lines
    run_code, run_lines = errors(capsys, "run", path, "--workers", "1", *extra)
    assert run_code == 2 and run_lines == lines
    assert not out.exists(), list(out.iterdir())
    return lines


# ---------------------------------------------------------------- what the new user hit

def test_warc_files_given_as_wet(tmp_path, capsys):
    lines = both(capsys, tmp_path, recipe(tmp_path, fmt="wet"))
    assert len(lines) == 1  # one line for the pattern, not one per file
    assert "inputs.web.format: " in lines[0] and "sample-0000.warc.gz: holds WARC records of type request, " \
        "response, no conversion records, but the format is wet" in lines[0] and "set format: warc" in lines[0]
    assert errors(capsys, "validate", recipe(tmp_path, fmt="warc")) == (0, [])


def test_language_not_a_label_of_the_model(tmp_path, capsys):
    require_lid_model()
    steps = "  - step: extract\n  - step: language\n    languages: [english, de]\n"
    (line,) = both(capsys, tmp_path, recipe(tmp_path, steps))
    assert "steps[1] (language).languages: 'english' is not a label of lid.176" in line
    assert line.endswith("did you mean 'en'?")
    assert errors(capsys, "validate", recipe(tmp_path, steps.replace("english", "en"))) == (0, [])


def test_c4_badwords_without_a_list_for_a_language_it_meets(tmp_path, capsys):
    require_lid_model()
    words = tmp_path / "words"
    words.mkdir()
    (words / "de").write_text("scheisse\n")
    steps = (f"  - step: extract\n  - step: language\n    languages: [en, de]\n"
             f"  - step: c4_badwords\n    wordlist_dir: '{words}'\n")
    (line,) = both(capsys, tmp_path, recipe(tmp_path, steps))
    assert "steps[2] (c4_badwords).wordlist_dir: no word list for 'en' (default_language): looked for " \
           f"{words}/en.c4-commit-25e679f (english_file)" in line
    # the real LDNOOBW folder has en and de; a kept language without a list is named, unless dropped
    ok = steps.replace(str(words), LDNOOBW)
    assert errors(capsys, "validate", recipe(tmp_path, ok)) == (0, [])
    code, (line,) = errors(capsys, "validate", recipe(tmp_path, ok.replace("[en, de]", "[en, de, sw]")))
    assert code == 2 and "no word list for 'sw' (kept by the language step)" in line \
        and f"looked for {LDNOOBW}/sw" in line and "drop_unlisted: true" in line
    dropped = ok.replace("[en, de]", "[en, de, sw]") + "    drop_unlisted: true\n"
    assert errors(capsys, "validate", recipe(tmp_path, dropped)) == (0, [])


def test_fineweb_url_lists_missing(tmp_path, capsys):
    lists = tmp_path / "lists"
    (lists / "ut1" / "adult").mkdir(parents=True)
    (lists / "ut1" / "adult" / "domains").write_text("example-adult.com\n")  # no urls file, no word lists
    path = str(PROJECT_ROOT / "recipes" / "fineweb.yaml")
    require_lid_model()
    lines = both(capsys, tmp_path, path, "--input", DOLMA_WARCS, "--output", str(tmp_path / "out"),
                 "--param", f"blocklists={lists}")
    assert len(lines) == 4, lines
    assert "steps[0] (url_filter).url_blocklists: " \
           f"{lists}/ut1/adult: folder without a 'urls' file (expected a URL list" in lines[0]
    for line, name in zip(lines[1:], ("banned_words", "soft_banned_words", "banned_subwords")):
        assert f"steps[0] (url_filter).{name}_files: {lists}/datatrove/{name}.txt: no such file " \
               "(expected a word list, one word a line); relative paths are resolved from the current " \
               f"directory {os.getcwd()}" in line


def test_fineweb_recipe_before_thresher_assets(tmp_path, capsys, monkeypatch):
    """An empty cache (a new user's): every list is named, with what fills the cache."""
    monkeypatch.setenv("THRESHER_LID_MODEL", require_lid_model())
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    lines = both(capsys, tmp_path, str(PROJECT_ROOT / "recipes" / "fineweb.yaml"), "--input", DOLMA_WARCS,
                 "--output", str(tmp_path / "out"))
    cache = tmp_path / "home" / ".cache" / "thresher" / "fineweb"
    assert [line.split(" (url_filter).")[1].split(":")[0] for line in lines] == [
        "domain_blocklists", "url_blocklists", "banned_words_files", "soft_banned_words_files",
        "banned_subwords_files"]
    assert f"domain_blocklists: {cache}/ut1/adult: no such file or folder" in lines[0]
    assert all(line.endswith("`thresher assets` puts FineWeb's lists there") for line in lines)


# ---------------------------------------------------------------- every error listed

def test_three_mistakes_give_three_lines(tmp_path, capsys):
    require_lid_model()
    steps = (f"  - step: extract\n  - step: language\n    languages: [englsh]\n"
             f"  - step: decontaminate\n    benchmarks: ['{tmp_path}/bench/*.jsonl']\n")
    lines = both(capsys, tmp_path, recipe(tmp_path, steps, fmt="wet"))
    assert len(lines) == 3, lines
    assert "inputs.web.format" in lines[0]
    assert "steps[1] (language).languages: 'englsh'" in lines[1] and "did you mean 'en'?" in lines[1]
    assert f"steps[2] (decontaminate).benchmarks: no file matches '{tmp_path}/bench/*.jsonl'" in lines[2]


def test_relative_paths_say_where_they_were_resolved(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    steps = "  - step: url_filter\n    domain_blocklists: [lists/adult]\n"
    path = recipe(tmp_path, steps, paths=("crawl/*.warc.gz",))
    lines = both(capsys, tmp_path, path)
    assert len(lines) == 2
    assert f"inputs.web.paths[0]: no file matches 'crawl/*.warc.gz'; resolved to {tmp_path}/crawl/*.warc.gz " \
           f"from the current directory {tmp_path}" in lines[0]
    assert f"steps[0] (url_filter).domain_blocklists: lists/adult: no such file or folder (expected a domain " \
           f"list, one domain a line, or a UT1 category folder such as adult/ holding a 'domains' file); " \
           f"resolved to {tmp_path}/lists/adult from the current directory {tmp_path}" in lines[1]


def test_home_paths_are_expanded(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "crawl").mkdir()
    (tmp_path / "crawl" / "a.warc.gz").write_bytes(b"")
    (tmp_path / "words.txt").write_text("porn\n")
    steps = "  - step: url_filter\n    banned_words_files: ['~/words.txt']\n"
    path = recipe(tmp_path, steps, paths=("~/crawl/*.warc.gz",), output="~/out")
    assert errors(capsys, "validate", path) == (0, [])
    (tmp_path / "words.txt").unlink()
    code, (line,) = errors(capsys, "validate", path)
    assert code == 2 and f"banned_words_files: {tmp_path}/words.txt: no such file" in line


# ---------------------------------------------------------------- --input and --output

def test_input_with_an_unknown_name_lists_the_inputs(tmp_path, capsys):
    path = recipe(tmp_path)
    code, (line,) = errors(capsys, "validate", path, "--input", f"crawl={DOLMA_WARCS}")
    assert code == 2 and line.endswith("inputs: --input 'crawl=" + DOLMA_WARCS + "': the recipe has no "
                                       "input 'crawl'; valid: web")
    code, (line,) = errors(capsys, "run", path, "--input", f"wbe={DOLMA_WARCS}")
    assert code == 2 and "no input 'wbe' (did you mean 'web'?); valid: web" in line
    assert errors(capsys, "validate", path, "--input", f"web={DOLMA_WARCS}") == (0, [])
    # a file whose name holds '=' is still a pattern when the recipe has one input
    odd = tmp_path / "a=b.warc.gz"
    odd.write_bytes(b"")
    assert errors(capsys, "validate", path, "--input", str(odd)) == (0, [])
    assert errors(capsys, "validate", path, "--input", "web=") [0] == 2


def test_validate_checks_the_overridden_inputs_and_output(tmp_path, capsys):
    path = recipe(tmp_path)
    code, (line,) = errors(capsys, "validate", path, "--input", WET)
    assert code == 2 and "whirlwind.warc.wet.gz: holds WET conversion (plain text) records" in line \
        and "set format: wet" in line
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, (line,) = errors(capsys, "validate", path, "--output", str(blocker / "out"))
    assert code == 2 and f"output.path: {blocker}/out: its parent {blocker} is a file, not a folder" in line
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        code, (line,) = errors(capsys, "validate", path, "--output", str(locked / "out"))
        assert code == 2 and f"its parent {locked} is not writable (permission denied)" in line
    finally:
        locked.chmod(0o700)


# ---------------------------------------------------------------- formats from the first records

def _fields(**kw):
    from thresher.transforms.io.sources.common import Fields
    return Fields(**kw)


@pytest.mark.parametrize("path, fmt, expected", [
    (DOLMA_WARCS.replace("*", "sample-0000"), "warc", None),
    (DOLMA_WARCS.replace("*", "sample-0000"), "wet", "no conversion records, but the format is wet"),
    (WET, "wet", None),
    (WET, "warc", "holds WET conversion (plain text) records, no response records, but the format is warc"),
    (WAT, "warc", "(a WAT file), which hold no document"),
    (WAT, "wet", "(a WAT file), which hold no document"),
    (ARC, "arc", None),
    (ARC, "warc", "does not hold WARC (format: warc); it looks like an ARC file: set format: arc"),
    (str(WARCS / "warcio" / "example.warc"), "arc", "it looks like a WARC file: set format: warc (or wet)"),
    (str(WARCS / "warcio" / "example.warc"), "jsonl", "does not hold JSON Lines"),
    (GSM8K, "jsonl", "the first 5 record(s) have no field 'text' (text_field); their fields: question, answer"),
    (GSM8K, "warc", "it looks like JSON"),
    (str(WARCS / "warcio" / "example-bad.warc.gz.bad"), "auto", "format auto cannot tell the format"),
    (str(WARCS / "warcio" / "example.arc.gz"), "auto", None),
])
def test_declared_format_against_the_first_records(path, fmt, expected):
    problem = check_format(path, fmt)
    assert (problem is None) if expected is None else (expected in problem and problem.startswith(path)), problem


def test_jsonl_and_parquet_fields(tmp_path):
    rows = tmp_path / "rows.jsonl.gz"
    with gzip.open(rows, "wt") as f:
        f.write(json.dumps({"body": "a", "id": 1}) + "\n" + json.dumps({"content": "b"}) + "\n")
    assert "the first 2 record(s) have no field 'text' (text_field); their fields: body, id, content" \
        in check_format(str(rows), "jsonl")
    assert check_format(str(rows), "jsonl", _fields(text="body")) is None
    import zstandard
    packed = tmp_path / "rows.jsonl.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(json.dumps({"body": "a"}).encode() + b"\n"))
    assert "no field 'text' (text_field); their fields: body" in check_format(str(packed), "auto")
    # a record past the first with the field: the field exists, the reader reports bad lines itself
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps({"x": 1}) + "\n" + json.dumps({"text": "t"}) + "\n")
    assert check_format(str(mixed), "jsonl") is None
    notjson = tmp_path / "notes.jsonl"
    notjson.write_text("just words\n[1, 2]\n")
    assert check_format(str(notjson), "jsonl") == f"{notjson}: none of the first 2 line(s) is a JSON object " \
        "(format: jsonl); line 1 is not JSON: 'just words'"
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"content": ["a"], "n": [1]}), table)
    assert check_format(str(table), "parquet") == f"{table}: no column 'text' (text_field); its columns: content, n"
    assert check_format(str(table), "parquet", _fields(text="content")) is None
    assert "column 'n' (text_field) is int64, not a string" in check_format(str(table), "parquet", _fields(text="n"))
    assert "not a Parquet file (it looks like JSON)" in check_format(str(mixed), "parquet")
    assert "it looks like a Parquet file: set format: parquet" in check_format(str(table), "jsonl")


def test_damage_is_left_to_the_readers(tmp_path):
    """A damaged file is not a wrong format: the readers report damage at run time and read on."""
    lines = b"".join(json.dumps({"text": f"document {i}"}).encode() + b"\n" for i in range(2000))
    packed = gzip.compress(lines)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed[:len(packed) // 2])
    assert check_format(str(cut), "jsonl") is None
    bad_first = tmp_path / "bad-first.jsonl"
    bad_first.write_bytes(b"{broken\n" + lines[:200])
    assert check_format(str(bad_first), "jsonl") is None
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["a"]}), table)
    footless = tmp_path / "footless.parquet"
    footless.write_bytes(table.read_bytes()[:-12])
    assert check_format(str(footless), "parquet") is None
    garbage = tmp_path / "garbage-start.warc"
    garbage.write_bytes(b"\x00garbage" + (WARCS / "warcio" / "example.warc").read_bytes())
    assert check_format(str(garbage), "warc") is None and check_format(str(garbage), "wet") is None


def test_auto_format_input_whose_files_all_have_unknown_extensions(tmp_path, capsys):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("some text\n")
    code, (line,) = errors(capsys, "validate", recipe(tmp_path, paths=(str(tmp_path / "*.txt"),), fmt="auto"))
    assert code == 2 and f"inputs.web.format: {tmp_path}/a.txt (and 1 more file(s), none with a known " \
        "extension): format auto cannot tell the format from the extension" in line
    # a stray file among readable ones is one read error at run time, not a reason to refuse the run
    mixed = recipe(tmp_path, paths=(str(tmp_path / "a.txt"), WET), fmt="auto")
    assert errors(capsys, "validate", mixed) == (0, [])


def test_zero_byte_and_empty_compressed_files_are_an_empty_run(tmp_path, capsys):
    for name in ("a.warc.gz", "b.jsonl", "c.parquet"):
        (tmp_path / name).write_bytes(b"")
    with gzip.open(tmp_path / "d.jsonl.gz", "wb"):
        pass
    for name, fmt in (("a.warc.gz", "wet"), ("b.jsonl", "jsonl"), ("c.parquet", "parquet"), ("d.jsonl.gz", "jsonl")):
        assert check_format(str(tmp_path / name), fmt) is None


def test_jsonl_input_without_text_field_end_to_end(tmp_path, capsys):
    path = recipe(tmp_path, "  - step: normalize\n", paths=(GSM8K,), fmt="jsonl")
    (line,) = both(capsys, tmp_path, path)
    assert "inputs.web.format: " in line and "no field 'text'" in line and "question, answer" in line
    fixed = recipe(tmp_path, "  - step: normalize\n", paths=(GSM8K,), fmt="jsonl",
                   extra_input="    text_field: question\n")
    assert errors(capsys, "validate", fixed) == (0, [])


# ---------------------------------------------------------------- annotations read before written

MIX = ("  - step: mix\n    weights: {web: 1}\n    budget_documents: 10\n    weight_by: cluster_size\n"
       "    weight_table: {1: 1, 2: 2}\n")


def test_annotation_read_before_any_step_writes_it(tmp_path, capsys):
    (line,) = both(capsys, tmp_path, recipe(tmp_path, "  - step: extract\n" + MIX + "  - step: minhash_dedup\n"))
    assert "steps[1] (mix).weight_by: annotation 'cluster_size' is written by no earlier step" in line
    assert errors(capsys, "validate", recipe(tmp_path, "  - step: extract\n  - step: minhash_dedup\n" + MIX)) \
        == (0, [])
    steps = "  - step: extract\n  - step: exact_dedup\n    priority: annotation\n    priority_annotation: html_bytes\n"
    assert errors(capsys, "validate", recipe(tmp_path, steps)) == (0, [])
    code, (line,) = errors(capsys, "validate", recipe(tmp_path, steps.replace("html_bytes", "extractor")))
    assert code == 2 and "(exact_dedup).priority_annotation: annotation 'extractor' is string, not a number" in line


def test_order_by_an_annotation_the_configured_steps_do_not_write(tmp_path, capsys):
    steps = "  - step: extract\n  - step: gopher_quality\n"
    path = recipe(tmp_path, steps, output=f"{tmp_path}/out'\n  order: annotation\n  order_by: 'gopher_quality_words")
    (line,) = both(capsys, tmp_path, path)
    assert "output.order_by: 'gopher_quality_words' is not a numeric annotation" in line
    path = recipe(tmp_path, steps + "    annotate: true\n",
                  output=f"{tmp_path}/out'\n  order: annotation\n  order_by: 'gopher_quality_words")
    assert errors(capsys, "validate", path) == (0, [])


# ---------------------------------------------------------------- the shipped recipes

@pytest.fixture(scope="module")
def quality_model(tmp_path_factory):
    """A small classifier from ``thresher train-quality`` with DCLM's labels (hq: English sentences,
    cc: German sentences, real lingua test data)."""
    out = tmp_path_factory.mktemp("model") / "quality.bin"
    sentences = SHARED_DATA / "langid-lingua" / "sentences"
    assert main(["train-quality", "--positive", str(sentences / "en.txt"), "--negative", str(sentences / "de.txt"),
                 "--out", str(out), "--dim", "8", "--epoch", "1", "--thread", "1", "--verbose", "0"]) == 0
    return str(out)


def _resiliparse_installed() -> bool:
    try:
        import resiliparse.extract.html2text  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("name", ["quickstart", "c4", "fineweb", "gopher", "refinedweb", "dclm"])
def test_shipped_recipes_validate_on_real_files(name, tmp_path, capsys, quality_model):
    require_lid_model()
    adult = require_fineweb_lists()["ut1 adult"] if name in ("fineweb", "refinedweb", "dclm") else ""
    args = {
        "c4": ["--input", WET, "--param", f"wordlists={LDNOOBW}"],
        "gopher": [], "quickstart": [], "fineweb": [],  # fineweb: the lists where `thresher assets` put them
        "refinedweb": ["--param", f"blocklists={adult}"],  # its {blocklists}/domains: UT1's adult domains
        "dclm": ["--param", f"blocklists={adult}", "--param", f"quality_model={quality_model}"],
    }[name]
    if "--input" not in args:
        args = ["--input", DOLMA_WARCS] + args
    code, lines = errors(capsys, "validate", str(PROJECT_ROOT / "recipes" / f"{name}.yaml"),
                         "--output", str(tmp_path / "out"), *args)
    if name == "dclm" and not _resiliparse_installed():  # an optional extra: said before the run
        assert code == 2 and len(lines) == 1 and "steps[1] (extract).extractor: extractor \"resiliparse\" " \
            "needs the resiliparse package" in lines[0], lines
        return
    assert (code, lines) == (0, [])


# ---------------------------------------------------------------- each step's files and values

def test_mix_weights_name_the_inputs_and_the_tokenizer_loads(tmp_path, capsys):
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{not json")
    steps = f"  - step: extract\n  - step: mix\n    weights: {{books: 1}}\n    budget_tokens: 100\n" \
            f"    tokenizer: '{broken}'\n"
    lines = both(capsys, tmp_path, recipe(tmp_path, steps))
    assert [line.split(": steps[1] (mix).", 1)[1].split(":", 1)[0] for line in lines] == \
        ["weights", "weights", "tokenizer"]
    assert "mix: 'books' is not an input; valid: web" in lines[0]
    assert "mix: input 'web' has no weight" in lines[1]
    assert f"cannot load tokenizer '{broken}' (expected a Hugging Face tokenizer.json)" in lines[2]


def test_language_model_path_that_does_not_exist(tmp_path, capsys):
    steps = f"  - step: extract\n  - step: language\n    model_path: '{tmp_path}/lid.176.bin'\n"
    (line,) = both(capsys, tmp_path, recipe(tmp_path, steps))
    assert f"steps[1] (language).model_path: {tmp_path}/lid.176.bin: no such file (expected fastText " \
           "lid.176.bin or lid.176.ftz)" in line
    (tmp_path / "lid.176.bin").write_text("not a model")
    code, (line,) = errors(capsys, "validate", recipe(tmp_path, steps))
    assert code == 2 and "does not load as a fastText model" in line


def test_url_filter_lists_must_be_text(tmp_path):
    from thresher.transforms.base import ParamError
    from thresher.transforms.filters.url_filter import UrlFilter
    binary = tmp_path / "blacklists.tar"
    binary.write_bytes(b"adult/domains\0\0\0\0" + bytes(range(256)))
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9\nporn\n".encode("latin-1"))
    good = tmp_path / "domains"
    good.write_text("# comment\nbad.example\n")
    with pytest.raises(ParamError, match="blacklists.tar: binary data, not a text list") as err:
        UrlFilter(domain_blocklists=[str(binary)]).preflight({})
    assert err.value.param == "domain_blocklists"
    with pytest.raises(ParamError, match="latin1.txt: not UTF-8 text at byte 3") as err:
        UrlFilter(banned_words_files=[str(latin)]).preflight({})
    assert err.value.param == "banned_words_files"
    UrlFilter(domain_blocklists=[str(good)], url_blocklists=[str(good)]).preflight({})


def test_minhash_reference_signatures(tmp_path):
    import json as json_module

    from thresher.transforms.base import ParamError
    from thresher.transforms.dedup.minhash.step import SIGNATURE_META, MinHashDedup, signature_params
    with pytest.raises(ParamError, match="no reference signature file matches") as err:
        MinHashDedup(reference_signatures=str(tmp_path / "sig-*.parquet")).preflight({})
    assert err.value.param == "reference_signatures"
    schema = pa.schema([("id", pa.string()), ("bands", pa.list_(pa.int64()))],
                       metadata={SIGNATURE_META: json_module.dumps(signature_params(5, 14, 8, 1), sort_keys=True)})
    pq.write_table(pa.table({"id": ["a"], "bands": [[1, 2]]}, schema=schema), tmp_path / "sig-0.parquet")
    MinHashDedup(ngram=5, bands=14, rows=8, seed=1, reference_signatures=str(tmp_path / "sig-*.parquet")).preflight({})
    with pytest.raises(ParamError, match="sig-0.parquet: made with"):
        MinHashDedup(ngram=5, bands=20, rows=8, seed=1,
                     reference_signatures=str(tmp_path / "sig-*.parquet")).preflight({})
    pq.write_table(pa.table({"id": ["a"]}), tmp_path / "sig-1.parquet")
    with pytest.raises(ParamError, match="sig-1.parquet: not a signature file"):
        MinHashDedup(ngram=5, bands=14, rows=8, seed=1,
                     reference_signatures=str(tmp_path / "sig-*.parquet")).preflight({})


# ---------------------------------------------------------------- output.tokens

def _token_recipe(tmp_path, tokens: str, output: str = "", text_format: str = "") -> str:
    """recipe() with an ``output.tokens`` block (and ``output.format``) appended: output comes last."""
    path = recipe(tmp_path, "  []\n", output=output)
    with open(path, "a") as f:
        f.write((f"  format: {text_format}\n" if text_format else "")
                + ("  tokens:\n" + "".join(f"    {line}\n" for line in tokens.splitlines()) if tokens else ""))
    return path


def _wide_tokenizer(path) -> str:
    """A word-level tokenizer of 70,000 ids (more than uint16 holds) and no end-of-document token."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    Tokenizer(WordLevel({f"w{i}": i for i in range(70_000)}, unk_token="w0")).save(str(path))
    return str(path)


def test_token_shard_mistakes_are_listed_together(tmp_path, capsys):
    tokenizer = _wide_tokenizer(tmp_path / "wide.json")
    foreign = tmp_path / "foreign"
    (foreign / "tokens").mkdir(parents=True)
    (foreign / "tokens" / "part-0.bin").write_bytes(b"\0\0")
    tokens = f"tokenizer: '{tokenizer}'\ndtype: uint16\nannotations: [quality]"
    lines = both(capsys, tmp_path, _token_recipe(tmp_path, tokens, output=str(foreign)))
    assert len(lines) == 4, lines
    assert "output.tokens.eos_token: " in lines[0] and "<|endoftext|>" in lines[0]
    assert "output.tokens.dtype: " in lines[1] and "70000" in lines[1].replace(",", "") \
        and "65536" in lines[1].replace(",", "")
    assert "output.tokens.annotations: annotation 'quality' is written by no source or step" in lines[2]
    assert lines[3].endswith("holds token shards not written by a Thresher run (1 file(s), e.g. "
                             f"{foreign}/tokens/part-0.bin); choose another output.path or remove them")
    assert os.listdir(foreign / "tokens") == ["part-0.bin"]  # left as it was
    fixed = f"tokenizer: '{tokenizer}'\neos: false\ndtype: int32"
    assert errors(capsys, "validate", _token_recipe(tmp_path, fixed)) == (0, [])


def test_token_tokenizer_missing_or_not_a_tokenizer(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (line,) = both(capsys, tmp_path, _token_recipe(tmp_path, "tokenizer: tok/tokenizer.json"))
    assert f"output.tokens.tokenizer: tok/tokenizer.json: no such file (expected a Hugging Face tokenizer.json); " \
           f"resolved to {tmp_path}/tok/tokenizer.json from the current directory {tmp_path}" in line
    (tmp_path / "broken.json").write_text("{not json")
    (line,) = both(capsys, tmp_path, _token_recipe(tmp_path, "tokenizer: broken.json"))
    assert "output.tokens.tokenizer: cannot load 'broken.json' with the tokenizers library (expected a Hugging " \
           "Face tokenizer.json)" in line


@pytest.mark.parametrize("tokens, text_format, where, message", [
    ("tokenizer: t.json\nshard_tokens: 5", "", "output.tokens.shard_tokens",
     "5 is below the minimum 1,000: a shard holds whole documents and 1,000 tokens is below one web page — "
     "did you mean a larger number"),
    ("", "none", "output.format", "format: none writes only token shards: it needs output.tokens"),
    ("tokenizer: t.json", "none\n  order: shuffle", "output.order", "format: none writes none"),
    ("tokenizer: t.json\nformat: megatron\ndtype: uint32", "", "output.tokens.dtype",
     "megatron shards have no dtype 'uint32'"),
    ("tokenizer: t.json\nvalidation_fraction: 1", "", "output.tokens.validation_fraction", "must be within [0, 1)"),
    ("tokenizer: t.json\nformat: nemo", "", "output.tokens.format", "unknown format 'nemo'"),
    ("tokenizer: t.json\nshards: 3", "", "output.tokens.shards", "unknown field"),
])
def test_token_values_in_the_recipe(tmp_path, capsys, tokens, text_format, where, message):
    (line,) = both(capsys, tmp_path, _token_recipe(tmp_path, tokens, text_format=text_format))
    assert f": {where}: " in line and message in line, line
