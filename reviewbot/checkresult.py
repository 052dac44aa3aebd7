"""What one handler's check found: its import closure, graph and findings."""

from __future__ import annotations

from collections import deque
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from reviewbot.model import Finding, Handler


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
