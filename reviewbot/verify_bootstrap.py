"""Import one Lambda handler the way the Lambda Python runtime does, in this process.

Run by `reviewbot verify-imports` as a file (never imported by reviewbot itself), with the
interpreter the user chose and `-I -B`: no PYTHONPATH, no user site-packages, no script
folder on sys.path, but the interpreter's own site-packages (a virtualenv's included).

    python -I -B verify_bootstrap.py SPEC.json

SPEC is a JSON object: `handler` (the Lambda handler string), `roots` (absolute import
roots: the function root, then the layers' import folders), `result` (the file to write
the outcome to). The outcome is one JSON object written to that file, so whatever the
user's code prints cannot corrupt it:

    {"ok": bool, "kind": str, "error": str, "where": "file:line", "seconds": float}

The loader mirrors awslambdaric's `_get_handler`: split at the last dot, refuse a built-in
module name, `importlib.import_module(modname.replace("/", "."))`, then `getattr`; its
exceptions become Lambda's own error texts. This file must stay importable by any Python
3 the user points `--python` at: standard library only, nothing newer than f-strings (3.6).
"""

import contextlib
import importlib
import json
import os
import site
import sys
import time
import traceback


def _where(exc, roots):
    """`file:line` of the deepest traceback frame inside the function's roots."""
    best = ""
    tb = exc.__traceback__
    prefixes = tuple(os.path.join(r, "") for r in roots)
    for frame, line in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename  # "<frozen os>" and the like never match
        if os.path.isabs(filename) and filename.startswith(prefixes):
            best = f"{filename}:{line}"
    if not best and isinstance(exc, SyntaxError) and exc.filename:
        best = f"{exc.filename}:{exc.lineno}"
    return best


def load(handler, roots):
    """Import the handler; return (kind, error text, where). kind "ok" on success."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        return "bad-handler", f"Bad handler '{handler}': {exc}", ""
    if modname.split(".")[0] in sys.builtin_module_names:
        return ("builtin-conflict",
                f"Cannot use built-in module {modname} as a handler module", "")
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        return ("import-error", f"Unable to import module '{modname}': {exc}",
                _where(exc, roots))
    except SyntaxError as exc:
        return ("syntax-error", f"Syntax error in module '{modname}': {exc}",
                _where(exc, roots))
    except SystemExit as exc:
        return "exit", f"SystemExit: {exc.code}", _where(exc, roots)
    except BaseException as exc:
        return ("exception", f"{type(exc).__name__}: {exc}", _where(exc, roots))
    if not hasattr(module, fname):
        return "handler-missing", f"Handler '{fname}' missing on module '{modname}'", ""
    return "ok", "", ""


def main(argv):
    with open(argv[1]) as f:
        spec = json.load(f)
    roots = [os.path.abspath(r) for r in spec["roots"]]
    # Lambda: /var/task first, then the layers' folders, then the runtime's own paths.
    # The script folder and the cwd are not on the path (-I); drop anything else that
    # names the roots so their order is exactly the function's.
    rest = [p for p in sys.path if p and os.path.abspath(p) not in roots]
    sys.path[:] = roots + rest
    known = set(sys.path)
    for root in roots:  # .pth files in the roots work on Lambda (site.addsitedir)
        site.addsitedir(root, known)
    start = time.perf_counter()
    kind, error, where = load(spec["handler"], roots)
    seconds = time.perf_counter() - start
    outcome = {"ok": kind == "ok", "kind": kind, "error": error, "where": where,
               "seconds": round(seconds, 4)}
    tmp = spec["result"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(outcome, f)
    os.replace(tmp, spec["result"])
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    # Do not wait for threads the handler's module may have started, or run its atexit.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
