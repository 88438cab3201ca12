"""A runner's bundle retries, emulated: a failed attempt's outputs are discarded and the bundle runs again.

No runner that works offline here retries bundles (the FnApiRunner fails the
job on the first exception), yet Dataflow and Flink do. This harness drives a
DoFn the way they do, so tests can check that side effects of failed attempts
(temporary files, renamed shards) never duplicate or lose documents.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Sequence

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue


class InjectedFailure(RuntimeError):
    """The transient failure a test injects (a lost worker, a pre-empted VM)."""


def _collect(results, outputs: Dict[str, List]) -> None:
    for item in results or ():
        if isinstance(item, WindowedValue):
            item = item.value
        if isinstance(item, beam.pvalue.TaggedOutput):
            outputs.setdefault(item.tag, []).append(item.value)
        else:
            outputs.setdefault("main", []).append(item)


def run_with_retries(fn: beam.DoFn, bundles: Sequence[Sequence], fails: Callable[[int, int, int], bool],
                     side_inputs: Iterable = (), max_attempts: int = 4) -> Dict[str, List]:
    """Run ``fn`` over ``bundles``; ``fails(bundle, attempt, position)`` says where an attempt dies:
    before element ``position`` (``position == len(bundle)``: after finish_bundle, before the commit).
    Returns the outputs of the committed attempts only, by tag (``main`` for the main output)."""
    fn.setup()
    committed: Dict[str, List] = {}
    for b, bundle in enumerate(bundles):
        for attempt in range(max_attempts):
            outputs: Dict[str, List] = {}
            try:
                fn.start_bundle()
                for position, element in enumerate(bundle):
                    if fails(b, attempt, position):
                        raise InjectedFailure(f"bundle {b} attempt {attempt} at {position}")
                    _collect(fn.process(element, *side_inputs), outputs)
                _collect(fn.finish_bundle(), outputs)
                if fails(b, attempt, len(bundle)):
                    raise InjectedFailure(f"bundle {b} attempt {attempt} before commit")
            except InjectedFailure:
                continue  # the runner discards this attempt's outputs and retries the bundle
            for tag, values in outputs.items():
                committed.setdefault(tag, []).extend(values)
            break
        else:
            raise AssertionError(f"bundle {b} failed {max_attempts} times")
    fn.teardown()
    return committed
