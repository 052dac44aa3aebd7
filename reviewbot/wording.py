"""How Lambda and CPython word the failures the import check reports."""

from __future__ import annotations

import re

from reviewbot.model import CONFIG_PATH, Handler
from reviewbot.modulestate import ImportFailure, ModuleState
from reviewbot.package import SITE_ROOT

_SITE = re.compile(re.escape(SITE_ROOT) + r"/[0-9a-f]+/")


def lambda_message(module_path: str, message: str, exc_type: str = "ImportError",
                   at_call: str | None = None) -> str:
    """Lambda's `errorMessage`: `Unable to import module 'm': ...` for an ImportError at
    start-up, the exception's type and text otherwise."""
    if exc_type != "ImportError":
        message = f"{exc_type}: {message}"
    if at_call is not None:
        return f"{message} (raised when {at_call}() runs)"
    if exc_type != "ImportError":
        return message
    return f"Unable to import module '{module_path}': {message}"


def why_only_a_warning(handler: Handler, unread: tuple[str, ...]) -> str:
    """Why a missing module is only a warning: the layers or the unread requirements that
    may provide it."""
    if handler.complete and unread:
        return (f" (unless a requirement provides it: the packages of "
                f"{', '.join(unread)[:200]} were not read)")
    names = handler.unknown_layers
    if not names:
        return " (some of this function's layers are not in the repository)"
    return (f" (unless layer {', '.join(names)} provides it: say what it provides under "
            f"`layers:` in {CONFIG_PATH})")


def partial_attribute(module: str, path: str | None, name: str,
                      version: tuple[int, int]) -> ImportFailure:
    """The AttributeError of a partially initialised module, as the function's version
    words it (3.13 names the module's file)."""
    where = f" from '{path}'" if version >= (3, 13) and path else ""
    return ImportFailure("circular-import",
                         f"partially initialized module '{module}'{where} has no "
                         f"attribute '{name}' (most likely due to a circular import)",
                         exc_type="AttributeError")


def installed_paths(message: str) -> str:
    """Installed packages' files named where the build puts them, as Lambda prints them."""
    return _SITE.sub("/var/task/", message)


def in_installed(path: str, line: int, message: str,
                 chain: list[tuple[ModuleState, int]]) -> tuple[str, int, str]:
    """A failure inside an installed package, placed at the innermost import statement of
    the function's own code that is running (a check run can only annotate repository
    files), and worded with the package's place in the deployment package."""
    where = _SITE.sub("", path)
    message = installed_paths(message) + f" (in installed {where}, line {line})"
    for mod, _ in reversed(chain):
        own = mod.ref.path
        if own and not own.startswith(SITE_ROOT) and mod.summary is not None:
            at = next((i.line for i in mod.summary.imports if i.seq == mod.paused_at), 1)
            return own, at, message
    return path, line, message
