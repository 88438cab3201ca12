"""The ``thresher`` command line.

    thresher run RECIPE [--input GLOB ...] [--output DIR] [--runner local|portable|flink|dataflow]
                        [--workers N] [--overwrite] [--cache DIR | --no-cache] [--allow-plugins] [--quiet] [--verbose]
                        [-- extra Beam options]

A run prints one progress line (in place on a terminal), the summary table, and on failure one line
saying why (exit 1; Ctrl-C: exit 130); everything else goes to OUT/thresher.log (``--verbose``: also here).
    thresher validate RECIPE [--input [NAME=]GLOB ...] [--output DIR] [--param NAME=VALUE] [--allow-plugins]
    thresher steps
    thresher cache ls|prune [--cache DIR] [--older-than AGE] [--max-size SIZE]
    thresher assets [--cache-dir DIR]
    thresher s-curve [--bands 14 --rows 8]
    thresher template-body ...   (Dataflow flex-template launch body, for schedulers)
    thresher quickstart [--dir DIR]
    thresher train-tokenizer --input GLOB ... --vocab-size N --out tokenizer.json
    thresher train-lm --input GLOB ... --out DIR --language en [--order 3] [--vocab-size 8000]
    thresher tokens DIR (--shard S --token T | --doc ID) [--split train] [--json]

A recipe is data: a step naming a Python class (``package.module:ClassName``)
is imported and run only with ``--allow-plugins``. What is printed and logged
has credentials masked (``thresher.transforms.redact``).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import List, Optional

from thresher.pipelines.recipe.checks import check_before_run
from thresher.pipelines.recipe.model import load_recipe
from thresher.pipelines.recipe.schema import RecipeError
from thresher.pipelines.recipe.registry import STEPS, describe_steps
from thresher.pipelines.report.stats import RUNNING_MARKER, SUCCESS_MARKER
from thresher.pipelines.run.run_log import ConsoleFilter
from thresher.pipelines.run.runners import RUNNERS, RunnerConfig
from thresher.transforms.redact import redact, redact_logs



def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thresher", description="Curate LLM pretraining data with Apache Beam.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a recipe")
    run.add_argument("recipe")
    _add_input(run, "replace an input's paths (NAME= needed when the recipe has several inputs); several "
                    "paths or globs may follow one --input (an unquoted glob the shell expanded); repeatable")
    run.add_argument("--output", help="output directory (default: the recipe's output.path)")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="set a recipe parameter used as {NAME} in paths; repeatable")
    run.add_argument("--runner", choices=RUNNERS, default="local")
    run.add_argument("--workers", type=int, help="local: worker processes (default: one per core)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    run.add_argument("--job-endpoint", help="portable: job service HOST:PORT")
    run.add_argument("--environment-type", help="portable/flink: LOOPBACK, EXTERNAL, DOCKER or PROCESS")
    run.add_argument("--environment-config", help="portable/flink: e.g. the EXTERNAL worker pool HOST:PORT")
    run.add_argument("--flink-master", help="flink: JobManager HOST:PORT")
    run.add_argument("--flink-version", help="flink: Flink version of the cluster (e.g. 1.20)")
    run.add_argument("--flink-job-server-jar", help="flink: local job-server jar instead of Beam's download")
    run.add_argument("--project", help="dataflow: GCP project")
    run.add_argument("--region", help="dataflow: region")
    run.add_argument("--temp-location", help="dataflow: gs:// temp location")
    cache = run.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="DIR",
                       help="keep each input file's output of the document-local steps (read, extract, filters) in "
                            "DIR (local or gs://) and reuse it: a rerun, or a run with later steps changed, reads and "
                            "extracts only what is missing (default for --runner local: $THRESHER_CACHE_DIR, else "
                            "~/.cache/thresher/prefix-cache, kept under $THRESHER_CACHE_MAX_SIZE, default 20G)")
    cache.add_argument("--no-cache", action="store_true", help="neither read nor write the prefix cache")
    run.add_argument("--quiet", action="store_true", help="no progress line and no summary table")
    run.add_argument("--verbose", action="store_true",
                     help="print every log line (Beam, workers, libraries) and the full traceback of a failure; "
                          "without it they go to OUT/thresher.log only")
    _add_allow_plugins(run)

    validate = sub.add_parser("validate", help="check a recipe and the run it describes (input files and their "
                                               "formats, files steps name, the output directory) without running it")
    validate.add_argument("recipe")
    _add_input(validate, "as for run: check the run with these inputs")
    validate.add_argument("--output", help="as for run: check the run writing to this directory")
    validate.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    _add_allow_plugins(validate)

    sub.add_parser("steps", help="list the steps a recipe can use, with their parameters")

    from thresher.pipelines.commands.train_quality import add_arguments as add_train_quality_arguments
    add_train_quality_arguments(sub.add_parser(
        "train-quality", help="train a fastText quality classifier (DCLM) from positive and negative documents"))

    from thresher.pipelines.commands.train_tokenizer import add_arguments as add_train_tokenizer_arguments
    add_train_tokenizer_arguments(sub.add_parser(
        "train-tokenizer", help="train a byte-level BPE tokenizer (tokenizer.json) on a sample of documents"))

    from thresher.pipelines.commands.train_lm import add_arguments as add_train_lm_arguments
    add_train_lm_arguments(sub.add_parser(
        "train-lm", help="train a SentencePiece model and a KenLM n-gram model (ARPA) for the perplexity step"))

    from thresher.pipelines.commands.tokens_lookup import add_arguments as add_tokens_arguments
    add_tokens_arguments(sub.add_parser(
        "tokens", help="find the document of a token in a run's token shards (--shard S --token T), "
                       "or a document's tokens (--doc ID)"))

    from thresher.pipelines.report.datacard import add_arguments as add_report_arguments
    add_report_arguments(sub.add_parser(
        "report", help="write the data card (report.html, report.md) from DIR/stats.json"))

    from thresher.pipelines.commands.template import add_arguments as add_template_body_arguments
    add_template_body_arguments(sub.add_parser(
        "template-body", help="print the Dataflow flexTemplates.launch request body (JSON) that runs a recipe"))

    from thresher.pipelines.commands.cache_cmd import add_arguments as add_cache_arguments
    add_cache_arguments(sub.add_parser(
        "cache", help="the prefix cache of `run --cache`: list its entries (ls) or remove old ones (prune)"))

    curve = sub.add_parser("s-curve", help="print the MinHash LSH S-curve: P(candidate) by Jaccard similarity")
    curve.add_argument("--bands", type=int, default=14)
    curve.add_argument("--rows", type=int, default=8)

    assets = sub.add_parser("assets", help="download what steps need (lid.176 language ID, FineWeb's URL lists) "
                                           "to the user cache, printing each path and licence")
    assets.add_argument("--cache-dir", help="where to put them (default ~/.cache/thresher)")

    quick = sub.add_parser("quickstart", help="write the quickstart corpus and run recipes/quickstart.yaml")
    quick.add_argument("--dir", default="quickstart", help="working directory for corpus and output")
    quick.add_argument("--workers", type=int)
    return parser


def _add_input(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--input", action="extend", nargs="+", default=[], metavar="[NAME=]GLOB", help=help)


def _add_allow_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-plugins", action="store_true",
                        help="let the recipe's steps name Python classes to import and run "
                             "(step: package.module:ClassName); off by default: a recipe is data")


def parse_params(items: List[str]) -> dict:
    """``["dump=CC-MAIN-2024-33"]`` -> ``{"dump": "CC-MAIN-2024-33"}``."""
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param takes NAME=VALUE, got {item!r}")
        params[name] = value
    return params


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: List[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    console = ConsoleFilter(verbose=getattr(args, "verbose", False))
    for handler in logging.getLogger().handlers:  # the terminal's, not those of a program embedding this
        if getattr(handler, "stream", None) in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__):
            for old in [f for f in handler.filters if isinstance(f, ConsoleFilter)]:  # an earlier main() call's
                handler.removeFilter(old)
            handler.addFilter(console)
    redact_logs()  # after the console filter, which rewrites forwarded worker lines
    try:
        if args.command == "steps":
            print("\n".join(describe_steps()))
            return 0
        if args.command == "validate":
            recipe = checked_recipe(args)
            print(redact(f"{args.recipe}: OK ({len(recipe.inputs)} input(s), {len(recipe.steps)} step(s))"))
            return 0
        if args.command == "s-curve":
            from thresher.transforms.dedup.minhash.signatures import s_curve_table
            s_curve_table(args.bands, args.rows)
            return 0
        if args.command == "assets":
            import subprocess

            from thresher.transforms import assets
            try:
                lid = assets.fetch_lid_model(args.cache_dir)
                lists = assets.fetch_fineweb_lists(args.cache_dir)
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                print(redact(f"error: thresher assets: {exc}"), file=sys.stderr)
                return 1
            print(f"lid.176 language-ID model: {lid}\n  {assets.LID_LICENSE}")
            print(f"FineWeb UT1 adult blocklist (domains, urls): {lists.pop('ut1 adult')}\n  {assets.UT1_LICENSE}")
            print("FineWeb word lists (datatrove): " + ", ".join(lists.values()) + f"\n  {assets.DATATROVE_LICENSE}")
            folder = assets.fineweb_lists_dir(args.cache_dir)
            if str(folder) != os.path.expanduser(assets.FINEWEB_RECIPE_DEFAULT):
                print(f"not where recipes/fineweb.yaml looks by default: run it with --param blocklists={folder}")
            return 0
        if args.command == "quickstart":
            return _quickstart(args)
        if args.command == "train-quality":
            from thresher.pipelines.commands.train_quality import run as train_quality
            return train_quality(args)
        if args.command == "train-tokenizer":
            from thresher.pipelines.commands.train_tokenizer import run as train_tokenizer
            return train_tokenizer(args)
        if args.command == "train-lm":
            from thresher.pipelines.commands.train_lm import run as train_lm
            return train_lm(args)
        if args.command == "tokens":
            from thresher.pipelines.commands.tokens_lookup import run as tokens_lookup
            return tokens_lookup(args)
        if args.command == "report":
            from thresher.pipelines.report.datacard import run as report_run
            return report_run(args)
        if args.command == "cache":
            from thresher.pipelines.commands.cache_cmd import run as cache_run
            return cache_run(args)
        if args.command == "template-body":
            from thresher.pipelines.commands.template import print_template_body
            return print_template_body(args)
        return _run(args, extra)
    except RecipeError as exc:
        for line in exc.lines():  # every problem found, one line each
            print(redact(f"error: {line}"), file=sys.stderr)
        return 2
    except (FileExistsError, ValueError) as exc:
        print(redact(f"error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # worker processes' tracebacks went to OUT/thresher.log (run_log)
        print(interrupted_line(getattr(args, "output_dir", None)), file=sys.stderr)
        return 130


def interrupted_line(output_dir: Optional[str]) -> str:
    """The one line printed on Ctrl-C."""
    from apache_beam.io.filesystems import FileSystems
    if not output_dir:
        return "interrupted"
    if FileSystems.exists(FileSystems.join(output_dir, RUNNING_MARKER)):  # left by run_recipe: a job service runs on
        return redact(f"interrupted: the job was cancelled where its job service can; if it runs on, it writes no "
                      f"{SUCCESS_MARKER} and {output_dir} is refused until it ends")
    return redact(f"interrupted: no {SUCCESS_MARKER} written; {output_dir} left incomplete "
                  f"(the next run into it replaces it)")


def checked_recipe(args):
    """The recipe of ``validate`` and ``run``: read, with --param, --input and --output applied,
    and every check made before a run (``check_before_run``); RecipeError lists each problem."""
    from thresher.pipelines.run.execute import apply_overrides

    recipe = load_recipe(args.recipe, STEPS, params=parse_params(args.param), allow_plugins=args.allow_plugins)
    recipe = apply_overrides(recipe, args.input, args.output)
    check_before_run(recipe, STEPS)
    return recipe


def _run(args, extra: List[str]) -> int:
    from thresher.pipelines.run.failures import failure_line
    from thresher.pipelines.report.stats import summary_table
    from thresher.pipelines.run.execute import RunFailed, run_recipe

    recipe = checked_recipe(args)  # before anything is built or written
    cfg = RunnerConfig(
        runner=args.runner, workers=args.workers, job_endpoint=args.job_endpoint,
        environment_type=args.environment_type, environment_config=args.environment_config,
        flink_master=args.flink_master, flink_version=args.flink_version,
        flink_job_server_jar=args.flink_job_server_jar, project=args.project, region=args.region,
        temp_location=args.temp_location, extra_args=tuple(extra))
    cache = _cache_dir(args)
    if cache and args.runner == "dataflow" and "://" not in cache:
        raise ValueError(f"--cache {cache}: a Dataflow job's workers cannot see a local directory; give a gs:// one")
    started = time.time()
    args.output_dir = recipe.output.path  # for the line printed on Ctrl-C
    try:
        stats = run_recipe(recipe, cfg, overwrite=args.overwrite, verbose=args.verbose, show_progress=not args.quiet,
                           cache=cache)
    except RunFailed as exc:
        print(redact(failure_line(exc.cause, exc.log_path, exc.where)), file=sys.stderr)
        return 1
    if stats is not None and not args.quiet:
        print(summary_table(stats, time.time() - started))
    if cache and stats is not None:
        from thresher.pipelines.commands.cache_cmd import after_run
        line = after_run(cache, auto_prune=not args.cache)
        if line and not args.quiet:
            print(redact(line))
    print(redact(f"output: {recipe.output.path}"))
    if stats is not None and stats.get("status") == "failed":
        print(redact(f"error: {stats.get('status_reason')}"), file=sys.stderr)
        return 1
    return 0 if stats is None or stats["balanced"] else 1


def _cache_dir(args) -> Optional[str]:
    """The prefix cache of a run: ``--cache DIR``; none with ``--no-cache``; else the default one
    (``cache_cmd.cache_location``) for the local runner, none for runners whose workers may not see it."""
    if args.no_cache:
        return None
    if args.cache:
        from thresher.pipelines.recipe.params import expand_home
        return expand_home(args.cache)
    if args.runner != "local":
        return None
    from thresher.pipelines.commands.cache_cmd import cache_location
    return cache_location()


def recipe_path(name: str) -> str:
    """The path of a shipped recipe (``recipes/NAME.yaml``, installed as package data)."""
    from importlib import resources
    return str(resources.files("thresher.recipes") / f"{name}.yaml")


def _quickstart(args) -> int:
    from thresher.pipelines.commands.quickstart_corpus import write_corpus

    from thresher.transforms.assets import fetch_lid_model

    fetch_lid_model()  # the language step's model (cached after the first time)
    corpus = os.path.join(args.dir, "corpus")
    manifest = write_corpus(corpus)
    print(f"quickstart corpus: {manifest['response_records']} pages in {len(manifest['files'])} WARC file(s) in {corpus}")
    run_args = ["run", recipe_path("quickstart"),
                "--input", os.path.join(corpus, "*.warc.gz"),
                "--output", os.path.join(args.dir, "output"), "--overwrite"]
    if args.workers:
        run_args += ["--workers", str(args.workers)]
    return main(run_args)


if __name__ == "__main__":
    sys.exit(main())
