"""Loading a function folder under a unique module name.

Every function folder holds a package named `function` (the Knative func scaffolding
imports it by that name), so five of them cannot share one interpreter's `function`
module. Tests and the local runner load each as `cutman_fn_<name>` instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = ("ingest", "step-cli", "step-agent", "sink", "reconciler")


def functions_dir() -> Path:
    return REPO / "functions"


def load(name: str, root: Path | None = None) -> ModuleType:
    folder = (root or functions_dir()) / name / "function"
    modname = "cutman_fn_" + name.replace("-", "_")
    if modname in sys.modules:
        return sys.modules[modname]
    spec = importlib.util.spec_from_file_location(
        modname, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"no function package in {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module


def submodule(name: str, sub: str, root: Path | None = None) -> ModuleType:
    """One module of function `name`'s package (`checks` of the reconciler), imported if
    need be: a function's package imports at load only what its start and readiness
    need, the rest with its first event."""
    return importlib.import_module(f"{load(name, root).__name__}.{sub}")


_INVOKE = re.compile(r"^invoke:[ \t]*['\"]?([a-z]+)['\"]?[ \t]*(?:#.*)?$", re.MULTILINE)


def invoke_mode(name: str, root: Path | None = None) -> str:
    """func.yaml's top-level `invoke` (http or cloudevent; http when absent).

    Read with a pattern, not PyYAML: this runs on every cold start, and importing yaml
    for one scalar cost more than the rest of the loader.
    """
    match = _INVOKE.search(((root or functions_dir()) / name / "func.yaml").read_text())
    return match.group(1) if match else "http"
