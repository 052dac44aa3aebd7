"""Run inside one CPython: print, as JSON, what its standard library offers an importer.

Used by tools/stdlib_tables.py, once per interpreter. For every importable stdlib module
(top-level modules, the submodules of stdlib packages, and dotted names such as `os.path`
that the import system finds in sys.modules), it records the file that runs relative to the
stdlib folder, whether it is a package, whether a module `__getattr__` may serve more names,
and the names `from m import x` finds: the module's attributes plus, for a package, its
submodules. Modules that fail to import on this build are kept with names = None.
"""

import importlib
import io
import json
import os
import pkgutil
import sys
import sysconfig
import warnings

# Importing these does something (a browser, printing, a GUI) or never finishes.
NEVER = {"antigravity", "this", "idlelib", "turtledemo", "test", "__main__", "__phello__",
         "__hello__", "__hello_alias__", "__hello_only__", "__phello_alias__"}
# Windows-only modules: never importable on Lambda's Linux.
WINDOWS = {"msvcrt", "winreg", "_winapi", "winsound", "nt", "_overlapped", "_msi"}

STDLIB_DIR = sysconfig.get_paths()["stdlib"]
DYNLOAD = os.path.join(STDLIB_DIR, "lib-dynload")


def top_level():
    names = set(getattr(sys, "stdlib_module_names", ()))
    names |= set(sys.builtin_module_names)
    for info in pkgutil.iter_modules([STDLIB_DIR, DYNLOAD]):
        names.add(info.name)
    return sorted(n for n in names if n not in NEVER and n not in WINDOWS
                  and n.isidentifier() and n != "site-packages")


def relative(path):
    if not path:
        return None
    path = os.path.realpath(path)
    base = os.path.realpath(STDLIB_DIR)
    return os.path.relpath(path, base) if path.startswith(base + os.sep) else None


def probe(name, out):
    if name in out:
        return
    entry = {"file": None, "package": False, "open": False, "names": None}
    out[name] = entry
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stdout, sys.stdout = sys.stdout, io.StringIO()
            try:
                module = importlib.import_module(name)
            finally:
                sys.stdout = stdout
    except BaseException:  # any failure: the module is not probed
        return
    entry["file"] = relative(getattr(module, "__file__", None))
    entry["package"] = hasattr(module, "__path__")
    entry["open"] = "__getattr__" in vars(module)
    names = set(dir(module))
    if entry["package"]:
        for info in pkgutil.iter_modules(module.__path__):
            names.add(info.name)
            if info.name not in NEVER and not info.name.startswith("test"):
                probe(f"{name}.{info.name}", out)
    entry["names"] = sorted(names)


def served(out):
    """Add what a module `__getattr__` serves (deprecated aliases such as collections.Mapping
    on 3.9): every name seen anywhere in the stdlib is asked for."""
    candidates = set()
    for entry in out.values():
        candidates.update(entry["names"] or ())
    for name, entry in out.items():
        module = sys.modules.get(name)
        if not entry["open"] or entry["names"] is None or module is None:
            continue
        names = set(entry["names"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for candidate in sorted(candidates - names):
                try:
                    getattr(module, candidate)
                except BaseException:  # not served
                    continue
                names.add(candidate)
        entry["names"] = sorted(names)


def main():
    out = {}
    for name in top_level():
        probe(name, out)
    # dotted names the import system resolves through sys.modules (os.path)
    for name, module in sorted(sys.modules.items()):
        top = name.partition(".")[0]
        if "." in name and top in out and name not in out and module is not None:
            out[name] = {"file": relative(getattr(module, "__file__", None)),
                         "package": hasattr(module, "__path__"),
                         "open": "__getattr__" in vars(module),
                         "names": sorted(set(dir(module)))}
    served(out)
    json.dump({"version": list(sys.version_info[:3]), "builtins": sorted(sys.builtin_module_names),
               "top": top_level(), "modules": out}, sys.stdout)


if __name__ == "__main__":
    main()
