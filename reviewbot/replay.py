"""Reusing a module load already simulated for another handler, when that is sound.

Handlers that share a layer load the same shared packages again and again. While one
module loads, the check writes what the load did to append-only logs (`LoadLog`); when
the load finishes without depending on state from outside it, that slice of the logs
becomes a `Trace`. Another handler that loads the same module in the same context
replays the trace instead of simulating it again, when `reusable` says the outcome would
be the same there. A trace whose modules are partly loaded already is replayed in part:
the modules present are used as they are.

Every rule here has one test: checking with replays must give exactly what checking from
scratch gives (tests/test_replay.py, tests/test_replay_random.py, and
benchmarks/realpackage.py on real packages).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import repeat
from operator import is_
from typing import TYPE_CHECKING, NamedTuple

from reviewbot.modulestate import (
    DONE,
    FAILED,
    RUNNING,
    ImportFailure,
    ModuleState,
    absolute_name,
    copy_state,
)
from reviewbot.resolve import EXTENSION, EXTERNAL, NAMESPACE
from reviewbot.stdlib import stdlib_for
from reviewbot.summary import CAUGHT, DEFINITE, Import, module_dunders

if TYPE_CHECKING:
    from reviewbot.importcheck import HandlerCheck

Deferred = tuple[ModuleState, Import]  # a function-level import and the module it is in


class PlainFinding(NamedTuple):
    """An error or warning reported while a load ran, worded as reported."""

    origin: str  # the module whose statement it is about
    error: bool
    path: str
    line: int
    kind: str
    message: str


class FailureEvent(NamedTuple):
    """A failing import as logged: reported (by guard), and how sure it is at each depth of
    the chain it propagated through (None where a `try` stopped it; see HandlerCheck.abort)."""

    origin: str
    guard: int
    path: str
    line: int
    failure: ImportFailure
    sures: tuple[int | None, ...] | None


class RecordedFailure(NamedTuple):
    """A failing import as a trace keeps it: `escapes` is how sure it is to leave the load
    (None when it stays inside), so a replay goes on to abort the importers where it runs."""

    origin: str
    guard: int
    path: str
    line: int
    failure: ImportFailure
    escapes: int | None


class Reraised(NamedTuple):
    """A failure already reported that a later import raised again, saying nothing new."""

    origin: str
    failure: ImportFailure


class Marks(NamedTuple):
    """Lengths of the logs when a load started: its trace is what was written after."""

    modules: int
    findings: int
    edges: int
    deferred: int
    refs: int
    tops: int
    present: int


@dataclass(slots=True)
class Recording:
    """A load being recorded. It is tainted when it depends on, or changes, state from
    outside it: then it is not replayable and no trace is kept."""

    depth: int  # the chain depth it started at
    first: int  # the position of its first module in LoadLog.modules
    tainted: bool = False


class LoadLog:
    """What every load of one check did, in order; read only by the loads being recorded."""

    __slots__ = ("_index", "deferred", "edges", "findings", "modules", "present", "recording",
                 "refs", "tops")

    def __init__(self) -> None:
        self.modules: list[tuple[str, ModuleState]] = []
        self.findings: list[PlainFinding | FailureEvent | Reraised] = []
        self.edges: list[tuple[str, str | frozenset[str]]] = []  # importer -> target(s)
        self.deferred: list[Deferred] = []
        self.refs: list[tuple[str, bool]] = []  # (module consulted, was it running)
        self.tops: list[tuple[str, object]] = []  # top-level name -> ModuleRef or NotFound
        self.present: list[str] = []  # ancestors found loaded (running or done)
        # module -> position in `modules`, built when a taint needs it (few checks do)
        self._index: dict[str, int] = {}
        self.recording: list[Recording] = []

    def marks(self) -> Marks:
        return Marks(len(self.modules), len(self.findings), len(self.edges), len(self.deferred),
                     len(self.refs), len(self.tops), len(self.present))

    def taint_depth(self, depth: int) -> None:
        """A module at this chain depth is changed: loads started deeper depend on it."""
        for rec in reversed(self.recording):
            if rec.depth <= depth:
                break
            rec.tainted = True

    def taint_module(self, name: str) -> None:
        """State of this module was read: loads started after it was created depend on it."""
        log = self.modules
        known = len(self._index)  # `modules` holds each module once, in load order
        if known < len(log):
            self._index.update((n, i) for i, (n, _) in enumerate(log[known:], known))
        # (-1: replayed while nothing was recording, so older than every load recorded now)
        index = self._index.get(name, -1)
        for rec in reversed(self.recording):
            if rec.first <= index:
                break
            rec.tainted = True

    def compact(self, marks: Marks, trace: Trace) -> None:
        """A load just recorded as `trace`: its slices of the edges and refs become the
        trace's own merged ones, which is what every load recorded around it would make
        of them (its edges are its modules', its refs deduplicated in order), so those
        do not merge the same entries again at every level of nesting."""
        del self.edges[marks.edges :]
        self.edges.extend(trace.edges.items())
        del self.refs[marks.refs :]
        self.refs.extend(trace.consulted)

    def taint_all(self) -> None:
        for rec in self.recording:
            rec.tainted = True


@dataclass(frozen=True)
class Trace:
    """What loading one module did, recorded for replay.

    It was recorded only if the load depended on nothing outside it but finished modules
    (not running, not broken) and the top-level names it resolved. What it holds
    concerns only its own modules: a replay applies nothing else.
    """

    first: str  # the module it loads
    findings: tuple[PlainFinding | RecordedFailure, ...]
    reraised: tuple[Reraised, ...]  # each once; a replay only logs them, for failed_into
    edges: dict[str, frozenset[str]]  # importer -> imported (settled deferreds' included)
    deferred: tuple[Deferred, ...]
    # The deferred imports a fresh replay still has to run: the others only bind names
    # its own finished modules hold, and their edges are in `edges` (see settled()).
    pending: tuple[Deferred, ...]
    consulted: tuple[tuple[str, bool], ...]  # (module, was running) for every module read
    top_resolutions: tuple[tuple[str, object], ...]  # top-level names -> what they found
    # Modules loaded before it that it read (were done), and of those the ones that ran a
    # star import, as read. (Tuples, not a set and pairs: a trace recorded where much is
    # loaded reads much, and these were a third of the traces' memory.)
    consulted_outside: tuple[str, ...]
    star_names: tuple[str, ...]
    star_shapes: tuple[ModuleState, ...]
    ancestors: tuple[str, ...]  # ancestors of its modules that were loaded before it
    # Its modules that it consulted while they were still running (a cycle): a replay that
    # skips one of them (loaded here, so finished) would not see it half-initialised.
    consulted_running: frozenset[str]
    by_name: dict[str, ModuleState]  # its modules, in load order
    paths: dict[str, str]  # of its modules that have a file, in load order
    broken: tuple[str, ...]  # its modules that failed, copied on replay: see apply_trace()
    star_importers: tuple[str, ...]  # its modules that ran a star import
    escapes: bool  # some failure leaves the load, to abort its importers


class TraceStore(dict[tuple[str, int], tuple[Trace, ...]]):
    """(module, context) -> the loads recorded for it, each replayable where its
    conditions hold. A load refused in one handler (a module of it already loaded there,
    or one it consulted not yet) is recorded again as another variant, up to VARIANTS.

    A module's edges are the same in nearly every trace that holds it (nested loads are
    recorded inside each other, and every variant holds its closure): each edge set is
    kept once, in `edge_sets`, and the traces share it."""

    def __init__(self) -> None:
        super().__init__()
        self.edge_sets: dict[frozenset[str], frozenset[str]] = {}


VARIANTS = 4
_NONE: frozenset[str] = frozenset()


# -- recording -------------------------------------------------------------------------


def record_trace(check: HandlerCheck, marks: Marks) -> Trace | None:
    """The trace of the load that started at `marks` and just finished, or None when it
    saw a module outside it half-initialised (its outcome depends on the order)."""
    log = check.log
    # (A failed module's reported_guard can still change in this handler, as importing it
    # again reports at a surer level: it is kept as this load left it.)
    by_name = {name: copy_state(mod) if mod.broken is not None else mod
               for name, mod in log.modules[marks.modules :]}
    own = by_name.keys()
    consulted = tuple(dict.fromkeys(log.refs[marks.refs :]))  # replays repeat them upwards
    outside: list[str] = []
    consulted_running = set()
    for name, running in consulted:
        if name in own:
            if running:
                consulted_running.add(name)
        elif running:
            return None
        else:
            outside.append(name)
    ancestors = tuple(n for n in dict.fromkeys(log.present[marks.present :]) if n not in own)
    star_names = tuple(check.star_importers.intersection(outside))
    deferred = tuple(d for d in log.deferred[marks.deferred :] if d[0].name in own)
    edge_sets = check.traces.edge_sets
    edges = edge_map(log.edges[marks.edges :], own, edge_sets)
    pending = _settle(deferred, by_name, edges, edge_sets)
    findings, reraised = _own_findings(log.findings[marks.findings :], own, len(check.chain))
    return Trace(
        next(iter(by_name)),
        findings,
        reraised,
        edges,
        deferred,
        pending,
        consulted,
        _top_resolutions(check, log.tops[marks.tops :], (*outside, *ancestors)),
        tuple(outside),
        star_names,
        # (a finished module's names no longer change: kept as it is, not copied)
        tuple(map(check.modules.__getitem__, star_names)),
        ancestors,
        frozenset(consulted_running),
        by_name,
        {name: mod.ref.path for name, mod in by_name.items() if mod.ref.path},
        tuple(name for name, mod in by_name.items() if mod.broken is not None),
        tuple(check.star_importers.intersection(own)),
        any(type(f) is RecordedFailure and f.escapes is not None for f in findings),
    )


def _top_resolutions(
    check: HandlerCheck, tops: list[tuple[str, object]], found_loaded: tuple[str, ...]
) -> tuple[tuple[str, object], ...]:
    """The top-level resolutions a replay must find the same. The modules the load found
    loaded must be the same files where it is replayed: each is, when its top-level
    package resolves the same (a submodule's resolution depends only on its parent's)."""
    resolved = dict.fromkeys(tops)
    seen = {name for name, _ in resolved}
    for name in found_loaded:
        top = name.partition(".")[0]
        if top not in seen:
            seen.add(top)
            resolved[(top, check.search.find(top))] = None
    return tuple(resolved)


def _settle(deferred: tuple[Deferred, ...], by_name: dict[str, ModuleState],
            edges: dict[str, frozenset[str]],
            edge_sets: dict[frozenset[str], frozenset[str]]) -> tuple[Deferred, ...]:
    """The deferred imports still to run on a fresh replay; the edges of the others are
    added to `edges`."""
    pending = []
    for owner, imp in deferred:
        targets = settled(owner, imp, by_name)
        if targets is None:
            pending.append((owner, imp))
        elif targets:
            merged = edges.get(owner.name, frozenset()) | targets
            edges[owner.name] = edge_sets.setdefault(merged, merged)
    return tuple(pending)


def _own_findings(
    logged: list, own: set[str], depth: int
) -> tuple[tuple[PlainFinding | RecordedFailure, ...], tuple[Reraised, ...]]:
    """The findings about the load's own modules. A failure that escapes the load goes on
    to abort the importers of wherever it is replayed: kept is how sure it is where it
    leaves (the chain depth of this load)."""
    findings: list[PlainFinding | RecordedFailure] = []
    reraised: dict[Reraised, None] = {}
    for f in logged:
        if f.origin not in own:
            continue
        if type(f) is Reraised:
            reraised[f] = None
        elif type(f) is FailureEvent:
            sures = f.sures
            escapes = sures[depth] if sures is not None and depth < len(sures) else None
            findings.append(
                RecordedFailure(f.origin, f.guard, f.path, f.line, f.failure,
                                escapes if escapes != CAUGHT else None)
            )
        else:
            findings.append(f)
    return tuple(findings), tuple(reraised)


def settled(
    owner: ModuleState, imp: Import, modules: dict[str, ModuleState]
) -> frozenset[str] | None:
    """The modules a deferred import would only link to, when its outcome is known
    now: its target and every submodule it names are among `modules`, finished and
    unbroken, and each other name it imports is surely bound there. Such modules
    never change again, so running the import later would add these edges and
    nothing else. None when it could do more (load, fail, warn)."""
    try:
        target = absolute_name(owner, imp)
    except ImportFailure:
        return None
    source = modules.get(target)
    if source is None or source.status != DONE or source.broken is not None:
        return None
    out = {target}
    if imp.is_from and source.ref.stdlib is not None:  # its names are known: may fail
        table = stdlib_for(source.ref.stdlib)
        module = table.module(target) if table is not None else None
        if module is not None and module.names is not None and any(
                n not in module.names for n in imp.names if n != "*"):
            return None
    if imp.is_from and source.ref.kind not in (EXTERNAL, EXTENSION):
        dunders = module_dunders(source.ref.is_package, source.ref.kind == NAMESPACE)
        for name in imp.names:
            if name in dunders:
                continue
            bound = source.binding(name)
            if bound is not None and bound[0] == DEFINITE and name != "*":
                continue
            sub = modules.get(f"{target}.{name}") if source.ref.is_package else None
            if bound is None and sub is not None and sub.status == DONE and sub.broken is None:
                out.add(sub.name)
                continue
            return None
    out.discard(owner.name)
    return frozenset(out)


def edge_map(log: list[tuple[str, str | frozenset[str]]], own: AbstractSet[str],
             edge_sets: dict[frozenset[str], frozenset[str]]) -> dict[str, frozenset[str]]:
    """The edges of the `own` modules in a slice of the log, each set taken from (or
    added to) `edge_sets`. A module whose edges came whole from a replay keeps that set."""
    logged: dict[str, list[str | frozenset[str]]] = {}
    for importer, target in log:
        if importer in own:
            logged.setdefault(importer, []).append(target)
    out = {}
    for importer, targets in logged.items():
        if len(targets) == 1 and type(targets[0]) is frozenset:
            out[importer] = targets[0]  # a replayed trace's: in edge_sets already
            continue
        merged = frozenset(t for t in targets if type(t) is str).union(
            *(t for t in targets if type(t) is not str))
        out[importer] = edge_sets.setdefault(merged, merged)
    return out


# -- replaying ---------------------------------------------------------------------------


def _loaded(trace: Trace, modules: dict[str, ModuleState]) -> AbstractSet[str]:
    """Of the trace's modules, those already loaded here (usually none)."""
    names = trace.by_name.keys()  # (a view: the smaller side is the one walked)
    if modules.keys().isdisjoint(names):
        return _NONE
    return modules.keys() & names


