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
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from reviewbot.model import Finding, Handler
from reviewbot.resolve import EXTENSION, EXTERNAL, NAMESPACE, ModuleRef, NotFound, SearchPath
from reviewbot.summary import (
    CALL,
    CAUGHT,
    CONDITIONAL,
    DEFINITE,
    MAYBE,
    UNGUARDED,
    Import,
    ModuleSummary,
    module_dunders,
)

SummaryProvider = Callable[[str, tuple[int, int]], ModuleSummary]

RUNNING = 1
DONE = 2
FAILED = 3


@dataclass
class _Module:
    ref: ModuleRef
    summary: ModuleSummary | None
    status: int = RUNNING
    paused_at: int = 0
    extra: dict[str, tuple[int, int]] = field(default_factory=dict)  # from star imports
    open_reason: str = ""
    # An import failure that aborted this module's execution but was caught (or only happens
    # on some paths) further up: CPython drops the module, so importing it again re-raises.
    broken: tuple[str, int, _Failure] | None = None
    broken_guard: int = UNGUARDED  # how sure the abort is: UNGUARDED (always) or CONDITIONAL
    reported_guard: int = CAUGHT  # the surest level at which the failure was reported

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def package(self) -> str:
        return self.ref.name if self.ref.is_package else self.ref.name.rpartition(".")[0]

    def location(self) -> str:
        return f"({self.ref.path})" if self.ref.path else "(unknown location)"

    def binding(self, name: str) -> tuple[int, int] | None:
        if self.summary is not None:
            hit = self.summary.names.get(name)
            if hit is not None:
                return hit
        return self.extra.get(name)

    @property
    def closed(self) -> bool:
        return (self.ref.kind in ("source", NAMESPACE) and not self.ref.also_external
                and not self.open_reason and not (self.summary and self.summary.open_reason))

    def why_open(self) -> str:
        if self.summary is not None and self.summary.open_reason:
            return self.summary.open_reason
        return self.open_reason or "its contents cannot be read"


def _copy(mod: _Module) -> _Module:
    """A shallow copy, as copy.copy makes it, in a third of the time."""
    new = object.__new__(_Module)
    new.__dict__.update(mod.__dict__)
    return new


@dataclass
class HandlerResult:
    handler: Handler
    files: frozenset[str]  # repo files loaded by the handler (its import closure)
    edges: dict[str, AbstractSet[str]]  # importer -> imported modules (ancestors included)
    paths: dict[str, str]  # module -> file
    errors: list[Finding]
    warnings: list[Finding]

    def chain_to(self, targets: set[str]) -> tuple[str, ...]:
        """The shortest import chain from the handler module to any of the target files."""
        start = self.handler.module
        if self.paths.get(start) in targets:
            return (start,)
        prev: dict[str, str] = {start: ""}
        queue = deque([start])
        while queue:
            mod = queue.popleft()
            for nxt in sorted(self.edges.get(mod, ())):
                if nxt in prev:
                    continue
                prev[nxt] = mod
                if self.paths.get(nxt) in targets:
                    chain = [nxt]
                    while prev[chain[-1]]:
                        chain.append(prev[chain[-1]])
                    return tuple(reversed(chain))
                queue.append(nxt)
        return ()


