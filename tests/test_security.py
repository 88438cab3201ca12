"""Security (issue #7): a recipe is data, output paths stay put, no credentials in logs or
reports, and the services tests start listen on 127.0.0.1 only.

* YAML is read with ``yaml.safe_load``: a ``!!python/...`` tag is an error, never a call.
* A step naming a Python class (``package.module:ClassName``) is imported only with
  ``--allow-plugins``; without it the module is not even imported.
* A ``{param}`` value cannot add ``..`` segments to ``output.path`` nor make it absolute.
* Credentials (URL user:password, signed-URL signatures and credentials, tokens, AWS keys)
  never appear in what a run prints, logs or writes about itself: progress lines,
  ``errors/``, ``stats.json``, ``recipe.lock.yaml``, the data card, the summary table.
  The documents themselves (``data/``, ``rejected/``) are data and are written as they are.
"""
from __future__ import annotations

import gzip
import json
import os
import pathlib
import re
import sys

import pytest

from thresher.pipelines.commands.cli import main
from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.schema import RecipeError
from thresher.pipelines.recipe.registry import STEPS
from tests.conftest import PROJECT_ROOT
from tests.portable_services import all_on_loopback, free_port, listening_addresses
from thresher.transforms.base import DocumentStep
from thresher.transforms.redact import redact, redact_json

PLUGIN = "tests.test_security:Shout"


# ---------------------------------------------------------------- plugin steps used below

class Shout(DocumentStep):
    """Upper-cases text; drops texts holding "drop me"; raises on "boom", naming the document's URL.

    suffix: appended to the text.
    min_chars: shorter texts are dropped.
    """

    name = "shout"
    ANNOTATIONS = {"shout_chars": "int64"}

    def __init__(self, suffix: str = "!", min_chars: int = 0):
        super().__init__()
        if min_chars < 0:
            raise ValueError("min_chars must be >= 0")
        self.suffix, self.min_chars = suffix, min_chars

    def process(self, doc):
        if "boom" in doc.text:
            raise RuntimeError(f"cannot fetch {doc.url}")
        if "drop me" in doc.text or len(doc.text) < self.min_chars:
            return "shout_dropped"
        return doc.with_text(doc.text.upper() + self.suffix, shout_chars=len(doc.text))


class NotAStep:
    name = "not_a_step"


class Nameless(DocumentStep):
    def process(self, doc):
        return doc


class Untyped(DocumentStep):
    name = "untyped"

    def __init__(self, level=3):
        super().__init__()


# ---------------------------------------------------------------- redact: known answers

