"""Import one Lambda handler the way the runtime would, without running any of its code.

The simulation walks module summaries in execution order from the handler module: each
module's ancestor packages run first, each import statement loads its target (recursively,
so a module still executing is "partially initialized"), and `from X import Y` then asks
whether `Y` is bound in X at that point, or is an importable submodule of X. Failures are
reported with CPython's and Lambda's own messages at the statement that raises them.
Imports inside functions are checked after the handler has loaded, as they run on first call.

The result also carries the handler's import closure (the repo files it loads) and the
module edges between them, which the diff uses to decide which handlers a change affects.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections import deque
from collections.abc import Callable, Iterator

from reviewbot import wording
from reviewbot.checkresult import HandlerResult
from reviewbot.model import Finding, Handler
from reviewbot.modulestate import (
    DONE,
    FAILED,
    RUNNING,
    Broken,
    ImportFailure,
    ModuleState,
    SilentFailure,
    absolute_name,
)
from reviewbot.package import SITE_ROOT
from reviewbot.replay import (
    VARIANTS,
    FailureEvent,
    LoadLog,
    PlainFinding,
    Recording,
    Reraised,
    Trace,
    TraceStore,
    apply_trace,
    record_trace,
    reusable,
)
from reviewbot.resolve import EXTENSION, EXTERNAL, NAMESPACE, ModuleRef, NotFound, SearchPath
from reviewbot.stdlib import stdlib_for
from reviewbot.summary import (
    CALL,
    CAUGHT,
    CONDITIONAL,
    DEFINITE,
    MAKES_MODULES,
    MAYBE,
    UNGUARDED,
    UNPARSABLE_HERE,
    Import,
    ModuleSummary,
    module_dunders,
)

SummaryProvider = Callable[[str, tuple[int, int]], ModuleSummary]


class HandlerCheck:
    """One simulated cold start of one handler."""

    def __init__(self, handler: Handler, search: SearchPath, summaries: SummaryProvider,
                 traces: TraceStore | None = None):
        self.handler = handler
        self.search = search
        self.summaries = summaries
        self.traces = traces if traces is not None else TraceStore()
        self.log = LoadLog()  # what each load did, for the traces of those recorded
        self.version = handler.python_version
        self.modules: dict[str, ModuleState] = {}
        # module -> file, in load order, kept as modules are added: the result's files
        self.paths: dict[str, str] = {}
        # Of self.modules, those a replay must not rely on: running, failed, or finished
        # with a failure that importing them again re-raises (broken).
        self.unsettled: set[str] = set()
        self.star_importers: set[str] = set()  # of self.modules, those that ran a star import
        self.edges: dict[str, set[str]] = {}
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []
        self.deferred: deque[tuple[ModuleState, Import]] = deque()
        self.at_call: str | None = None
        self.context = UNGUARDED  # the strongest guard among the import statements running
        self.chain: list[tuple[ModuleState, int]] = []  # (module, guard of its running import)
        self._seen: set[tuple] = set()
        self._shadow_warned: set[str] = set()

    # -- entry point ------------------------------------------------------------------

    def run(self) -> HandlerResult:
        h = self.handler
        modpath, dot, func = h.handler.rpartition(".")
        if not dot or not modpath:
            self.report(
                True,
                h.source,
                h.line,
                "missing-handler",
                f"Bad handler '{h.handler}': not enough values to unpack (expected 2, got 1)",
            )
            return self.result()
        if modpath.split("/")[0] in sys.builtin_module_names:
            self.report(True, h.source, h.line, "missing-module",
                        f"Cannot use built-in module {modpath} as a handler module")
            return self.result()
        try:
            mod = self.load(h.module, importer=None)
        except ImportFailure as exc:
            self.report(not (exc.external and not h.complete), h.source, h.line, exc.kind,
                        self.wrap(exc.message, exc.exc_type))
            mod = None
        except SilentFailure:
            mod = None
        if mod is not None and mod.status == DONE:
            self.check_handler_function(mod, func)
        while self.deferred:
            owner, imp = self.deferred.popleft()
            self.at_call = imp.func or owner.name
            self.run_import(owner, imp)
        return self.result()

    def result(self) -> HandlerResult:
        paths = self.paths
        files = frozenset(paths.values())  # external modules have no path
        return HandlerResult(self.handler, files, self.edges, paths, self.errors, self.warnings)

    def check_handler_function(self, mod: ModuleState, func: str) -> None:
        h = self.handler
        bound = mod.binding(func)
        path = mod.ref.path or h.source
        if bound is not None and bound[0] == DEFINITE:
            return
        if bound is not None:
            self.report(False, path, 1, "maybe",
                        f"Handler '{func}' is bound on module '{h.module_path}' only on some paths")
        elif not mod.closed:
            self.report(False, path, 1, "unknown",
                        f"Handler '{func}' not found on module '{h.module_path}', which "
                        f"may define names dynamically: {mod.why_open()}")
        else:
            self.report(True, path, 1, "missing-handler",
                        f"Handler '{func}' missing on module '{h.module_path}'")

    # -- reporting --------------------------------------------------------------------

    def wrap(self, message: str, exc_type: str = "ImportError") -> str:
        return wording.lambda_message(self.handler.module_path, message, exc_type, self.at_call)

    def report(self, error: bool, path: str, line: int, kind: str, message: str, origin: str = "",
               log: bool = True) -> None:
        if log:
            self.log.findings.append(PlainFinding(origin, error, path, line, kind, message))
        if path.startswith(SITE_ROOT):  # an installed package's warnings are its own;
            if not error:  # its errors are shown at the function's import that reaches it
                return
            path, line, message = wording.in_installed(path, line, message, self.chain)
        elif SITE_ROOT in message:
            message = wording.installed_paths(message)
        key = (error, path, line, kind, message)
        if key in self._seen:
            return
        self._seen.add(key)
        finding = Finding(self.handler.name, path, line, kind, message)
        (self.errors if error else self.warnings).append(finding)

    def statement_failed(self, owner: ModuleState, imp: Import, exc: ImportFailure) -> None:
        if imp.guard == CAUGHT:
            owner.raised |= {imp.seq}
            return
        path = owner.ref.path or self.handler.source
        # The failure is kept (on broken modules, in traces): without its traceback, which
        # holds the frames and so this whole check, it is freed without the cyclic GC.
        exc.__traceback__ = None
        # The exception propagates through every import statement that is running: one of
        # them may catch it, or run on some paths only.
        self.failure(self.context, path, imp.line, exc, origin=owner.name)

    def failure(self, guard: int, path: str, line: int, exc: ImportFailure,
                aborted: int = UNGUARDED, origin: str = "") -> None:
        """Report a failing import. `guard` is how sure it is to reach the handler's import;
        `aborted` how sure it is to abort the module that raised it."""
        sures = None
        if guard != UNGUARDED:
            sures = self.abort(guard, aborted, path, line, exc)
        self.emit_failure(guard, path, line, exc, origin, sures)

    def abort(
        self, guard: int, sure: int, path: str, line: int, exc: ImportFailure
    ) -> tuple[int | None, ...]:
        """Mark the modules the exception aborts, each as sure as the statements between,
        from the innermost running import outwards. Returns how sure it is at each depth
        of the chain (None where a `try` stopped it before): a replay of a load whose
        failure escapes it goes on from there in the chain it is replayed in."""
        sures: list[int | None] = [None] * len(self.chain)
        for depth in range(len(self.chain) - 1, -1, -1):
            mod, g = self.chain[depth]
            if g == CAUGHT and sure == UNGUARDED:  # this statement surely raised
                mod.raised |= {mod.paused_at}
            sure = max(sure, g)
            sures[depth] = sure
            if sure == CAUGHT:
                break
            if sure == CONDITIONAL and guard == CONDITIONAL:
                # Reported as a warning already; importing the module again could
                # only say the same. Leaving it unmarked keeps loads replayable.
                continue
            if mod.broken is None or sure < mod.broken_guard:
                self.log.taint_depth(depth)
                mod.broken, mod.broken_guard = Broken(path, line, exc), sure
                mod.reported_guard = min(mod.reported_guard, guard)
        return tuple(sures)

    def emit_failure(self, guard: int, path: str, line: int, exc: ImportFailure, origin: str,
                     sures: tuple[int | None, ...] | None = None) -> None:
        self.log.findings.append(FailureEvent(origin, guard, path, line, exc, sures))
        if guard == CAUGHT:
            return
        if guard == CONDITIONAL:
            self.report(False, path, line, exc.kind,
                        self.wrap(exc.message, exc.exc_type) + " (on some paths only)", log=False)
            return
        if exc.external and (not self.handler.complete or self.search.unread):
            self.report(False, path, line, exc.kind,
                        self.wrap(exc.message, exc.exc_type)
                        + wording.why_only_a_warning(self.handler, self.search.unread), log=False)
            return
        self.report(True, path, line, exc.kind, self.wrap(exc.message, exc.exc_type), log=False)

    # -- loading ------------------------------------------------------------------------

    def edge(self, importer: str | None, target: str) -> None:
        if importer is not None and importer != target:
            known = self.edges.get(importer)
            if known is None:
                self.edges[importer] = {target}
            elif target not in known:
                if isinstance(known, frozenset):  # shared with a trace: copy before adding
                    known = self.edges[importer] = set(known)
                known.add(target)
            self.log.edges.append((importer, target))

    def load(self, dotted: str, importer: str | None) -> ModuleState:
        """Import `dotted` (and its ancestors); return it, running or done."""
        mod = self.modules.get(dotted)
        if mod is not None:
            return self.load_again(mod, importer)
        parent_name, _, _ = dotted.rpartition(".")
        parent = None
        if parent_name:
            parent = self.load(parent_name, importer=None)
            again = self.modules.get(dotted)
            if again is not None and again.status == DONE and again.broken is None:
                # The package's own run imported it: CPython looks again after importing
                # the parent and takes that module. (One whose run failed it dropped, and
                # runs again here.)
                return self.load(dotted, importer)
        ref = self.search.find(dotted, parent.ref if parent else None)
        if not parent_name:
            self.log.tops.append((dotted, ref))  # found or not, a replay relies on it
        if isinstance(ref, NotFound):
            if parent is None or parent.summary is None or not \
                    parent.summary.open_reason.startswith(MAKES_MODULES):
                raise ImportFailure("missing-module", ref.message, ref.external)
            # no file, but the parent may make it (six.moves: a meta path hook)
            if self.context != CAUGHT:
                self.report(False, parent.ref.path or self.handler.source, 1, "unknown",
                            f"'{dotted}' is no file, but '{parent_name}' may create it: "
                            f"{parent.why_open()}; not checked", origin=dotted)
            ref = ModuleRef(dotted, EXTERNAL, None, True, ())
        if parent is not None:
            self.edge(dotted, parent_name)
            # No ref is logged for the parent: a replay of this load happens here too,
            # after the parent is loaded; reading its names logs refs of their own.
        self.edge(importer, dotted)
        key = (dotted, self.context)
        # Recorded failures are worded again on replay, so a load recorded at start-up
        # replays inside a function call too (and the other way round).
        variants = self.traces.get(key, ())
        for trace in variants:
            if trace.by_name[dotted].ref == ref and self.replay(trace):
                return self.modules[dotted]
        marks = self.log.marks()
        self.log.recording.append(Recording(len(self.chain), marks.modules))
        try:
            mod = self.run_module(dotted, ref)
        finally:
            tainted = self.log.recording.pop().tainted
        if not tainted and len(variants) < VARIANTS:
            trace = record_trace(self, marks)
            if trace is not None:
                self.traces[key] = (*variants, trace)
                self.log.compact(marks, trace)
        return mod

    def load_again(self, mod: ModuleState, importer: str | None) -> ModuleState:
        """Import a module already in sys.modules (or dropped there after a failure)."""
        dotted = mod.name
        if importer is not None:
            self.log.refs.append((dotted, mod.status == RUNNING))
        else:
            # An ancestor: only its presence matters (its names are not read here).
            self.log.present.append(dotted)
        if mod.status == FAILED:
            self.log.taint_module(dotted)
            raise SilentFailure()
        self.edge(importer, dotted)
        if mod.broken is None:
            return mod
        # CPython dropped it when its first run failed (the failure was caught or
        # conditional up there): this import runs it again, in this context.
        self.log.taint_module(dotted)
        level = max(self.context, mod.broken_guard)
        path, line, exc = mod.broken
        # An ancestor (no importer) fails for the statement running now.
        origin = importer or (self.chain[-1][0].name if self.chain else "")
        if level < mod.reported_guard:
            mod.reported_guard = level
            self.failure(level, path, line, exc, aborted=mod.broken_guard, origin=origin)
        else:  # reported as surely already: nothing to say, but a load recorded
            # around this one depends on it (see replay.failed_into)
            self.log.findings.append(Reraised(origin, exc))
        if mod.broken_guard == UNGUARDED:
            raise SilentFailure()
        return mod  # it fails on some paths only: on the others it loaded; carry on

    def run_module(self, dotted: str, ref: ModuleRef) -> ModuleState:
        """Create the module and run its body."""
        if ref.shadows_stdlib and dotted not in self._shadow_warned:
            self._shadow_warned.add(dotted)
            self.report(False, ref.path or self.handler.source, 1, "shadowed-stdlib",
                        f"'{dotted}' in the repository ({ref.path}) has the same name as a "
                        f"standard library module; on Lambda the runtime may already have "
                        f"imported the standard library one", origin=dotted)
        summary = None
        if ref.kind == "source":
            summary = self.summaries(ref.path, self.version)
        mod = ModuleState(ref, summary)
        self.modules[dotted] = mod
        if ref.path:
            self.paths[dotted] = ref.path
        self.unsettled.add(dotted)
        self.log.modules.append((dotted, mod))
        if summary is not None:
            if summary.error is not None and summary.error[0] == UNPARSABLE_HERE:
                # present, but what it binds and imports is unknown here: a warning
                self.report(False, ref.path, summary.error[2], "unknown", summary.error[1])
                mod.open_reason = "reviewbot's Python cannot parse it"
                mod.status = DONE
                self.unsettled.discard(dotted)
                return mod
            if summary.error is not None:
                kind, message, line = summary.error
                mod.status = FAILED
                self.log.taint_all()  # the message names the handler's module
                self.report(True, ref.path, line, kind,
                            f"Syntax error in module '{self.handler.module_path}': {message}"
                            if self.at_call is None
                            else f"{message} (raised when {self.at_call}() runs)")
                raise SilentFailure()
            self.execute(mod)
        mod.status = DONE
        if mod.broken is None:
            self.unsettled.discard(dotted)
        return mod

    def replay(self, trace: Trace) -> bool:
        """Apply a recorded load if it would come out the same here; False if not."""
        if not reusable(trace, self):
            return False
        apply_trace(trace, self)
        return True

    def execute(self, mod: ModuleState) -> None:
        # an installed package's functions are its own (often optional) business
        own = not (mod.ref.path or "").startswith(SITE_ROOT)
        for imp in mod.summary.imports:
            if imp.scope == CALL:
                if own:
                    self.deferred.append((mod, imp))
                    self.log.deferred.append((mod, imp))
                continue
            mod.paused_at = imp.seq
            if imp.rescues and not mod.raised.isdisjoint(imp.rescues):
                imp = imp._replace(guard=UNGUARDED)  # the `except` arm surely runs
            self.run_import(mod, imp)
        mod.paused_at = 1 << 30

    def run_import(self, owner: ModuleState, imp: Import) -> None:
        outer = self.context
        self.context = max(outer, imp.guard)
        self.chain.append((owner, imp.guard))
        try:
            target = absolute_name(owner, imp)
            if imp.attribute:
                self.attribute(target, imp.names[0])
                return
            if not imp.is_from:
                self.load(target, owner.name)
                return
            if "*" in imp.names:  # its names depend on what was loaded before, and on
                self.star_importers.add(owner.name)  # whether this import fails
            source = self.load(target, owner.name)
            for name in imp.names:
                if name == "*":
                    self.star(owner, source, imp)
                else:
                    self.from_name(owner, source, name, imp)
        except ImportFailure as exc:
            self.statement_failed(owner, imp, exc)
        except SilentFailure:  # this statement re-raised a module's sure failure
            if imp.guard == CAUGHT:
                owner.raised |= {imp.seq}
        finally:
            self.chain.pop()
            self.context = outer

    def stdlib_name(self, owner: ModuleState, source: ModuleState, name: str,
                    imp: Import) -> None:
        """`from m import name` on a stdlib module: exact from the version's table; from
        stubs (a version with no table) a missing name is only a warning."""
        table = stdlib_for(self.version)
        module = table.module(source.name) if table is not None else None
        if module is None or module.names is None or name in module.names:
            return
        if module.package and table is not None and table.module(f"{source.name}.{name}"):
            self.load(f"{source.name}.{name}", owner.name)
            return
        if table is not None and not table.exact:
            if self.context != CAUGHT:
                self.report(False, owner.ref.path, imp.line, "unknown",
                            f"'{name}' is not in typeshed's stub of '{source.name}' for "
                            f"python{self.version[0]}.{self.version[1]} (no table of that "
                            f"version): it may be missing", origin=owner.name)
            return
        raise ImportFailure("missing-name", f"cannot import name '{name}' from "
                                            f"'{source.name}' {table.location(module)}")

    def attribute(self, module: str, name: str) -> None:
        """`m.name` read while the importer runs, `m` bound by `import m` or `from p import
        m`: the AttributeError CPython raises when `m` is a module of the repository that
        surely lacks the name at that point. `from p import m` binds the module `p.m` only
        where `p` does not bind `m` itself. A submodule `m.name` may have been imported by
        then, so a package's submodules always pass."""
        source = self.modules.get(module)
        parent_name, _, leaf = module.rpartition(".")
        parent = self.modules.get(parent_name) if parent_name else None
        if source is None or (parent is not None and parent.binding(leaf)):
            return
        if source.ref.kind in (EXTERNAL, EXTENSION) or not source.attributes_closed:
            return
        if name in module_dunders(source.ref.is_package, source.ref.kind == NAMESPACE):
            return
        bound, running = self.bound_now(source, name)
        if bound is not None:
            return
        if source.ref.is_package and not isinstance(
                self.search.find(f"{source.name}.{name}", source.ref), NotFound):
            return
        if running:
            raise wording.partial_attribute(source.name, source.ref.path, name, self.version)
        raise ImportFailure("missing-name", f"module '{source.name}' has no attribute '{name}'",
                            exc_type="AttributeError")

    def bound_now(self, source: ModuleState, name: str) -> tuple[tuple[int, int] | None, bool]:
        """How `source` binds `name` at this point (None if not yet, or not at all), and
        whether it is still running; the ref a replay relies on is logged."""
        bound = source.binding(name)
        running = source.status == RUNNING
        self.log.refs.append((source.name, running))
        if bound is not None and running and bound[1] >= source.paused_at:
            bound = None
        return bound, running

    def from_name(self, owner: ModuleState, source: ModuleState, name: str, imp: Import) -> None:
        if source.ref.stdlib is not None:
            self.stdlib_name(owner, source, name, imp)
            return
        if source.ref.kind in (EXTERNAL, EXTENSION):
            return
        if name in module_dunders(source.ref.is_package, source.ref.kind == NAMESPACE):
            return
        bound, running = self.bound_now(source, name)
        if bound is not None:
            if bound[0] == MAYBE and self.context != CAUGHT:
                self.report(False, owner.ref.path, imp.line, "maybe",
                            f"'{name}' is bound in '{source.name}' ({source.ref.path}) only on "
                            f"some paths; the import fails on the others", origin=owner.name)
            return
        if source.ref.is_package:
            sub = f"{source.name}.{name}"
            found = self.search.find(sub, source.ref)
            if not isinstance(found, NotFound):
                self.load(sub, owner.name)
                return
        if not source.closed:
            # a lazy module (PEP 562 `__getattr__`, pydantic's) lists what it serves
            listed = source.summary is not None and name in (source.summary.all_names or ())
            if self.context != CAUGHT and not listed:
                self.report(False, owner.ref.path, imp.line, "unknown",
                            f"cannot tell whether '{source.name}' binds '{name}': "
                            f"{source.why_open()}", origin=owner.name)
            return
        if running:
            raise ImportFailure(
                "circular-import",
                f"cannot import name '{name}' from partially initialized module "
                f"'{source.name}' (most likely due to a circular import) {source.location()}"
                if source.ref.path
                else f"cannot import name '{name}' from partially initialized module "
                f"'{source.name}' (most likely due to a circular import)",
            )
        raise ImportFailure(
            "missing-name", f"cannot import name '{name}' from '{source.name}' {source.location()}"
        )

    def star(self, owner: ModuleState, source: ModuleState, imp: Import) -> None:
        """`from source import *`: bind its public names in owner, or make owner open."""
        cert = DEFINITE if imp.guard == 0 else MAYBE
        self.log.refs.append((source.name, source.status == RUNNING))
        if (source.ref.kind in (EXTERNAL, EXTENSION)
            or not source.closed
            or (source.summary is not None and source.summary.all_dynamic)):
            owner.open_reason = owner.open_reason or (
                f"'from {source.name} import *' brings names that cannot be listed"
            )
            return
        summary = source.summary
        # A module still executing (a circular import) exports what it has bound so far.
        limit = source.paused_at if source.status == RUNNING else 1 << 30
        has_all = (summary is not None
                   and summary.all_names is not None
                   and (summary.names.get("__all__", (0, 0))[1] < limit))
        if has_all:
            for name in summary.all_names:
                bound = self.star_name(owner, source, name, limit)
                owner.extra.setdefault(name, (min(cert, bound[0]), imp.seq))
            return
        names = dict(summary.names) if summary is not None else {}
        names.update(source.extra)
        if source.ref.is_package:  # submodules imported so far are attributes of the package
            self.log.taint_all()  # which ones depends on everything loaded before
            prefix = source.name + "."
            for sub, mod in self.modules.items():
                if (sub.startswith(prefix)
                    and "." not in sub[len(prefix) :]
                    and mod.status == DONE
                    and mod.broken is None):
                    names.setdefault(sub[len(prefix) :], (DEFINITE, 0))
        for name, (c, q) in names.items():
            if not name.startswith("_") and q < limit:
                owner.extra.setdefault(name, (min(cert, c), imp.seq))

    def star_name(
        self, owner: ModuleState, source: ModuleState, name: str, limit: int
    ) -> tuple[int, int]:
        """How a name of `source.__all__` is bound when a star import takes it (a submodule
        not yet imported is imported), or the AttributeError CPython raises."""
        bound = source.binding(name)
        if bound is not None and bound[1] >= limit:
            bound = None
        if bound is None and source.ref.is_package:
            sub = f"{source.name}.{name}"
            if not isinstance(self.search.find(sub, source.ref), NotFound):
                self.load(sub, owner.name)
                return (DEFINITE, 0)
        if bound is not None:
            return bound
        if source.status == RUNNING:
            raise wording.partial_attribute(source.name, source.ref.path, name, self.version)
        raise ImportFailure("missing-name", f"module '{source.name}' has no attribute '{name}'",
                            exc_type="AttributeError")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Checks leave no reference cycles (their garbage goes by refcount): paused, the
    cyclic GC does not walk the growing store of traces again and again while they run.
    Callers that check many handlers pause it around the whole batch."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_handler(handler: Handler, search: SearchPath, summaries: SummaryProvider,
                  traces: TraceStore | None = None) -> HandlerResult:
    with gc_paused():
        return HandlerCheck(handler, search, summaries, traces).run()