@dataclass(frozen=True)
class _Trace:
    """What loading one module did, from a clean start, recorded for replay.

    Handlers that share a layer load the same shared packages again and again; when a
    load had no failure and did not depend on modules running outside it, its outcome is
    the same in any handler that resolves the same top-level names to the same files,
    so it is replayed instead of simulated again.
    """

    modules: tuple[tuple[str, _Module], ...]
    # What follows concerns only its own modules: a replay applies nothing else.
    # ("plain", origin, ...) or ("fail", origin, guard, ...)
    findings: tuple[tuple, ...]
    # ("again", origin, failure): a failure already reported raised again, silently (a
    # replay only logs them, for _failed_into); each once
    agains: tuple[tuple, ...]
    edges: dict[str, frozenset[str]]  # importer -> imported (settled deferreds' included)
    deferred: tuple[tuple[_Module, Import], ...]
    # The deferred imports a fresh replay still has to run: the others only bind names
    # its own finished modules hold, and their edges are in `edges` (see settled()).
    pending: tuple[tuple[_Module, Import], ...]
    refs: tuple[tuple[str, bool], ...]  # (module, was running) for every module consulted
    tops: tuple[tuple[str, ModuleRef], ...]  # top-level resolutions it relied on
    outside: frozenset[str]  # modules loaded before it that it consulted (were done)
    shapes: tuple[tuple[str, _Module], ...]  # of those that vary, the module as it was
    needs: tuple[str, ...]  # ancestors of its modules that were there before it
    # Its modules that it consulted while they were still running (a cycle): a replay that
    # skips one of them (loaded here, so finished) would not see it half-initialised.
    running: frozenset[str]
    names: tuple[str, ...]  # of its modules, in load order
    by_name: dict[str, _Module]
    paths: dict[str, str]  # of its modules that have a file, in load order
    broken: tuple[str, ...]  # its modules that failed, copied on replay: see replay()
    varying: tuple[str, ...]  # its modules that ran a star import
    # The search paths `tops` holds for (each finds the same): a top-level resolution never
    # changes in one search path, so each is compared once.
    fits: set = field(default_factory=set, compare=False)


# (module, context) -> the loads recorded for it, each replayable where its conditions
# hold. A load refused in one handler (a module of it already loaded there, or one it
# consulted not yet) is recorded again as another variant, up to VARIANTS of them.
TraceStore = dict[tuple[str, int], tuple[_Trace, ...]]
VARIANTS = 4
_NONE: frozenset[str] = frozenset()


class _Failure(Exception):
    """An import statement failed; the message is CPython's."""

    def __init__(self, kind: str, message: str, external: bool = False,
                 exc_type: str = "ImportError"):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.external = external
        # Lambda wraps only ImportError (and SyntaxError) as "Unable to import module";
        # anything else surfaces as its own type.
        self.exc_type = exc_type


class _Silent(Exception):
    """The import failed because of an error already reported elsewhere (a syntax error)."""


