"""Recipe validation: every error names the file, the place and the valid choices."""
from __future__ import annotations

from typing import Dict, List, Optional

import pytest

from thresher.pipelines.recipe.checks import check_inputs_exist
from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.schema import RecipeError
from thresher.transforms.base import DocumentStep


class Sample(DocumentStep):
    """A step with one parameter of every supported type."""

    name = "sample"

    def __init__(self, min_words: int = 50, ratio: float = 0.1, strict: bool = False,
                 words: List[str] = None, per_lang: Dict[str, float] = None, label: Optional[str] = None):
        super().__init__()
        if ratio < 0:
            raise ValueError("ratio must be >= 0")


class Needy(DocumentStep):
    """A step with a required parameter."""

    name = "needy"

    def __init__(self, path: str):
        super().__init__()


STEPS = {"sample": Sample, "needy": Needy}

GOOD = """
version: 1
name: test
inputs:
  web:
    paths: [{path}]
steps:
  - step: sample
    min_words: 10
    ratio: 1
    words: [a, b]
    per_lang: {{en: 0.5}}
output:
  path: out
"""


def load(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return load_recipe(str(path), STEPS), str(path)


def error_of(tmp_path, text) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load(tmp_path, text)
    return info.value


def test_good_recipe_loads_with_defaults_and_conversions(tmp_path):
    recipe, _ = load(tmp_path, GOOD.format(path="x.warc.gz"))
    assert recipe.inputs["web"].paths == ["x.warc.gz"]
    assert recipe.inputs["web"].format == "auto"
    step = recipe.steps[0]
    assert step.params == {"min_words": 10, "ratio": 1.0, "words": ["a", "b"], "per_lang": {"en": 0.5}}
    assert isinstance(step.params["ratio"], float)
    assert recipe.output.format == "parquet" and recipe.output.rejected.enabled is False
    # the resolved recipe (the lock file) holds every parameter: the ones left out at their defaults
    assert recipe.to_dict()["steps"] == [{"step": "sample", "min_words": 10, "ratio": 1.0, "strict": False,
                                          "words": ["a", "b"], "per_lang": {"en": 0.5}, "label": None}]


def test_single_path_string_is_a_list(tmp_path):
    recipe, _ = load(tmp_path, GOOD.format(path="x").replace("paths: [x]", "paths: a/*.jsonl"))
    assert recipe.inputs["web"].paths == ["a/*.jsonl"]


def test_unknown_step_names_index_and_choices(tmp_path):
    err = error_of(tmp_path, GOOD.format(path="x").replace("step: sample", "step: sampel"))
    assert err.file.endswith("r.yaml") and err.where == "steps[0].step"
    assert "unknown step 'sampel'" in str(err) and "did you mean 'sample'" in str(err)
    assert "valid: needy, sample" in str(err)


def test_unknown_parameter_lists_valid_ones(tmp_path):
    err = error_of(tmp_path, GOOD.format(path="x").replace("min_words: 10", "min_wrods: 10"))
    assert err.where == "steps[0] (sample).min_wrods"
    assert "did you mean 'min_words'" in str(err)
    assert "valid: label, min_words, per_lang, ratio, strict, words" in str(err)


@pytest.mark.parametrize("field,value,expected", [
    ("min_words", "'ten'", "expected int, got str 'ten'"),
    ("min_words", "true", "expected int, got bool True"),      # bool is not an int
    ("min_words", "1.5", "expected int, got float 1.5"),
    ("strict", "1", "expected bool, got int 1"),
    ("words", "a", "expected list[str], got str 'a'"),
    ("per_lang", "{en: high}", "expected float, got str 'high'"),
])
def test_mistyped_parameter(tmp_path, field, value, expected):
    text = ("version: 1\ninputs: {web: {paths: [x]}}\noutput: {path: out}\n"
            f"steps:\n  - step: sample\n    {field}: {value}\n")
    err = error_of(tmp_path, text)
    assert err.where == f"steps[0] (sample).{field}"
    assert expected in str(err)


def test_optional_parameter_accepts_null(tmp_path):
    recipe, _ = load(tmp_path, GOOD.format(path="x").replace("min_words: 10", "label: null"))
    assert recipe.steps[0].params["label"] is None


def test_constructor_value_check_becomes_recipe_error(tmp_path):
    err = error_of(tmp_path, GOOD.format(path="x").replace("ratio: 1", "ratio: -1"))
    assert err.where == "steps[0] (sample)" and "ratio must be >= 0" in str(err)


def test_missing_required_parameter(tmp_path):
    err = error_of(tmp_path, GOOD.format(path="x").replace("- step: sample", "- step: needy\n  - step: sample"))
    assert err.where == "steps[0] (needy).path" and "missing required parameter (str)" in str(err)


@pytest.mark.parametrize("mutation,where,message", [
    (("version: 1", "version: 7"), "version", "unsupported version 7"),
    (("name: test", "nmae: test"), "nmae", "unknown top-level field"),
    (("  path: out", "  path: out\n  format: csv"), "output.format", "valid: jsonl, none, parquet"),
    (("  path: out", "  path: out\n  shard_size_mb: 0"), "output.shard_size_mb", "must be > 0"),
    (("  path: out", "  path: out\n  rejected: {sample_rate: 2}"), "output.rejected.sample_rate", "within [0, 1]"),
    (("  path: out", "  pth: out"), "output.pth", "unknown field"),
    (("    paths: [x]", "    paths: [x]\n    format: html"), "inputs.web.format", "unknown format 'html'"),
    (("    paths: [x]", "    pats: [x]"), "inputs.web.pats", "did you mean 'paths'"),
    (("steps:\n", "steps: {}\nx:\n"), "x", "unknown top-level field"),
])
def test_structural_errors(tmp_path, mutation, where, message):
    err = error_of(tmp_path, GOOD.format(path="x").replace(*mutation))
    assert err.where == where, str(err)
    assert message in str(err)


def test_missing_top_level_field(tmp_path):
    err = error_of(tmp_path, "version: 1\ninputs: {a: {paths: [x]}}\nsteps: []\n")
    assert err.where == "output" and "missing required field" in str(err)


def test_bad_yaml_and_non_mapping(tmp_path):
    assert "not valid YAML" in str(error_of(tmp_path, "version: [1\n"))
    assert "a recipe is a mapping" in str(error_of(tmp_path, "- 1\n- 2\n"))


def test_yaml_is_loaded_safely(tmp_path):
    err = error_of(tmp_path, "!!python/object/apply:os.system ['echo pwned']\n")
    assert "not valid YAML" in str(err)


def test_missing_input_path_is_reported_before_running(tmp_path):
    recipe, _ = load(tmp_path, GOOD.format(path=str(tmp_path / "nothing-*.warc.gz")))
    with pytest.raises(RecipeError) as info:
        check_inputs_exist(recipe)
    assert info.value.where == "inputs.web.paths[0]" and "no file matches" in str(info.value)
    (tmp_path / "nothing-1.warc.gz").write_bytes(b"")
    check_inputs_exist(recipe)


def test_unreadable_recipe_file(tmp_path):
    with pytest.raises(RecipeError) as info:
        load_recipe(str(tmp_path / "absent.yaml"), STEPS)
    assert "cannot read recipe" in str(info.value)


def test_params_fill_paths_and_can_be_overridden(tmp_path):
    text = ("version: 1\nparams: {dump: CC-2024-10}\ninputs: {web: {paths: ['crawl/{dump}/*.warc.gz']}}\n"
            "steps: []\noutput: {path: 'out/{dump}'}\n")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    recipe = load_recipe(str(path), STEPS)
    assert recipe.inputs["web"].paths == ["crawl/CC-2024-10/*.warc.gz"] and recipe.output.path == "out/CC-2024-10"
    recipe = load_recipe(str(path), STEPS, params={"dump": "CC-2024-33"})
    assert recipe.output.path == "out/CC-2024-33" and recipe.params == {"dump": "CC-2024-33"}
    with pytest.raises(RecipeError) as info:
        load_recipe(str(path), STEPS, params={"dmp": "x"})
    assert info.value.where == "params.dmp" and "did you mean 'dump'" in str(info.value)
    path.write_text(text.replace("out/{dump}", "out/{month}"))
    with pytest.raises(RecipeError) as info:
        load_recipe(str(path), STEPS)
    assert info.value.where == "output.path" and "unknown parameter {month}" in str(info.value)


def test_params_fill_the_tokenizer_of_token_shards(tmp_path):
    text = ("version: 1\nparams: {tok: models/a.json}\ninputs: {web: {paths: ['x/*.jsonl']}}\n"
            "steps: []\noutput: {path: out, tokens: {tokenizer: '{tok}'}}\n")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    assert load_recipe(str(path), STEPS).output.tokens.tokenizer == "models/a.json"
    assert load_recipe(str(path), STEPS, params={"tok": "b.json"}).output.tokens.tokenizer == "b.json"
    path.write_text(text.replace("'{tok}'", "'{tokenizer}'"))
    with pytest.raises(RecipeError) as info:
        load_recipe(str(path), STEPS)
    assert info.value.where == "output.tokens.tokenizer" and "unknown parameter {tokenizer}" in str(info.value)


def test_params_fill_step_parameters_and_leave_other_braces(tmp_path):
    text = ("version: 1\nparams: {lists: /data/lists}\ninputs: {web: {paths: [x]}}\noutput: {path: out}\n"
            "steps:\n  - step: sample\n    words: ['{lists}/a.txt', '{notaparam}']\n    label: 'x{lists}'\n")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    params = load_recipe(str(path), STEPS).steps[0].params
    assert params["words"] == ["/data/lists/a.txt", "{notaparam}"] and params["label"] == "x/data/lists"


def test_params_fill_strings_nested_in_step_parameters(tmp_path):
    text = ("version: 1\nparams: {lm: /models}\ninputs: {web: {paths: [x]}}\noutput: {path: out}\n"
            "steps:\n  - step: perplexity\n    models: {en: {lm: '{lm}/en.arpa', sp: '{lm}/en.sp.model'}}\n")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    from thresher.pipelines.recipe.registry import STEPS as REGISTERED
    assert load_recipe(str(path), REGISTERED).steps[0].params["models"] == {
        "en": {"lm": "/models/en.arpa", "sp": "/models/en.sp.model"}}


class Scored(DocumentStep):
    """A step that adds a numeric annotation and checks its inputs before a run."""

    name = "scored"
    ANNOTATIONS = {"score": "float64", "label": "string"}

    def __init__(self, weights: Dict[str, float] = None):
        super().__init__()
        from thresher.transforms.base import ParamError
        if weights is not None and sum(weights.values()) <= 0:
            raise ParamError("weights", "weights must sum to a positive number")
        self.weights = weights or {}

    def preflight(self, inputs):
        from thresher.transforms.base import ParamError
        unknown = sorted(set(self.weights) - set(inputs))
        if unknown:
            raise ParamError("weights", f"{unknown} are not inputs")


ORDERED = """
version: 1
inputs:
  web:
    paths: [{path}]
steps:
  - step: scored
    weights: {weights}
output:
  path: out
  order: {order}
  order_by: {order_by}
"""


def _ordered(tmp_path, order="annotation", order_by="score", weights="{web: 1}"):
    from thresher.pipelines.recipe.checks import check_before_run
    data = tmp_path / "in.jsonl"
    data.write_text("")
    path = tmp_path / "r.yaml"
    path.write_text(ORDERED.format(path=data, order=order, order_by=order_by, weights=weights))
    recipe = load_recipe(str(path), {"scored": Scored})
    check_before_run(recipe, {"scored": Scored})
    return recipe


def test_output_order_and_step_checks_name_the_field(tmp_path):
    assert _ordered(tmp_path).output.order == "annotation"
    assert _ordered(tmp_path, order="shuffle", order_by='""').output.order == "shuffle"
    cases = [
        (dict(order="random"), "output.order", "valid: annotation, none, shuffle"),
        (dict(order_by='""'), "output.order_by", "needs the annotation"),
        (dict(order="shuffle"), "output.order_by", "only used with order: annotation"),
        (dict(order_by="label"), "output.order_by", "not a numeric annotation"),
        (dict(order_by="scor"), "output.order_by", "did you mean 'score'"),
        (dict(weights="{web: 0}"), "steps[0] (scored).weights", "positive"),
        (dict(weights="{books: 1}"), "steps[0] (scored).weights", "are not inputs"),
    ]
    for kwargs, where, message in cases:
        with pytest.raises(RecipeError) as info:
            _ordered(tmp_path, **kwargs)
        assert info.value.where == where and message in str(info.value), (kwargs, str(info.value))


# ---------------------------------------------------------------- every problem before a run

class Reader(DocumentStep):
    """A step that reads an annotation, checks a file and sees the steps before it."""

    name = "reader"
    seen: List[object] = []

    def __init__(self, needs: str = "score", files: List[str] = None):
        super().__init__()
        self.needs, self.files = needs, files or []

    def read_annotations(self):
        return {self.needs: "needs"}

    def preflight(self, inputs, earlier=()):
        from thresher.transforms.base import ParamError
        from thresher.transforms.preflight import Problems, check_path
        Reader.seen = [type(s).name for s in earlier]
        problems = Problems()
        for path in self.files:
            problems.add(check_path("files", path, "a test file"))
        if not problems.errors and any(path.endswith(".bad") for path in self.files):
            raise RuntimeError("the loader failed")
        problems.raise_if_any()
        if not inputs:
            raise ParamError("files", "no input")


def test_check_before_run_lists_every_problem_in_recipe_order(tmp_path):
    from thresher.pipelines.recipe.checks import check_before_run
    registry = {"scored": Scored, "reader": Reader}
    text = (f"version: 1\ninputs:\n  web: {{paths: ['{tmp_path}/a*.jsonl', '{tmp_path}/b*.jsonl']}}\n"
            f"steps:\n  - step: reader\n    files: ['{tmp_path}/x.txt', '{tmp_path}/y.txt']\n"
            f"  - step: scored\n  - step: reader\n    needs: label\n"
            f"output: {{path: '{tmp_path}/out', order: annotation, order_by: nothing}}\n")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    recipe = load_recipe(str(path), registry)
    with pytest.raises(RecipeError) as info:
        check_before_run(recipe, registry)
    wheres = [e.where for e in info.value.errors]
    assert wheres == ["inputs.web.paths[0]", "inputs.web.paths[1]", "steps[0] (reader).files",
                      "steps[0] (reader).files", "steps[0] (reader).needs", "steps[2] (reader).needs",
                      "output.order_by"], info.value.lines()
    lines = info.value.lines()
    assert len(str(info.value).splitlines()) == 7 and all(line.startswith(f"{path}: ") for line in lines)
    assert f"{tmp_path}/x.txt: no such file (expected a test file)" in lines[2]
    assert "annotation 'score' is written by no earlier step" in lines[4]
    assert "annotation 'label' is string, not a number" in lines[5]
    assert Reader.seen == ["reader", "scored"]  # the last reader saw the two steps before it
    # fixed one by one, down to none
    (tmp_path / "a1.jsonl").write_text("")
    (tmp_path / "b1.jsonl").write_text('{"text": "t"}\n')
    for name in ("x.txt", "y.txt"):
        (tmp_path / name).write_text("")
    fixed = text.replace("  - step: reader\n    needs: label\n", "").replace("nothing", "score")
    path.write_text(fixed.replace("  - step: reader\n    files", "  - step: scored\n  - step: reader\n    files", 1)
                    .replace("  - step: scored\noutput", "output"))
    recipe = load_recipe(str(path), registry)
    check_before_run(recipe, registry)
    # a loader that raises something unexpected is one line, not a traceback
    (tmp_path / "z.bad").write_text("")
    path.write_text(text.replace("y.txt", "z.bad"))
    with pytest.raises(RecipeError) as info:
        check_before_run(load_recipe(str(path), registry), registry)
    assert f"{path}: steps[0] (reader): RuntimeError: the loader failed" in info.value.lines()


def test_recipe_error_several_flattens_and_a_single_error_stays_itself():
    one = RecipeError("r.yaml", "a", "first")
    two = RecipeError.several([RecipeError("r.yaml", "b", "second"), RecipeError("r.yaml", "", "third")])
    assert RecipeError.several([one]) is one and one.lines() == ["r.yaml: a: first"]
    both = RecipeError.several([one, two])
    assert both.lines() == ["r.yaml: a: first", "r.yaml: b: second", "r.yaml: third"]
    assert str(both) == "\n".join(both.lines()) and (both.where, both.message) == ("a", "first")


def test_apply_overrides_names_and_paths(tmp_path, monkeypatch):
    from thresher.pipelines.run.execute import apply_overrides
    monkeypatch.setenv("HOME", str(tmp_path))
    text = "version: 1\ninputs:\n  web: {paths: [x]}\nsteps: []\noutput: {path: '~/out'}\n"
    path = tmp_path / "r.yaml"
    path.write_text(text)
    recipe = load_recipe(str(path), STEPS)
    assert recipe.output.path == f"{tmp_path}/out"  # ~ expanded in the recipe
    done = apply_overrides(recipe, ["web=~/a/*.gz", "web=b/*.gz"], "~/o")
    assert done.inputs["web"].paths == [f"{tmp_path}/a/*.gz", "b/*.gz"] and done.output.path == f"{tmp_path}/o"
    assert apply_overrides(recipe, ["c/*.gz"], None).inputs["web"].paths == ["c/*.gz"]
    with pytest.raises(RecipeError) as info:
        apply_overrides(recipe, ["wbe=c/*.gz"], None)
    assert "--input 'wbe=c/*.gz': the recipe has no input 'wbe' (did you mean 'web'?); valid: web" in str(info.value)
    with pytest.raises(RecipeError, match="no pattern after '='"):
        apply_overrides(recipe, ["web="], None)
    (tmp_path / "k=v.jsonl").write_text("")  # a file name holding '=' is a pattern
    literal = str(tmp_path / "k=v.jsonl")
    assert apply_overrides(recipe, [literal], None).inputs["web"].paths == [literal]
    path.write_text(text.replace("web: {paths: [x]}", "web: {paths: [x]}\n  books: {paths: [y]}"))
    two = load_recipe(str(path), STEPS)
    with pytest.raises(RecipeError, match="several inputs, say which with NAME=GLOB; valid: books, web"):
        apply_overrides(two, ["c/*.gz"], None)
    assert apply_overrides(two, ["books=z"], None).inputs["books"].paths == ["z"]
