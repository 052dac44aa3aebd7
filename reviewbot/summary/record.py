"""The summary of one module, as the import check reads it and the caches store it."""

from __future__ import annotations

from typing import NamedTuple

SUMMARY_VERSION = 7  # bump whenever what a summary says about a file changes

# How surely a name is bound when the module finishes executing.
DEFINITE = 2
MAYBE = 1

# Import guards: how sure it is that a failing import would break the module.
UNGUARDED = 0  # runs whenever the module runs
CONDITIONAL = 1  # runs on some paths only (an `if` we cannot decide, a loop, an except arm)
CAUGHT = 2  # an ImportError raised here is caught by an enclosing try

# The open reason of a module that registers modules itself (a meta path hook, sys.modules
# entries): a submodule it is asked for may be no file.
MAKES_MODULES = "it makes modules as it runs"

# Import scopes.
TOP = 0  # runs while the module is being imported
CALL = 1  # runs when a function is called

MODULE_DUNDERS = frozenset({
    "__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__",
    "__cached__", "__builtins__", "__dict__", "__annotations__",
})
_PACKAGE_DUNDERS = MODULE_DUNDERS | {"__path__"}
# no file: `__file__` is None and `__cached__` is never set
_NAMESPACE_DUNDERS = (MODULE_DUNDERS - {"__cached__"}) | {"__path__"}


def module_dunders(is_package: bool, namespace: bool = False) -> frozenset[str]:
    """The names the import system sets on a module before its code runs."""
    if namespace:
        return _NAMESPACE_DUNDERS
    return _PACKAGE_DUNDERS if is_package else MODULE_DUNDERS


class Import(NamedTuple):
    """One imported module: `import a.b` gives module "a.b"; `from .x import y` gives
    module "x", level 1, names ("y",); `from m import *` gives names ("*",)."""

    seq: int  # the statement's place in execution order, comparable with a binding's seq
    line: int
    module: str
    level: int
    names: tuple[str, ...]
    is_from: bool
    scope: int  # TOP or CALL
    guard: int  # UNGUARDED, CONDITIONAL or CAUGHT
    func: str  # the outermost def (a function or method) whose call runs it; "" for TOP
    # `m.name` read at the top level, where `m` is bound by `import m`: not an import, but
    # it fails as one (AttributeError) when `m` has no `name` at that point
    attribute: bool = False
    # In the `except ImportError:` arm of a top-level `try`: the seqs of the imports at the
    # top of the `try` body. When one of them surely fails, the arm surely runs, and this
    # import is as sure as the `try` itself (UNGUARDED), not CONDITIONAL.
    rescues: tuple[int, ...] = ()


class ModuleSummary(NamedTuple):
    names: dict[str, tuple[int, int]]  # name -> (DEFINITE or MAYBE, seq of first binding)
    imports: tuple[Import, ...]
    all_names: tuple[str, ...] | None  # a static __all__, or None
    all_dynamic: bool  # __all__ is assigned in a way we cannot read
    open_reason: str  # why names we do not see may exist ("" when the module is closed)
    error: tuple[str, str, int] | None  # (kind, message, line) when the file cannot be parsed
    version_dependent: bool  # the file tests sys.version_info: cached per Python version
    # the names a module-level `__getattr__` serves, read from its code (see lazy.py); the
    # module is open instead when they cannot be read
    served: tuple[str, ...] = ()

    def to_plain(self) -> tuple:
        """A marshal-friendly form (only builtin containers) for the disk cache."""
        return (
            self.names,
            tuple(tuple(i) for i in self.imports),
            self.all_names,
            self.all_dynamic,
            self.open_reason,
            self.error,
            self.version_dependent,
            self.served,
        )

    @classmethod
    def from_plain(cls, data: tuple) -> ModuleSummary:
        names, imports, all_names, all_dynamic, open_reason, error, vdep, served = data
        if not isinstance(names, dict) or not all(
            isinstance(k, str) and isinstance(v, tuple) and len(v) == 2 for k, v in names.items()
        ):
            raise ValueError("bad names")
        return cls(
            names,
            tuple(Import(*i) for i in imports),
            None if all_names is None else tuple(all_names),
            bool(all_dynamic),
            str(open_reason),
            None if error is None else (str(error[0]), str(error[1]), int(error[2])),
            bool(vdep),
            tuple(str(n) for n in served),
        )

    def public_names(self) -> frozenset[str]:
        """What a reader of the module sees as its interface: `__all__` if static,
        else every bound name without a leading underscore."""
        if self.all_names is not None:
            return frozenset(self.all_names)
        return frozenset(n for n in self.names if not n.startswith("_"))


def failed(kind: str, message: str, line: int, *,
           version_dependent: bool = False) -> ModuleSummary:
    """The summary of a file that cannot be imported at all."""
    return ModuleSummary({}, (), None, False, "", (kind, message, line), version_dependent)
