"""The notebook runner behind ``python -m paperlib``: run, list, report.

``run`` executes paper notebooks headless with papermill (kernel ``python3``, cwd ``notebooks/``,
one process per notebook, a total execution timeout per profile, one retry when a kernel fails
to start), writes the executed notebook to ``runs/<profile>/<slug>.ipynb`` and lets the notebook
write its results to ``<out>/<slug>/``. A content-hash cache skips a notebook whose inputs
(notebook source without outputs, parameters, paperlib sources, library versions, python version,
and the data manifests its last run used) are unchanged since its last successful run.

One module per job:

- :mod:`.cli`      the command line (argparse, ``main``)
- :mod:`.plan`     validation before any kernel starts, one job per notebook
- :mod:`.cache`    the cache key and the cache entries
- :mod:`.execute`  one papermill execution in a worker process, failures described by cell
- :mod:`.pool`     the process pool, outcomes, the summary
- :mod:`.status`   ``list``
- :mod:`.report`   figures/README.md
- :mod:`.lint`     the committed-notebook linter
- :mod:`.common`   Layout, constants, small helpers

Everything here is importable without torch: the parent process only hashes files and reads
package versions through :mod:`importlib.metadata`, so a fully cached call returns in well under
a second.
"""
from .cache import (cache_key, cache_status, canonical_json, data_manifests, key_parts, library_digest,
                    library_versions, notebook_digest, read_cache)
from .cli import build_parser, main, parse_assignments, parse_value
from .common import (CLI_PARAMS, DEFAULT_PARAMS, KERNEL_NAME, VERSION_PACKAGES, Layout, UsageError,
                     write_json)
from .execute import describe_failure
from .lint import hygiene_problems
from .plan import build_params, check_config, prepare, resolve_slugs
from .pool import Outcome, run_papers
from .report import render_report, write_report
from .status import list_papers

__all__ = ["CLI_PARAMS", "DEFAULT_PARAMS", "KERNEL_NAME", "VERSION_PACKAGES", "Layout", "Outcome", "UsageError",
           "build_params", "build_parser", "cache_key", "cache_status", "canonical_json", "check_config",
           "data_manifests", "describe_failure", "hygiene_problems", "key_parts", "library_digest",
           "library_versions", "list_papers", "main", "notebook_digest", "parse_assignments", "parse_value",
           "prepare", "read_cache", "render_report", "resolve_slugs", "run_papers", "write_json", "write_report"]