def failed_into(trace: Trace, skipped: AbstractSet[str]) -> bool:
    """Whether a module a replay would skip (loaded here, sound) failed there in a way
    that reached the modules it keeps: aborting them, or raised again where they
    import it. Here it does neither."""
    failures = {
        id(trace.by_name[n].broken.failure) for n in skipped if trace.by_name[n].broken is not None
    }
    for name in trace.broken:
        if name not in skipped and id(trace.by_name[name].broken.failure) in failures:
            return True
    return any(
        type(f) is RecordedFailure and f.origin not in skipped and id(f.failure) in failures
        for f in trace.findings
    ) or any(f.origin not in skipped and id(f.failure) in failures for f in trace.reraised)


def reusable(trace: Trace, check: HandlerCheck) -> bool:
    """Whether replaying the trace here gives what simulating the load here would.

    It does when the load sees here what it saw there: every module it consulted outside
    itself is loaded, finished and unbroken (and, if that module ran a star import, with
    the same names); every ancestor it found loaded is loaded and sound, and not running
    if a failure escapes the load (which would break that ancestor midway, where the
    recording saw it whole); every top-level name it resolved resolves to the same here.
    Of its own modules, those already loaded here are skipped, so none of them may be one
    it saw running (a cycle), one that is unsettled here, or one whose failure there
    reached the modules the replay keeps.
    """
    modules = check.modules
    unsettled = check.unsettled
    loaded = _loaded(trace, modules)
    if loaded and (not loaded.isdisjoint(trace.consulted_running)
                   or not unsettled.isdisjoint(loaded)
                   or (not loaded.isdisjoint(trace.broken) and failed_into(trace, loaded))):
        return False
    outside = trace.consulted_outside
    if outside and not (all(map(modules.__contains__, outside))
                        and unsettled.isdisjoint(outside)):
        return False
    shapes = trace.star_shapes
    if shapes and not all(map(is_, map(modules.__getitem__, trace.star_names), shapes)):
        for name, then in zip(trace.star_names, shapes, strict=True):  # what a star import gave
            mod = modules[name]
            if mod is not then and (mod.extra != then.extra
                                    or mod.open_reason != then.open_reason):
                return False
    for name in trace.ancestors:
        present = modules.get(name)
        if present is None or present.status == FAILED or present.broken is not None:
            return False
        if present.status == RUNNING and trace.escapes:
            return False
    # A top-level resolution never changes in one search path: each (name, resolution)
    # is compared once per search path, and a trace's all at once where all were.
    agreed = check.search.agreed
    if not agreed.issuperset(trace.top_resolutions):
        find = check.search.find
        for pair in trace.top_resolutions:
            if pair not in agreed:
                if find(pair[0]) != pair[1]:
                    return False
                agreed.add(pair)
    return True