class HandlerCheck:
    """One simulated cold start of one handler."""

    def __init__(self, handler: Handler, search: SearchPath, summaries: SummaryProvider,
                 traces: TraceStore | None = None):
        self.handler = handler
        self.search = search
        self.summaries = summaries
        self.traces = traces if traces is not None else {}
        # Append-only logs; a trace is the slice written while one module loaded.
        self._log_modules: list[tuple[str, _Module]] = []
        self._log_findings: list[tuple] = []
        self._log_edges: list[tuple[str, str | frozenset[str]]] = []
        self._log_deferred: list[tuple[_Module, Import]] = []
        self._log_refs: list[tuple[str, bool]] = []
        self._log_tops: list[tuple[str, ModuleRef]] = []
        self._log_present: list[str] = []  # ancestors found loaded (running or done)
        # module -> position in _log_modules, built when a taint needs it (few checks do)
        self._index: dict[str, int] = {}
        # Loads being recorded: [chain depth, first module index, tainted]. A load is
        # tainted when it depends on, or changes, state from outside it: not replayable.
        self._recording: list[list] = []
        self.version = handler.python_version
        self.modules: dict[str, _Module] = {}
        # module -> file, in load order, kept as modules are added: the result's files
        self.paths: dict[str, str] = {}
        # Of self.modules, those a replay must not rely on: running, failed, or finished
        # with a failure that importing them again re-raises (broken).
        self._unsound: set[str] = set()
        self._varies: set[str] = set()  # of self.modules, those that ran a star import
        self.edges: dict[str, set[str]] = {}
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []
        self.deferred: deque[tuple[_Module, Import]] = deque()
        self.at_call: str | None = None
        self.context = UNGUARDED  # the strongest guard among the import statements running
        self.chain: list[tuple[_Module, int]] = []  # (module, guard of its running import)
        self._seen: set[tuple] = set()
        self._shadow_warned: set[str] = set()

    # -- entry point ------------------------------------------------------------------

    def run(self) -> HandlerResult:
        h = self.handler
        modpath, dot, func = h.handler.rpartition(".")
        if not dot or not modpath:
            self.report(True, h.source, h.line, "missing-handler",
                        f"Bad handler '{h.handler}': not enough values to unpack "
                        f"(expected 2, got 1)")
            return self.result()
        if modpath.split("/")[0] in sys.builtin_module_names:
            self.report(True, h.source, h.line, "missing-module",
                        f"Cannot use built-in module {modpath} as a handler module")
            return self.result()
        try:
            mod = self.load(h.module, importer=None)
        except _Failure as exc:
            self.report(not (exc.external and not h.complete), h.source, h.line, exc.kind,
                        self.wrap(exc.message, exc.exc_type))
            mod = None
        except _Silent:
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

    def check_handler_function(self, mod: _Module, func: str) -> None:
        h = self.handler
        bound = mod.binding(func)
        path = mod.ref.path or h.source
        if bound is not None and bound[0] == DEFINITE:
            return
        if bound is not None:
            self.report(False, path, 1, "maybe",
                        f"Handler '{func}' is bound on module '{h.module_path}' only on some "
                        f"paths")
        elif not mod.closed:
            self.report(False, path, 1, "unknown",
                        f"Handler '{func}' not found on module '{h.module_path}', which "
                        f"may define names dynamically: {mod.why_open()}")
        else:
            self.report(True, path, 1, "missing-handler",
                        f"Handler '{func}' missing on module '{h.module_path}'")

    # -- reporting --------------------------------------------------------------------

    def wrap(self, message: str, exc_type: str = "ImportError") -> str:
        if exc_type != "ImportError":
            message = f"{exc_type}: {message}"
        if self.at_call is not None:
            return f"{message} (raised when {self.at_call}() runs)"
        if exc_type != "ImportError":
            return message
        return f"Unable to import module '{self.handler.module_path}': {message}"

    def report(self, error: bool, path: str, line: int, kind: str, message: str,
               origin: str = "", log: bool = True) -> None:
        if log:
            self._log_findings.append(("plain", origin, error, path, line, kind, message))
        key = (error, path, line, kind, message)
        if key in self._seen:
            return
        self._seen.add(key)
        finding = Finding(self.handler.name, path, line, kind, message)
        (self.errors if error else self.warnings).append(finding)

    def statement_failed(self, owner: _Module, imp: Import, exc: _Failure) -> None:
        if imp.guard == CAUGHT:
            return
        path = owner.ref.path or self.handler.source
        # The failure is kept (on broken modules, in traces): without its traceback, which
        # holds the frames and so this whole check, it is freed without the cyclic GC.
        exc.__traceback__ = None
        # The exception propagates through every import statement that is running: one of
        # them may catch it, or run on some paths only.
        self.failure(self.context, path, imp.line, exc, origin=owner.name)

    def failure(self, guard: int, path: str, line: int, exc: _Failure,
                aborted: int = UNGUARDED, origin: str = "") -> None:
        """Report a failing import. `guard` is how sure it is to reach the handler's import;
        `aborted` how sure it is to abort the module that raised it."""
        sures = None
        if guard != UNGUARDED:
            sures = self.abort(guard, aborted, path, line, exc)
        self.emit_failure(guard, path, line, exc, origin, sures)

    def abort(self, guard: int, sure: int, path: str, line: int, exc: _Failure
              ) -> tuple[int | None, ...]:
        """Mark the modules the exception aborts, each as sure as the statements between,
        from the innermost running import outwards. Returns how sure it is at each depth
        of the chain (None where a `try` stopped it before): a replay of a load whose
        failure escapes it goes on from there in the chain it is replayed in."""
        sures: list[int | None] = [None] * len(self.chain)
        for depth in range(len(self.chain) - 1, -1, -1):
            mod, g = self.chain[depth]
            sure = max(sure, g)
            sures[depth] = sure
            if sure == CAUGHT:
                break
            if sure == CONDITIONAL and guard == CONDITIONAL:
                # Reported as a warning already; importing the module again could
                # only say the same. Leaving it unmarked keeps loads replayable.
                continue
            if mod.broken is None or sure < mod.broken_guard:
                self.taint_depth(depth)
                mod.broken, mod.broken_guard = (path, line, exc), sure
                mod.reported_guard = min(mod.reported_guard, guard)
        return tuple(sures)

    def emit_failure(self, guard: int, path: str, line: int, exc: _Failure,
                     origin: str, sures: tuple[int | None, ...] | None = None) -> None:
        self._log_findings.append(("fail", origin, guard, path, line, exc, sures))
        if guard == CAUGHT:
            return
        if guard == CONDITIONAL:
            self.report(False, path, line, exc.kind,
                        self.wrap(exc.message, exc.exc_type) + " (on some paths only)",
                        log=False)
            return
        if exc.external and not self.handler.complete:
            self.report(False, path, line, exc.kind,
                        self.wrap(exc.message, exc.exc_type) + " (some of this function's "
                        "layers are not in the repository)", log=False)
            return
        self.report(True, path, line, exc.kind, self.wrap(exc.message, exc.exc_type),
                    log=False)

    # -- what makes a recorded load unfit for replay ------------------------------------

    def taint_depth(self, depth: int) -> None:
        """A module at this chain depth is changed: loads started deeper depend on it."""
        for rec in reversed(self._recording):
            if rec[0] <= depth:
                break
            rec[2] = True

    def taint_module(self, name: str) -> None:
        """State of this module was read: loads started after it was created depend on it."""
        log = self._log_modules
        known = len(self._index)  # _log_modules holds each module once, in load order
        if known < len(log):
            self._index.update((n, i) for i, (n, _) in enumerate(log[known:], known))
        # (-1: replayed while nothing was recording, so older than every load recorded now)
        index = self._index.get(name, -1)
        for rec in reversed(self._recording):
            if rec[1] <= index:
                break
            rec[2] = True

    def taint_all(self) -> None:
        for rec in self._recording:
            rec[2] = True

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
            self._log_edges.append((importer, target))

    def load(self, dotted: str, importer: str | None) -> _Module:
        """Import `dotted` (and its ancestors); return it, running or done."""
        mod = self.modules.get(dotted)
        if mod is not None:
            if importer is not None:
                self._log_refs.append((dotted, mod.status == RUNNING))
            else:
                # An ancestor: only its presence matters (its names are not read here).
                self._log_present.append(dotted)
            if mod.status == FAILED:
                self.taint_module(dotted)
                raise _Silent()
            self.edge(importer, dotted)
            if mod.broken is not None:
                # CPython dropped it when its first run failed (the failure was caught or
                # conditional up there): this import runs it again, in this context.
                self.taint_module(dotted)
                level = max(self.context, mod.broken_guard)
                path, line, exc = mod.broken
                # An ancestor (no importer) fails for the statement running now.
                origin = importer or (self.chain[-1][0].name if self.chain else "")
                if level < mod.reported_guard:
                    mod.reported_guard = level
                    self.failure(level, path, line, exc, aborted=mod.broken_guard,
                                 origin=origin)
                else:  # reported as surely already: nothing to say, but a load recorded
                    # around this one depends on it (see _failed_into)
                    self._log_findings.append(("again", origin, exc))
                if mod.broken_guard == UNGUARDED:
                    raise _Silent()
                # It fails on some paths only: on the others it loaded; carry on.
            return mod
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
            self._log_tops.append((dotted, ref))  # found or not, a replay relies on it
        if isinstance(ref, NotFound):
            raise _Failure("missing-module", ref.message, ref.external)
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
            if trace.modules[0][1].ref == ref and self.replay(trace):
                return self.modules[dotted]
        marks = self.marks()
        self._recording.append([len(self.chain), marks[0], False])
        if ref.shadows_stdlib and dotted not in self._shadow_warned:
            self._shadow_warned.add(dotted)
            self.report(False, ref.path or self.handler.source, 1, "shadowed-stdlib",
                        f"'{dotted}' in the repository ({ref.path}) has the same name as a "
                        f"standard library module; on Lambda the runtime may already have "
                        f"imported the standard library one", origin=dotted)
        summary = None
        if ref.kind == "source":
            summary = self.summaries(ref.path, self.version)
        mod = _Module(ref, summary)
        self.modules[dotted] = mod
        if ref.path:
            self.paths[dotted] = ref.path
        self._unsound.add(dotted)
        self._log_modules.append((dotted, mod))
        if summary is not None:
            if summary.error is not None:
                kind, message, line = summary.error
                mod.status = FAILED
                self._recording.pop()
                self.taint_all()  # the message names the handler's module
                self.report(True, ref.path, line, kind,
                            f"Syntax error in module '{self.handler.module_path}': {message}"
                            if self.at_call is None else f"{message} (raised when "
                            f"{self.at_call}() runs)")
                raise _Silent()
            self.execute(mod)
        mod.status = DONE
        if mod.broken is None:
            self._unsound.discard(dotted)
        tainted = self._recording.pop()[2]
        if not tainted and len(variants) < VARIANTS:
            self.record(key, marks)
        return mod

    # -- traces -------------------------------------------------------------------------

    def marks(self) -> tuple[int, ...]:
        return (len(self._log_modules), len(self._log_findings), len(self._log_edges),
                len(self._log_deferred), len(self._log_refs), len(self._log_tops),
                len(self._log_present))

    def record(self, key: tuple[str, int], marks: tuple[int, ...]) -> None:
        m0, f0, e0, d0, r0, t0, p0 = marks
        # A failed module's reported_guard can still change in this handler (importing it
        # again reports at a surer level): keep it as this load left it.
        modules = tuple((name, _copy(mod) if mod.broken is not None else mod)
                        for name, mod in self._log_modules[m0:])
        own = {name for name, _ in modules}
        refs = tuple(dict.fromkeys(self._log_refs[r0:]))  # replays repeat them upwards
        outside = []
        consulted_running = set()
        for name, running in refs:
            if name in own:
                if running:
                    consulted_running.add(name)
            elif running:
                return  # it saw a module outside it half-initialised: order-dependent
            else:
                outside.append(name)
        needs = tuple(n for n in dict.fromkeys(self._log_present[p0:]) if n not in own)
        # The modules it found loaded must be the same files where it is replayed: each
        # is, when its top-level package resolves the same (a submodule's resolution
        # depends only on its parent's), so those resolutions are conditions too.
        tops = dict.fromkeys(self._log_tops[t0:])
        found = {name for name, _ in tops}
        for name in (*outside, *needs):
            top = name.partition(".")[0]
            if top not in found:
                found.add(top)
                tops[(top, self.search.find(top))] = None
        by_name = dict(modules)
        deferred = tuple(d for d in self._log_deferred[d0:] if d[0].name in own)
        edges = {k: v for k, v in _edge_map(self._log_edges[e0:]).items() if k in own}
        pending = []
        for owner, imp in deferred:
            targets = self.settled(owner, imp, by_name)
            if targets is None:
                pending.append((owner, imp))
            elif targets:
                edges[owner.name] = edges.get(owner.name, frozenset()) | targets
        # A failure that escapes the load goes on to abort the importers of wherever it
        # is replayed: keep how sure it is where it leaves (the chain depth of this load).
        depth = len(self.chain)
        findings = []
        agains = {}
        for f in self._log_findings[f0:]:
            if f[1] not in own:
                continue
            if f[0] == "again":
                agains[f] = None
                continue
            if f[0] == "fail":
                sures = f[6]
                escapes = sures[depth] if sures is not None and depth < len(sures) else None
                f = (*f[:6], escapes if escapes is not None and escapes != CAUGHT else None)
            findings.append(f)
        trace = _Trace(
            modules, tuple(findings), tuple(agains), edges,
            deferred, tuple(pending), refs,
            tuple(tops), frozenset(outside),
            # (a finished module's names no longer change: kept as it is, not copied)
            tuple((n, self.modules[n]) for n in self._varies.intersection(outside)),
            needs, frozenset(consulted_running),
            tuple(name for name, _ in modules), by_name,
            {name: mod.ref.path for name, mod in modules if mod.ref.path},
            tuple(name for name, mod in by_name.items() if mod.broken is not None),
            tuple(self._varies.intersection(own)), {self.search})
        self.traces[key] = (*self.traces.get(key, ()), trace)

    def settled(self, owner: _Module, imp: Import, modules: dict[str, _Module]
                ) -> frozenset[str] | None:
        """The modules a deferred import would only link to, when its outcome is known
        now: its target and every submodule it names are among `modules`, finished and
        unbroken, and each other name it imports is surely bound there. Such modules
        never change again, so running the import later would add these edges and
        nothing else. None when it could do more (load, fail, warn)."""
        try:
            target = self.absolute(owner, imp)
        except _Failure:
            return None
        source = modules.get(target)
        if source is None or source.status != DONE or source.broken is not None:
            return None
        out = {target}
        if imp.is_from and source.ref.kind not in (EXTERNAL, EXTENSION):
            dunders = module_dunders(source.ref.is_package, source.ref.kind == NAMESPACE)
            for name in imp.names:
                if name in dunders:
                    continue
                bound = source.binding(name)
                if bound is not None and bound[0] == DEFINITE and name != "*":
                    continue
                sub = modules.get(f"{target}.{name}") if source.ref.is_package else None
                if bound is None and sub is not None and sub.status == DONE \
                        and sub.broken is None:
                    out.add(sub.name)
                    continue
                return None
        out.discard(owner.name)
        return frozenset(out)

    @staticmethod
    def _failed_into(trace: _Trace, skipped: AbstractSet[str]) -> bool:
        """Whether a module a replay would skip (loaded here, sound) failed there in a way
        that reached the modules it keeps: aborting them, or raised again where they
        import it. Here it does neither."""
        failures = {id(trace.by_name[n].broken[2]) for n in skipped
                    if trace.by_name[n].broken is not None}
        for name in trace.broken:
            if name not in skipped and id(trace.by_name[name].broken[2]) in failures:
                return True
        return any(f[0] == "fail" and f[1] not in skipped and id(f[-2]) in failures
                   for f in trace.findings) or any(
            f[1] not in skipped and id(f[2]) in failures for f in trace.agains)

    def replay(self, trace: _Trace) -> bool:
        """Apply a recorded load if it would come out the same here; False if not."""
        modules = self.modules
        fresh = modules.keys().isdisjoint(trace.names)  # usually
        loaded = _NONE if fresh else modules.keys() & trace.names
        # What it consulted, or holds, must be here as it was there: finished and not
        # broken (a recording that saw a broken module re-raise is never kept).
        if loaded and (not loaded.isdisjoint(trace.running)
                       or not self._unsound.isdisjoint(loaded)
                       or (not loaded.isdisjoint(trace.broken) and self._failed_into(
                           trace, loaded))):
            return False
        if not (modules.keys() >= trace.outside and self._unsound.isdisjoint(trace.outside)):
            return False
        for name, then in trace.shapes:  # the names a star import gave them
            mod = modules[name]
            if mod is not then and (mod.extra != then.extra
                                    or mod.open_reason != then.open_reason):
                return False
        for name in trace.needs:
            present = modules.get(name)
            if present is None or present.status == FAILED or present.broken is not None:
                return False
            if present.status == RUNNING and any(f[0] == "fail" and f[6] is not None
                                                 for f in trace.findings):
                # A failure escaping the load aborts the importers here, this ancestor
                # among them, so it breaks in the middle of the load, where the recording
                # saw it whole (a load that broke one is never recorded).
                return False
        if self.search not in trace.fits:
            find = self.search.find
            for name, ref in trace.tops:
                if find(name) != ref:
                    return False
            trace.fits.add(self.search)
        new = trace.by_name
        shared = not trace.broken and fresh  # every recorded module object, as it is
        # The logs are read only by the loads being recorded: with none (a function-level
        # import run after the handler's import), nothing is logged.
        logging = bool(self._recording)
        if not shared:
            new = dict(new)
            for name in loaded:
                del new[name]
            # The modules skipped are used as they are here: a load recorded around this
            # one depends on their being loaded, as on any module it consulted.
            if logging:
                self._log_refs.extend((name, False) for name in trace.names if name in loaded)
            for name in trace.broken:  # its reported_guard is per handler
                if name in new:
                    new[name] = _copy(new[name])
        modules.update(new)
        if fresh:
            self.paths.update(trace.paths)
        else:
            self.paths.update((n, p) for n, p in trace.paths.items() if n in new)
        if logging:
            self._log_modules.extend(new.items())
        if trace.varying:
            self._varies.update(trace.varying)
        if trace.broken:
            self._unsound.update(name for name in trace.broken if name in new)
        if logging:
            self._log_findings.extend(
                trace.agains if fresh else (f for f in trace.agains if f[1] in new))
        for entry in trace.findings:
            if not fresh and entry[1] not in new:
                continue
            if entry[0] == "plain":
                _, origin, error, path, line, kind, message = entry
                self.report(error, path, line, kind, message, origin=origin)
            else:
                _, origin, guard, path, line, exc, escapes = entry
                sures = None
                if escapes is not None and self.chain:  # on into the importers here
                    sures = self.abort(guard, escapes, path, line, exc)
                self.emit_failure(guard, path, line, exc, origin, sures)
        edges = self.edges
        log = self._log_edges
        if fresh:
            # Only the load's own module can have edges already (to its parent package).
            first = trace.names[0]
            known = edges.get(first)
            edges.update(trace.edges)  # the sets are shared until edge() adds to one
            if known is not None and first in trace.edges:
                edges[first] = known | trace.edges[first]
            if logging:
                log.extend(trace.edges.items())
        else:
            for importer, targets in trace.edges.items():
                if importer in new:
                    known = edges.get(importer)
                    edges[importer] = targets if known is None else known | targets
                    if logging:
                        log.append((importer, targets))
        if shared:  # each owner is the recorded object itself, and each module it holds
            self.deferred.extend(trace.pending)
            if logging:
                self._log_deferred.extend(trace.deferred)
        else:
            for owner, imp in trace.deferred:
                mod = new.get(owner.name)
                if mod is not None:
                    self.deferred.append((mod, imp))
                    if logging:
                        self._log_deferred.append((mod, imp))
        if logging:
            self._log_refs.extend(trace.refs)
            self._log_tops.extend(trace.tops)
            self._log_present.extend(trace.needs)
        return True

    def execute(self, mod: _Module) -> None:
        for imp in mod.summary.imports:
            if imp.scope == CALL:
                self.deferred.append((mod, imp))
                self._log_deferred.append((mod, imp))
                continue
            mod.paused_at = imp.seq
            self.run_import(mod, imp)
        mod.paused_at = 1 << 30

    def run_import(self, owner: _Module, imp: Import) -> None:
        outer = self.context
        self.context = max(outer, imp.guard)
        self.chain.append((owner, imp.guard))
        try:
            target = self.absolute(owner, imp)
            if not imp.is_from:
                self.load(target, owner.name)
                return
            if "*" in imp.names:  # its names depend on what was loaded before, and on
                self._varies.add(owner.name)  # whether this import fails
            source = self.load(target, owner.name)
            for name in imp.names:
                if name == "*":
                    self.star(owner, source, imp)
                else:
                    self.from_name(owner, source, name, imp)
        except _Failure as exc:
            self.statement_failed(owner, imp, exc)
        except _Silent:
            pass
        finally:
            self.chain.pop()
            self.context = outer

    def absolute(self, owner: _Module, imp: Import) -> str:
        if imp.level == 0:
            return imp.module
        package = owner.package
        if not package:
            raise _Failure("missing-module",
                           "attempted relative import with no known parent package")
        parts = package.split(".")
        if imp.level - 1 >= len(parts):
            raise _Failure("missing-module", "attempted relative import beyond top-level package")
        base = ".".join(parts[: len(parts) - (imp.level - 1)])
        return f"{base}.{imp.module}" if imp.module else base

    def from_name(self, owner: _Module, source: _Module, name: str, imp: Import) -> None:
        if source.ref.kind in (EXTERNAL, EXTENSION):
            return
        if name in module_dunders(source.ref.is_package, source.ref.kind == NAMESPACE):
            return
        bound = source.binding(name)
        running = source.status == RUNNING
        self._log_refs.append((source.name, running))
        if bound is not None and (not running or bound[1] < source.paused_at):
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
            if self.context != CAUGHT:
                self.report(False, owner.ref.path, imp.line, "unknown",
                            f"cannot tell whether '{source.name}' binds '{name}': "
                            f"{source.why_open()}", origin=owner.name)
            return
        if running:
            raise _Failure(
                "circular-import",
                f"cannot import name '{name}' from partially initialized module "
                f"'{source.name}' (most likely due to a circular import) {source.location()}"
                if source.ref.path else
                f"cannot import name '{name}' from partially initialized module "
                f"'{source.name}' (most likely due to a circular import)")
        raise _Failure("missing-name",
                       f"cannot import name '{name}' from '{source.name}' {source.location()}")

    def star(self, owner: _Module, source: _Module, imp: Import) -> None:
        """`from source import *`: bind its public names in owner, or make owner open."""
        cert = DEFINITE if imp.guard == 0 else MAYBE
        self._log_refs.append((source.name, source.status == RUNNING))
        if source.ref.kind in (EXTERNAL, EXTENSION) or not source.closed or (
            source.summary is not None and source.summary.all_dynamic
        ):
            owner.open_reason = owner.open_reason or (
                f"'from {source.name} import *' brings names that cannot be listed")
            return
        summary = source.summary
        # A module still executing (a circular import) exports what it has bound so far.
        limit = source.paused_at if source.status == RUNNING else 1 << 30
        has_all = summary is not None and summary.all_names is not None and (
            summary.names.get("__all__", (0, 0))[1] < limit)
        if has_all:
            for name in summary.all_names:
                bound = source.binding(name)
                if bound is not None and bound[1] >= limit:
                    bound = None
                if bound is None and source.ref.is_package:
                    sub = f"{source.name}.{name}"
                    if not isinstance(self.search.find(sub, source.ref), NotFound):
                        self.load(sub, owner.name)
                        bound = (DEFINITE, 0)
                if bound is None and source.status == RUNNING:
                    raise _Failure("circular-import",
                                   f"partially initialized module '{source.name}' has no "
                                   f"attribute '{name}' (most likely due to a circular import)",
                                   exc_type="AttributeError")
                if bound is None:
                    raise _Failure("missing-name",
                                   f"module '{source.name}' has no attribute '{name}'",
                                   exc_type="AttributeError")
                owner.extra.setdefault(name, (min(cert, bound[0]), imp.seq))
            return
        names = dict(summary.names) if summary is not None else {}
        names.update(source.extra)
        if source.ref.is_package:  # submodules imported so far are attributes of the package
            self.taint_all()  # which ones depends on everything loaded before
            prefix = source.name + "."
            for sub, mod in self.modules.items():
                if (sub.startswith(prefix) and "." not in sub[len(prefix):]
                        and mod.status == DONE and mod.broken is None):
                    names.setdefault(sub[len(prefix):], (DEFINITE, 0))
        for name, (c, q) in names.items():
            if not name.startswith("_") and q < limit:
                owner.extra.setdefault(name, (min(cert, c), imp.seq))


def _edge_map(log: list[tuple[str, str | frozenset[str]]]) -> dict[str, frozenset[str]]:
    merged: dict[str, set[str]] = {}
    for importer, target in log:
        if isinstance(target, str):
            merged.setdefault(importer, set()).add(target)
        else:
            merged.setdefault(importer, set()).update(target)
    return {k: frozenset(v) for k, v in merged.items()}


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Checks leave no reference cycles behind (their garbage goes by refcount), so the
    cyclic GC has nothing to find while they run; paused, it does not walk the growing
    store of traces again and again (a fifth of the time on botocore + moto). Callers
    that check many handlers pause it around the whole batch."""
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