@pytest.mark.parametrize("text, expected", [
    ("https://user:pass@host.example/a?b=1", "https://***@host.example/a?b=1"),
    ("ftp://anonymous@ftp.example/x", "ftp://***@ftp.example/x"),
    ("https://medium.com/@someone/post", "https://medium.com/@someone/post"),  # @ in the path: no userinfo
    ("see https://example.org and mail bob@example.org", "see https://example.org and mail bob@example.org"),
    ("https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam"
     "%2F20240101%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20240101T000000Z&X-Goog-Expires=900"
     "&X-Goog-SignedHeaders=host&X-Goog-Signature=0a1b2c3d4e",
     "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=***"
     "&X-Goog-Date=20240101T000000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature=***"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101%2Fus-east-1%2Fs3"
     "&X-Amz-Security-Token=FwoGZX&x-amz-signature=abc123",
     "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Security-Token=***&x-amz-signature=***"),
    ("https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1&Signature=vjbyPxybd%2B",
     "https://b.s3.amazonaws.com/k?AWSAccessKeyId=***&Expires=1&Signature=***"),
    ("https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2024&sp=r&sig=XYZ%3D",
     "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2024&sp=r&sig=***"),
    ("https://api.example/v1?key=AIzaXX&q=cats#access_token=abc", "https://api.example/v1?key=***&q=cats#access_token=***"),
    ("https://x.example/?Token=t1&API_KEY=k2&apikey=k3&password=p4&page=2",
     "https://x.example/?Token=***&API_KEY=***&apikey=***&password=***&page=2"),
    ("&lt;a href=&quot;https://x.example/?a=1&amp;sig=S1&amp;b=2&quot;&gt;",  # HTML-escaped
     "&lt;a href=&quot;https://x.example/?a=1&amp;sig=***&amp;b=2&quot;&gt;"),
    ("https://x.example/?keyword=rust&monkey=1&key=", "https://x.example/?keyword=rust&monkey=1&key="),
    ("/data/key=2024/token=x/part.parquet", "/data/key=2024/token=x/part.parquet"),  # path segments: kept
    ("password=hunter2, user=bob", "password=***, user=bob"),
    ('{"client_secret": "s3cr3t", "client_id": "42"}', '{"client_secret": "***", "client_id": "42"}'),
    ("Authorization: Bearer abcdefgh12345.x", "Authorization: Bearer ***"),
    ("key AKIAIOSFODNN7EXAMPLE and ya29.a0AfH6SMBx-yz_1 end", "key *** and *** end"),
    ("AIzaSyA1234567890abcdefghijklmnopqrstuv ok", "*** ok"),
    ("ghp_" + "a" * 36 + " hf_" + "B" * 34, "*** ***"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "***"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK=\n-----END RSA PRIVATE KEY-----\nafter", "***\nafter"),
    ("", ""),
    ("plain text, tokens: 5, nothing secret", "plain text, tokens: 5, nothing secret"),
])
def test_redact_known_answers(text, expected):
    assert redact(text) == expected
    assert redact(expected) == expected  # idempotent


def test_redact_json_walks_keys_values_and_keeps_other_types():
    value = {"https://u:p@h/": [1, 2.5, None, True, ("ya29.abcdef", "ok")], "n": {"url": "x?sig=1"}}
    assert redact_json(value) == {"https://***@h/": [1, 2.5, None, True, ("***", "ok")], "n": {"url": "x?sig=***"}}


# ---------------------------------------------------------------- YAML is data

def test_only_safe_yaml_loading_in_the_project():
    unsafe = re.compile(r"yaml\.(load|load_all|unsafe_load|unsafe_load_all|full_load|full_load_all)\(|"
                        r"Loader\s*=|yaml\.(Unsafe|Full)?Loader\b")
    found = [f"{path}:{n}" for folder in ("pipelines", "transforms", "deploy", "tests", "benchmarks")
             for path in sorted((PROJECT_ROOT / folder).rglob("*.py")) if path.name != "test_security.py"
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if unsafe.search(line)]
    assert found == []


@pytest.mark.parametrize("payload", [
    'name: !!python/object/apply:os.system ["touch {marker}"]',
    'params: !!python/object/apply:subprocess.check_call [["touch", "{marker}"]]',
    'name: !!python/object/new:os.system ["touch {marker}"]',
])
def test_python_yaml_tags_are_refused_and_never_run(tmp_path, capsys, payload):
    marker = tmp_path / "pwned"
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\n" + payload.format(marker=marker)
                      + "\ninputs: {web: {paths: [x]}}\nsteps: []\noutput: {path: out}\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(str(recipe), STEPS)
    assert main(["validate", str(recipe)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert not marker.exists()


# ---------------------------------------------------------------- plugins

PLUGIN_RECIPE = """
version: 1
inputs: {{web: {{paths: ["{inp}"], format: jsonl}}}}
steps:
  - step: "{step}"
{params}output: {{path: "{out}"}}
"""


def plugin_recipe(tmp_path, step, params="", name="r.yaml") -> str:
    inp = tmp_path / "in.jsonl"
    if not inp.exists():
        inp.write_text('{"id": "1", "text": "hello"}\n')
    path = tmp_path / name
    path.write_text(PLUGIN_RECIPE.format(inp=inp, step=step, params=params, out=tmp_path / "out"))
    return str(path)


def test_plugin_is_not_imported_without_the_flag(tmp_path, monkeypatch, capsys):
    module = f"thresher_probe_{os.getpid()}"
    (tmp_path / f"{module}.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_suffix('.imported').write_text('yes')\n"
        "from thresher.transforms.base import DocumentStep\n\n\nclass Probe(DocumentStep):\n"
        "    '''Keeps every document.'''\n    name = 'probe'\n\n    def process(self, doc):\n        return doc\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = plugin_recipe(tmp_path, f"{module}:Probe")
    marker = tmp_path / f"{module}.imported"

    assert main(["validate", recipe]) == 2
    err = capsys.readouterr().err
    assert "steps[0].step" in err and "--allow-plugins" in err and f"'{module}:Probe'" in err
    assert main(["run", recipe, "--workers", "1", "--quiet"]) == 2
    assert "--allow-plugins" in capsys.readouterr().err
    with pytest.raises(RecipeError, match="--allow-plugins"):
        load_recipe(recipe, STEPS)
    assert not marker.exists() and module not in sys.modules  # refused before any import
    assert not (tmp_path / "out").exists()

    assert main(["validate", recipe, "--allow-plugins"]) == 0
    assert marker.exists() and module in sys.modules
    assert load_recipe(recipe, STEPS, allow_plugins=True).steps[0].cls is sys.modules[module].Probe


def test_plugin_is_validated_like_a_registered_step(tmp_path):
    def error(step, params="") -> RecipeError:
        with pytest.raises(RecipeError) as info:
            load_recipe(plugin_recipe(tmp_path, step, params), STEPS, allow_plugins=True)
        return info.value

    recipe = load_recipe(plugin_recipe(tmp_path, PLUGIN, "    suffix: '?'\n    min_chars: 2\n"), STEPS,
                         allow_plugins=True)
    (spec,) = recipe.steps
    assert (spec.step, spec.params, spec.cls) == (PLUGIN, {"suffix": "?", "min_chars": 2}, Shout)
    assert recipe.to_dict()["steps"] == [{"step": PLUGIN, "suffix": "?", "min_chars": 2}]
    from thresher.pipelines.run.columns import declared_annotations
    assert declared_annotations(recipe)["shout_chars"] == "int64"

    e = error(PLUGIN, "    min_chars: two\n")
    assert e.where == f"steps[0] ({PLUGIN}).min_chars" and "expected int" in e.message
    e = error(PLUGIN, "    min_chars: -1\n")
    assert e.where == f"steps[0] ({PLUGIN})" and "min_chars must be >= 0" in e.message
    e = error(PLUGIN, "    sufix: x\n")
    assert e.where == f"steps[0] ({PLUGIN}).sufix" and "did you mean 'suffix'" in e.message
    e = error("tests.test_security:NotAStep")
    assert e.where == "steps[0].step" and "beam.PTransform" in e.message
    e = error("tests.test_security:Nameless")
    assert e.where == "steps[0].step" and "sets no step name" in e.message
    e = error("tests.test_security:Untyped")
    assert e.where == "steps[0] (tests.test_security:Untyped).level" and "not supported" in e.message
    e = error("tests.test_security:Missing")
    assert "has no 'Missing'" in e.message
    e = error("no_such_module_for_thresher:Step")
    assert "cannot import plugin module 'no_such_module_for_thresher'" in e.message
    e = error("tests.test_security:Shout:x")
    assert "package.module:ClassName" in e.message


def test_launcher_and_template_body_take_the_flag(tmp_path):
    from thresher.pipelines.commands.launcher import prepare
    from thresher.pipelines.commands.template import template_body

    recipe = plugin_recipe(tmp_path, PLUGIN)
    beam_args = ["--runner=PortableRunner", "--job_endpoint=127.0.0.1:1"]
    with pytest.raises(RecipeError, match="--allow-plugins"):
        prepare([f"--recipe={recipe}", *beam_args])
    with pytest.raises(RecipeError, match="--allow-plugins"):
        prepare([f"--recipe={recipe}", "--allow_plugins=false", *beam_args])
    for flag in ("--allow_plugins=true", "--allow_plugins"):  # template parameter; Airflow's bare flag
        rec, cfg = prepare([f"--recipe={recipe}", flag, *beam_args])
        assert rec.steps[0].cls is Shout and cfg.runner == "portable"

    kwargs = dict(sdk_container_image="europe-west4-docker.pkg.dev/p/thresher/thresher:1")
    body = template_body("gs://b/r.yaml", "gs://b/t.json", "thresher-r", **kwargs)
    assert "allow_plugins" not in body["launchParameter"]["parameters"]
    body = template_body("gs://b/r.yaml", "gs://b/t.json", "thresher-r", allow_plugins=True, **kwargs)
    assert body["launchParameter"]["parameters"]["allow_plugins"] == "true"


# ---------------------------------------------------------------- output paths

def output_recipe(tmp_path, path, params="{dump: x}") -> str:
    recipe = tmp_path / "o.yaml"
    recipe.write_text(f"version: 1\nparams: {params}\ninputs: {{web: {{paths: [x]}}}}\nsteps: []\n"
                      f"output: {{path: '{path}'}}\n")
    return str(recipe)


@pytest.mark.parametrize("path, params, bad", [
    ("out/{dump}", {"dump": "../../etc"}, "dump"),
    ("out/{dump}", {"dump": ".."}, "dump"),
    ("out/{dump}/x", {"dump": "a/../../b"}, "dump"),
    ("out/{dump}", {"dump": "a\\..\\..\\b"}, "dump"),
    ("{dump}/out", {"dump": "/etc"}, "dump"),
    ("{dump}/out", {"dump": "gs://other-bucket"}, "dump"),
    ("{dump}/out", {"dump": "~root"}, "dump"),
    ("out/{a}{b}", {"a": ".", "b": "."}, "a"),  # no value alone, but together: '..'
])
def test_params_cannot_move_the_output_directory(tmp_path, path, params, bad):
    declared = "{" + ", ".join(f"{k}: x" for k in params) + "}"
    with pytest.raises(RecipeError) as info:
        load_recipe(output_recipe(tmp_path, path, declared), STEPS, params=params)
    assert info.value.where == f"params.{bad}" and "output.path" in info.value.message


@pytest.mark.parametrize("path, params, expected", [
    ("out/{dump}", {"dump": "CC-MAIN-2024-10"}, "out/CC-MAIN-2024-10"),
    ("out/{dump}", {"dump": "a/b..c/.d"}, "out/a/b..c/.d"),  # deeper is fine, '..' inside a name too
    ("../out/{dump}", {"dump": "x"}, "../out/x"),  # the recipe's own '..' is the author's choice
    ("/srv/out/{dump}", {"dump": "x"}, "/srv/out/x"),
    ("gs://b/out/{dump}", {"dump": "2024-08"}, "gs://b/out/2024-08"),
])
def test_safe_params_compose_the_output_path(tmp_path, path, params, expected):
    assert load_recipe(output_recipe(tmp_path, path), STEPS, params=params).output.path == expected


def test_cli_names_the_param_that_escapes(tmp_path, capsys):
    assert main(["validate", output_recipe(tmp_path, "out/{dump}"), "--param", "dump=../../etc"]) == 2
    err = capsys.readouterr().err
    assert "params.dump" in err and "output.path" in err and "'..'" in err


# ---------------------------------------------------------------- no credentials in logs and reports

FILE_SECRETS = ("FILESIG0001", "FILECRED0001")
DOC_SECRETS = ("PASSWORD0001", "AMZSIG0001", "AKIAIOSFODNN7EXAMPLE", "TOKEN0001abc", "AZURESIG0001",
               "PASSWORD0002")
SECRETS = FILE_SECRETS + DOC_SECRETS
DOCS = [
    {"id": "a", "text": "hello world", "url": "https://alice:PASSWORD0001@example.org/a?X-Amz-Signature=AMZSIG0001"
                                              "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101%2Fs3&page=2"},
    {"id": "b", "text": "please drop me, key AKIAIOSFODNN7EXAMPLE",
     "url": "https://example.org/b?access_token=ya29.TOKEN0001abc&x=1"},
    {"id": "c", "text": "boom", "url": "https://example.org/c?sv=1&sig=AZURESIG0001"},
    {"id": "d", "text": 5, "url": "https://bob:PASSWORD0002@example.org/d"},  # a read error
]


def write_input(folder: pathlib.Path) -> pathlib.Path:
    """A JSONL file whose very name holds a signed-URL query (Linux allows '?', '&' and '=')."""
    folder.mkdir()
    path = folder / "docs?X-Goog-Signature=FILESIG0001&X-Goog-Credential=FILECRED0001.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    return path


def written_text(path: pathlib.Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8", "replace")


def test_run_writes_and_logs_no_credentials(tmp_path, capsys, caplog):
    inp = write_input(tmp_path / "in")
    out = tmp_path / "out"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"version: 1\nname: security\ninputs: {{web: {{paths: ['{inp}'], format: jsonl}}}}\n"
                      f"steps:\n  - step: '{PLUGIN}'\noutput: {{path: '{out}', format: jsonl, rejected: true}}\n")
    caplog.set_level("INFO")
    assert main(["run", str(recipe), "--workers", "1", "--allow-plugins"]) == 0

    printed = capsys.readouterr()
    shown = {"stdout": printed.out, "stderr": printed.err, "log": caplog.text}
    own = [p for p in out.rglob("*") if p.is_file() and p.relative_to(out).parts[0] not in ("data", "rejected")]
    shown.update({str(p.relative_to(out)): written_text(p) for p in own})
    assert {"stats.json", "recipe.lock.yaml", "_SUCCESS"} <= set(shown)
    assert any(name.startswith("errors/") for name in shown)
    leaks = [(name, s) for name, text in shown.items() for s in SECRETS if s in text]
    assert leaks == []

    # redacted, not left out: the facts are there with *** in place of the secrets
    assert "thresher: read" in caplog.text and "X-Goog-Signature=***&X-Goog-Credential=***" in caplog.text
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["steps"][0]["step"] == PLUGIN
    assert stats["input"]["files"][0]["path"].endswith("docs?X-Goog-Signature=***&X-Goog-Credential=***")
    (example,) = stats["examples"][f"00_{PLUGIN}"]["shout_dropped"]
    assert example["url"] == "https://example.org/b?access_token=***&x=1" and example["text"] == "please drop me, key ***"
    errors = [json.loads(line) for p in sorted((out / "errors").iterdir()) for line in written_text(p).splitlines()]
    by_step = {e["step"]: e for e in errors}
    assert set(by_step) == {"read", "shout"}
    assert by_step["shout"]["url"] == "https://example.org/c?sv=1&sig=***"
    assert "cannot fetch https://example.org/c?sv=1&sig=***" in by_step["shout"]["error"]
    assert by_step["read"]["file"].endswith("X-Goog-Signature=***&X-Goog-Credential=***")
    assert "Signature=***" in shown["recipe.lock.yaml"]

    # the documents are data: kept exactly as read
    data = "".join(written_text(p) for p in (out / "data").iterdir())
    rejected = "".join(written_text(p) for p in (out / "rejected").iterdir())
    assert "AMZSIG0001" in data and "HELLO WORLD!" in data and "FILESIG0001" in data
    assert "ya29.TOKEN0001abc" in rejected and "AKIAIOSFODNN7EXAMPLE" in rejected


def test_log_filter_redacts_messages_and_tracebacks():
    import logging

    from thresher.transforms.redact import LOG_FILTER
    try:
        raise ValueError("cannot open https://u:PASSWORD9@h/x?sig=SIG9")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "reading %s", ("gs://b/o?X-Goog-Signature=SIG8",),
                                   sys.exc_info())
    assert LOG_FILTER.filter(record)
    text = logging.Formatter().format(record)
    assert "SIG8" not in text and "SIG9" not in text and "PASSWORD9" not in text
    assert "X-Goog-Signature=***" in text and "https://***@h/x?sig=***" in text


# ---------------------------------------------------------------- services on 127.0.0.1

def test_local_runner_and_gcs_emulator_listen_on_loopback_only():
    """The gRPC servers the local preset's FnApiRunner starts for its worker processes, and the
    GCS emulator the tests use: every listening socket of this process is on 127.0.0.1.
    (The job service and worker pool of the portable path: tests/test_portable.py.)"""
    from apache_beam.runners.portability.fn_api_runner.worker_handlers import GrpcServer

    from thresher.pipelines.run.runners import RunnerConfig, make_runner_and_options
    make_runner_and_options(RunnerConfig(runner="local", workers=2))  # what `thresher run --workers 2` sets up
    server = GrpcServer(None, None, None)  # the servers the runner opens on '[::]:0' for its SDK workers
    try:
        listening = listening_addresses([os.getpid()])
        ports = {server.control_port, server.data_port, server.state_port, server.logging_port}
        assert ports <= {p for _, p in listening} and all_on_loopback(listening), listening
    finally:
        server.close()

    emulator = pytest.importorskip("gcp_storage_emulator.server")
    port = free_port()
    gcs = emulator.create_server("127.0.0.1", port, in_memory=True)
    gcs.start()
    try:
        listening = listening_addresses([os.getpid()])
        assert port in {p for _, p in listening} and all_on_loopback(listening), listening
    finally:
        gcs.stop()