def apply_trace(trace: Trace, check: HandlerCheck) -> None:
    """Replay a reusable trace: its modules, findings, edges and deferred imports, as if
    the load had run here. Modules already loaded here are skipped."""
    loaded = _loaded(trace, check.modules)
    fresh = not loaded
    log = check.log
    # The logs are read only by the loads being recorded: with none (a function-level
    # import run after the handler's import), nothing is logged.
    logging = bool(log.recording)
    shared = not trace.broken and fresh  # every recorded module object, as it is
    new = trace.by_name if shared else _kept_modules(trace, loaded, log if logging else None)
    check.modules.update(new)
    # (a module of the trace loaded here already has the same file here: its top-level
    # package resolves the same, see reusable)
    check.paths.update(trace.paths)
    if logging:
        log.modules.extend(new.items())
        log.findings.extend(
            trace.reraised if fresh else (f for f in trace.reraised if f.origin in new)
        )
    if trace.star_importers:
        check.star_importers.update(trace.star_importers)
    if trace.broken:
        check.unsettled.update(name for name in trace.broken if name in new)
    _replay_findings(trace, check, new, fresh)
    _replay_edges(trace, check, new, fresh, logging)
    if shared:  # each owner is the recorded object itself, and each module it holds
        check.deferred.extend(trace.pending)
        if logging:
            log.deferred.extend(trace.deferred)
    else:
        for owner, imp in trace.deferred:
            mod = new.get(owner.name)
            if mod is not None:
                check.deferred.append((mod, imp))
                if logging:
                    log.deferred.append((mod, imp))
    if logging:
        log.refs.extend(trace.consulted)
        log.tops.extend(trace.top_resolutions)
        log.present.extend(trace.ancestors)


def _kept_modules(
    trace: Trace, loaded: AbstractSet[str], log: LoadLog | None
) -> dict[str, ModuleState]:
    """The trace's modules a replay adds: those not loaded here, each failed one copied
    (its reported_guard is per handler)."""
    new = dict(trace.by_name)
    for name in loaded:
        del new[name]
    # The modules skipped are used as they are here: a load recorded around this one
    # depends on their being loaded, as on any module it consulted.
    if log is not None:
        log.refs.extend(zip(loaded, repeat(False)))
    for name in trace.broken:
        if name in new:
            new[name] = copy_state(new[name])
    return new


def _replay_findings(
    trace: Trace, check: HandlerCheck, new: dict[str, ModuleState], fresh: bool
) -> None:
    for f in trace.findings:
        if not fresh and f.origin not in new:
            continue
        if type(f) is PlainFinding:
            check.report(f.error, f.path, f.line, f.kind, f.message, origin=f.origin)
            continue
        sures = None
        if f.escapes is not None and check.chain:  # on into the importers here
            sures = check.abort(f.guard, f.escapes, f.path, f.line, f.failure)
        check.emit_failure(f.guard, f.path, f.line, f.failure, f.origin, sures)


def _replay_edges(
    trace: Trace, check: HandlerCheck, new: dict[str, ModuleState], fresh: bool, logging: bool
) -> None:
    edges = check.edges
    log = check.log.edges
    if fresh:
        # Only the load's own module can have edges already (to its parent package).
        first = trace.first
        known = edges.get(first)
        edges.update(trace.edges)  # the sets are shared until HandlerCheck.edge adds to one
        if known is not None and first in trace.edges:
            edges[first] = known | trace.edges[first]
        if logging:
            log.extend(trace.edges.items())
        return
    mine = trace.edges
    for importer in new.keys() & mine.keys():  # the edges of the modules it adds
        targets = mine[importer]
        known = edges.get(importer)
        edges[importer] = targets if known is None else known | targets
        if logging:
            log.append((importer, targets))
