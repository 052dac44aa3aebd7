"""The import check, with CPython as the judge.

Every judged case is a small tree (a function root `fn/`, optionally a layer root `layer/`)
and a handler. The engine checks it statically; the same files are written to a temporary
directory and a fresh interpreter (the one running the tests, in isolated mode) loads the
handler the way Lambda's bootstrap does. The two must agree: the import fails on CPython
exactly when the engine reports an error, with the same message (Lambda's prefix, CPython's
text, the repo-relative path in place of the temporary one) at the same file and line.
Cases the engine should only warn about (maybe/unknown) must succeed on CPython.

The handlers' runtime is the running interpreter's, so version guards are judged for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.model import CONFIG_PATH, Handler
from reviewbot.tree import Tree

PY = sys.version_info
RUNTIME = f"python{PY.major}.{PY.minor}"
ON_LINUX = sys.platform.startswith("linux")

H = "\ndef handler(event, context):\n    return 'ok'\n"


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]
    handler: str = "main.handler"
    call: bool = False  # also invoke the handler (function-level imports fail only then)
    warn: frozenset[str] = field(default_factory=frozenset)  # expected warning kinds
    marks: tuple = ()


def case(id: str, files: dict[str, str | bytes], handler: str = "main.handler", *,
         call: bool = False, warn: tuple[str, ...] = (), marks: tuple = ()) -> Case:
    return Case(id, files, handler, call, frozenset(warn), marks)


def ver(minor_delta: int = 0) -> str:
    return f"({PY.major}, {PY.minor + minor_delta})"


CASES: list[Case] = [
    # `m.name` read at import time through `import m` / `from p import m`
    case("attr-missing", {"fn/main.py": "import util\nLOG = util.get_logger()" + H,
                          "fn/util.py": "def make_logger():\n    return 1\n"}),
    case("attr-present", {"fn/main.py": "import util\nLOG = util.make_logger()" + H,
                          "fn/util.py": "def make_logger():\n    return 1\n"}),
    case("attr-from-submodule", {"fn/main.py": "from lib import log as l\nX = l.get()" + H,
                                 "fn/lib/__init__.py": "from .log import *\n",
                                 "fn/lib/log.py": "def got():\n    pass\n"}),
    case("attr-dotted-alias", {"fn/main.py": "import pkg.sub as s\nX = [s.VALUE]" + H,
                               "fn/pkg/__init__.py": "", "fn/pkg/sub.py": "X = 1\n"}),
    case("attr-in-decorator-and-default", {
        "fn/main.py": "import deco\n@deco.wrap\ndef f(x=deco.DEFAULT):\n    pass\n" + H,
        "fn/deco.py": "def wrap(f):\n    return f\n"}),
    case("attr-only-in-function-or-lambda", {
        "fn/main.py": "import util\nF = lambda: util.nothing\ndef g():\n    return util.nothing\n" + H,
        "fn/util.py": ""}),
    case("attr-submodule-imported-elsewhere", {
        "fn/main.py": "import pkg\nimport other\nX = pkg.sub.X" + H,
        "fn/other.py": "import pkg.sub\n", "fn/pkg/__init__.py": "", "fn/pkg/sub.py": "X = 1\n"}),
    case("attr-set-by-the-module", {"fn/main.py": "import cfg\ncfg.DEBUG = True\nX = cfg.DEBUG" + H,
                                    "fn/cfg.py": ""}),
    case("attr-rebound-name", {"fn/main.py": "import util\nutil = object()\nX = util.__class__" + H,
                               "fn/util.py": ""}),
    case("attr-circular", {"fn/main.py": "import a" + H,
                           "fn/a.py": "import b\nLATE = 1\n",
                           "fn/b.py": "import a\nX = a.LATE\n"}),
    # -- plain names ---------------------------------------------------------------------
    case("plain-name", {"fn/main.py": "from pkg import X" + H, "fn/pkg/__init__.py": "X = 1\n"}),
    case("missing-name", {"fn/main.py": "from pkg import X" + H,
                          "fn/pkg/__init__.py": "Y = 1\n"}),
    case("missing-name-in-module", {"fn/main.py": "import os\nfrom pkg.mod import X" + H,
                                    "fn/pkg/__init__.py": "", "fn/pkg/mod.py": "Y = 1\n"}),
    case("stdlib-imports", {"fn/main.py": "import json, os.path\nfrom collections import "
                                          "OrderedDict\nfrom os import path as p" + H}),
    case("import-as-binds-alias", {
        "fn/main.py": "from mid import c, os" + H,
        "fn/mid.py": "import os.path\nimport json as c\n"}),
    case("import-as-does-not-bind-module", {
        "fn/main.py": "from mid import json" + H,
        "fn/mid.py": "import json as c\n"}),
    # -- submodules, subpackages, namespaces -----------------------------------------------
    case("submodule-fallback", {"fn/main.py": "from pkg import mod" + H,
                                "fn/pkg/__init__.py": "", "fn/pkg/mod.py": ""}),
    case("submodule-missing", {"fn/main.py": "from pkg import nomod" + H,
                               "fn/pkg/__init__.py": "", "fn/pkg/mod.py": ""}),
    case("import-submodule-missing", {"fn/main.py": "import pkg.nomod" + H,
                                      "fn/pkg/__init__.py": ""}),
    case("subpackage", {"fn/main.py": "from pkg import sub\nfrom pkg.sub import deep" + H,
                        "fn/pkg/__init__.py": "", "fn/pkg/sub/__init__.py": "",
                        "fn/pkg/sub/deep.py": ""}),
    case("subpackage-missing", {"fn/main.py": "import pkg.sub.missing" + H,
                                "fn/pkg/__init__.py": "", "fn/pkg/sub/__init__.py": ""}),
    case("namespace-top", {"fn/main.py": "from nsp import mod\nimport nsp.mod" + H,
                           "fn/nsp/mod.py": "X = 1\n"}),
    case("namespace-top-missing-name", {"fn/main.py": "from nsp import missing" + H,
                                        "fn/nsp/mod.py": ""}),
    case("namespace-in-package", {"fn/main.py": "from pkg.nsdir import mod\nimport pkg.nsdir.mod"
                                                "\nfrom pkg import nsdir" + H,
                                  "fn/pkg/__init__.py": "", "fn/pkg/nsdir/mod.py": ""}),
    case("namespace-in-package-missing", {"fn/main.py": "from pkg.nsdir import X" + H,
                                          "fn/pkg/__init__.py": "",
                                          "fn/pkg/nsdir/mod.py": ""}),
    case("namespace-split-roots", {"fn/main.py": "from nsp import a, b" + H,
                                   "fn/nsp/a.py": "", "layer/nsp/b.py": ""}),
    case("namespace-split-roots-missing", {"fn/main.py": "from nsp import a, c" + H,
                                           "fn/nsp/a.py": "", "layer/nsp/b.py": ""}),
    case("layer-package", {"fn/main.py": "from shared import util" + H,
                           "layer/shared/__init__.py": "", "layer/shared/util.py": ""}),
    case("first-root-wins-module-shadows-layer", {
        "fn/main.py": "from shared import util" + H, "fn/shared.py": "",
        "layer/shared/__init__.py": "", "layer/shared/util.py": ""}),
    case("regular-layer-package-beats-namespace-dir", {
        "fn/main.py": "from shared import X" + H, "fn/shared/notes.py": "",
        "layer/shared/__init__.py": "X = 1\n"}),
    case("regular-package-hides-namespace-portion", {
        "fn/main.py": "from shared import notes" + H, "fn/shared/notes.py": "",
        "layer/shared/__init__.py": "X = 1\n"}),
    case("import-module-not-package", {"fn/main.py": "import a.b" + H, "fn/a.py": ""}),
    case("from-module-not-package", {"fn/main.py": "from a.b import c" + H, "fn/a.py": ""}),
    # -- ancestors run first ---------------------------------------------------------------
    case("ancestor-init-ok", {"fn/main.py": "import a.b" + H,
                              "fn/a/__init__.py": "from a.core import Thing\n",
                              "fn/a/core.py": "Thing = 1\n", "fn/a/b.py": ""}),
    case("ancestor-init-broken", {"fn/main.py": "import a.b" + H,
                                  "fn/a/__init__.py": "from a.core import Nope\n",
                                  "fn/a/core.py": "Thing = 1\n", "fn/a/b.py": ""}),
    case("handler-in-package-ok", {"fn/app/__init__.py": "import os\n",
                                   "fn/app/handlers/main.py": "from app import os" + H},
         handler="app/handlers/main.handler"),
    case("handler-in-package-broken-init", {"fn/app/__init__.py": "import missing_zz_lib\n",
                                            "fn/app/handlers/main.py": H},
         handler="app/handlers/main.handler"),
    case("handler-in-namespace-dirs", {"fn/app/handlers/main.py": "from . import helper" + H,
                                       "fn/app/handlers/helper.py": ""},
         handler="app/handlers/main.handler"),
    case("handler-sibling-not-on-path", {"fn/app/main.py": "import helper" + H,
                                         "fn/app/helper.py": ""},
         handler="app/main.handler"),
    # -- relative imports ------------------------------------------------------------------
    case("relative-in-init", {"fn/main.py": "from pkg import X" + H,
                              "fn/pkg/__init__.py": "from .core import X\n",
                              "fn/pkg/core.py": "X = 1\n"}),
    case("relative-in-init-missing", {"fn/main.py": "from pkg import X" + H,
                                      "fn/pkg/__init__.py": "from .core import X\n",
                                      "fn/pkg/core.py": "Y = 1\n"}),
    case("relative-in-module", {"fn/main.py": "import pkg.a" + H, "fn/pkg/__init__.py": "",
                                "fn/pkg/a.py": "from .b import Y\nfrom . import b\n",
                                "fn/pkg/b.py": "Y = 1\n"}),
    case("relative-in-module-missing", {"fn/main.py": "import pkg.a" + H,
                                        "fn/pkg/__init__.py": "",
                                        "fn/pkg/a.py": "x = 1\nfrom .b import Z\n",
                                        "fn/pkg/b.py": "Y = 1\n"}),
    case("relative-two-dots", {"fn/main.py": "import pkg.sub.m" + H, "fn/pkg/__init__.py": "",
                               "fn/pkg/core.py": "X = 1\n", "fn/pkg/sub/__init__.py": "",
                               "fn/pkg/sub/m.py": "from ..core import X\nfrom .. import core\n"}),
    case("relative-two-dots-missing", {"fn/main.py": "import pkg.sub.m" + H,
                                       "fn/pkg/__init__.py": "", "fn/pkg/core.py": "X = 1\n",
                                       "fn/pkg/sub/__init__.py": "",
                                       "fn/pkg/sub/m.py": "from ..gone import X\n"}),
    case("relative-beyond-top", {"fn/main.py": "import pkg.a" + H, "fn/pkg/__init__.py": "",
                                 "fn/pkg/a.py": "from ... import x\n"}),
    case("relative-no-parent", {"fn/main.py": "from . import x" + H, "fn/x.py": ""}),
    # -- names that are not bound ----------------------------------------------------------
    case("class-attribute-not-module-name", {"fn/main.py": "from m import Inner" + H,
                                             "fn/m.py": "class C:\n    Inner = 1\n"}),
    case("class-name", {"fn/main.py": "from m import C" + H,
                        "fn/m.py": "class C:\n    Inner = 1\n"}),
    case("all-ghost-from-import", {"fn/main.py": "from m import Ghost" + H,
                                   "fn/m.py": "__all__ = ['Ghost', 'Real']\nReal = 1\n"}),
    case("all-ghost-star", {"fn/main.py": "from m import *" + H,
                            "fn/m.py": "__all__ = ['Ghost', 'Real']\nReal = 1\n"}),
    case("all-star-ok", {"fn/main.py": "from m import *" + H,
                         "fn/m.py": "__all__ = ['Real']\n__all__ += ['More']\nReal = 1\n"
                                    "More = 2\n"}),
    case("all-star-lists-submodule", {"fn/main.py": "from pkg import *" + H,
                                      "fn/pkg/__init__.py": "__all__ = ['sub']\n",
                                      "fn/pkg/sub.py": ""}),
    case("all-does-not-restrict-from-import", {
        "fn/main.py": "from m import hidden, _private" + H,
        "fn/m.py": "__all__ = ['a']\na = 1\nhidden = 2\n_private = 3\n"}),
    case("star-binds-all-names", {"fn/main.py": "from mid import a" + H,
                                  "fn/mid.py": "from m import *\n",
                                  "fn/m.py": "__all__ = ['a']\na = 1\nb = 2\n"}),
    case("star-skips-names-not-in-all", {"fn/main.py": "from mid import b" + H,
                                         "fn/mid.py": "from m import *\n",
                                         "fn/m.py": "__all__ = ['a']\na = 1\nb = 2\n"}),
    case("star-binds-public-names", {"fn/main.py": "from mid import d" + H,
                                     "fn/mid.py": "from m import *\n",
                                     "fn/m.py": "_c = 3\nd = 4\n"}),
    case("star-skips-underscore", {"fn/main.py": "from mid import _c" + H,
                                   "fn/mid.py": "from m import *\n",
                                   "fn/m.py": "_c = 3\nd = 4\n"}),
    case("type-checking-only", {"fn/main.py": "from m import X" + H,
                                "fn/m.py": "from typing import TYPE_CHECKING\n"
                                           "if TYPE_CHECKING:\n    X = 1\n"}),
    case("typing-type-checking-only", {"fn/main.py": "from m import X" + H,
                                       "fn/m.py": "import typing\n"
                                                  "if typing.TYPE_CHECKING:\n    X = 1\n"}),
    case("type-checking-else", {"fn/main.py": "from m import X" + H,
                                "fn/m.py": "from typing import TYPE_CHECKING\n"
                                           "if TYPE_CHECKING:\n    pass\nelse:\n    X = 1\n"}),
    case("not-type-checking", {"fn/main.py": "from m import X" + H,
                               "fn/m.py": "from typing import TYPE_CHECKING\n"
                                          "if not TYPE_CHECKING:\n    X = 1\n"}),
    case("type-checking-import-of-missing-module", {
        "fn/main.py": "from m import Y" + H,
        "fn/m.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                   "    import missing_zz_lib\nY = 1\n"}),
    case("main-guard", {"fn/main.py": "from m import X" + H,
                        "fn/m.py": "if __name__ == '__main__':\n    X = 1\n"}),
    case("not-main-guard", {"fn/main.py": "from m import X" + H,
                            "fn/m.py": "if __name__ != '__main__':\n    X = 1\n"}),
    case("version-guard-true", {"fn/main.py": "from m import X, Y, Z" + H,
                                "fn/m.py": f"import sys\nif sys.version_info >= {ver()}:\n"
                                           f"    X = 1\nif sys.version_info[:2] == {ver()}:\n"
                                           f"    Y = 1\nif sys.version_info < {ver(1)}:\n"
                                           f"    Z = 1\n"}),
    case("version-guard-false", {"fn/main.py": "from m import X" + H,
                                 "fn/m.py": f"import sys\nif sys.version_info >= {ver(1)}:\n"
                                            f"    X = 1\n"}),
    case("version-guard-else", {"fn/main.py": "from m import X" + H,
                                "fn/m.py": f"import sys\nif sys.version_info < {ver()}:\n"
                                           f"    pass\nelse:\n    X = 1\n"}),
    case("version-guard-minor-false", {"fn/main.py": "from m import X" + H,
                                       "fn/m.py": f"import sys\n"
                                                  f"if sys.version_info[1] < {PY.minor}:\n"
                                                  f"    X = 1\n"}),
    case("platform-guard-true", {"fn/main.py": "from m import X, Y" + H,
                                 "fn/m.py": "import sys\nif sys.platform == 'linux':\n    X = 1\n"
                                            "if sys.platform.startswith('linux'):\n    Y = 1\n"},
         marks=(pytest.mark.skipif(not ON_LINUX, reason="Lambda is Linux"),)),
    case("platform-guard-false", {"fn/main.py": "from m import X" + H,
                                  "fn/m.py": "import sys\nif sys.platform == 'win32':\n"
                                             "    X = 1\n"},
         marks=(pytest.mark.skipif(not ON_LINUX, reason="Lambda is Linux"),)),
    case("del-unbinds", {"fn/main.py": "from m import X" + H,
                         "fn/m.py": "X = 1\ndel X\n"}),
    case("del-other-name", {"fn/main.py": "from m import X" + H,
                            "fn/m.py": "X = 1\nY = X\ndel Y\n"}),
    case("del-then-rebind", {"fn/main.py": "from m import X" + H,
                             "fn/m.py": "X = 1\ndel X\nX = 2\n"}),
    case("except-as-unbinds", {"fn/main.py": "from m import e" + H,
                               "fn/m.py": "try:\n    raise ValueError\n"
                                          "except ValueError as e:\n    pass\n"}),
    case("except-as-kept-copy", {"fn/main.py": "from m import err" + H,
                                 "fn/m.py": "try:\n    raise ValueError\n"
                                            "except ValueError as e:\n    err = e\n"}),
    case("bare-annotation", {"fn/main.py": "from m import x" + H, "fn/m.py": "x: int\n"}),
    case("annotation-with-value", {"fn/main.py": "from m import x" + H,
                                   "fn/m.py": "x: int = 1\n"}),
    case("unpacking-and-loops", {"fn/main.py": "from m import a, b, c, f, w" + H,
                                 "fn/m.py": "a, (b, *c) = 1, (2, 3)\nfor i in range(2):\n    pass\n"
                                            "with open(__file__) as f:\n    pass\n"
                                            "if (w := 1):\n    pass\n"}),
    case("try-import-fallback", {"fn/main.py": "from m import F, G" + H,
                                 "fn/m.py": "try:\n    from fastlib_zz import F\n"
                                            "except ImportError:\n    F = None\n"
                                            "try:\n    import fastlib_zz as G\n"
                                            "except ModuleNotFoundError:\n    G = None\n"}),
    case("try-import-fallback-else", {"fn/main.py": "from m import F" + H,
                                      "fn/m.py": "try:\n    import json\n"
                                                 "except ImportError:\n    F = None\n"
                                                 "else:\n    F = json\n"}),
    # -- maybe / unknown: must succeed on CPython, engine warns ------------------------------
    case("maybe-if-arm", {"fn/main.py": "from m import X" + H,
                          "fn/m.py": "import os\nif os.environ.get('REVIEWBOT_ZZ_FLAG') is None:\n"
                                     "    X = 1\n"}, warn=("maybe",)),
    case("maybe-try-arm", {"fn/main.py": "from m import F" + H,
                           "fn/m.py": "try:\n    from fastlib import F\n"
                                      "except ImportError:\n    pass\n",
                           "fn/fastlib.py": "F = 1\n"}, warn=("maybe",)),
    # A fallback import in the `except ImportError:` arm surely runs when the import it
    # backs up surely fails, so its own failure is Lambda's error, not a maybe.
    case("fallback-after-sure-failure", {
        "fn/main.py": "try:\n    from schemas import X\n    setup()\nexcept:\n"
                      "    from src.schemas import X\n" + H,
        "fn/schemas.py": "import missing_zz_lib\nX = 1\n"}),
    case("fallback-after-sure-missing-name", {
        "fn/main.py": "try:\n    from schemas import X\nexcept ImportError:\n"
                      "    from src.schemas import X\n" + H,
        "fn/schemas.py": "Y = 1\n"}),
    case("fallback-after-sure-failure-found", {
        "fn/main.py": "try:\n    from schemas import X\nexcept ImportError:\n"
                      "    from src.schemas import X\n" + H,
        "fn/schemas.py": "import missing_zz_lib\nX = 1\n",
        "fn/src/__init__.py": "", "fn/src/schemas.py": "X = 2\n"}),
    case("fallback-after-maybe-failure", {
        "fn/main.py": "try:\n    from schemas import X\nexcept ImportError:\n"
                      "    from src.schemas import X\n" + H,
        "fn/schemas.py": "import os\nif os.environ.get('ZZ_FLAG'):\n"
                         "    import missing_zz_lib\nX = 1\n"}, warn=("missing-module",)),
    case("fallback-after-nested-failure", {
        "fn/main.py": "import os\ntry:\n    if os.environ.get('ZZ_FLAG'):\n"
                      "        from schemas import X\n"
                      "except ImportError:\n    from src.schemas import X\n" + H,
        "fn/schemas.py": "import missing_zz_lib\n"}, warn=("missing-module",)),
    case("fallback-in-an-inner-block-of-the-arm", {
        "fn/main.py": "import os\ntry:\n    import missing_zz_lib\nexcept ImportError:\n"
                      "    if os.environ.get('ZZ_FLAG'):\n        import missing_zz_other\n" + H},
         warn=("missing-module",)),
    case("fallback-of-a-guarded-try", {
        "fn/main.py": "import os\nif os.environ.get('ZZ_FLAG'):\n    try:\n"
                      "        import missing_zz_lib\n    except ImportError:\n"
                      "        import missing_zz_other\n" + H}, warn=("missing-module",)),
    # a package that registers modules itself may serve a submodule that is no file;
    # one that is merely dynamic (globals()) does not
    case("submodule-registered-in-sys-modules", {
        "fn/main.py": "import pkg.made" + H,
        "fn/pkg/__init__.py": "import sys, types\n"
                              "sys.modules[__name__ + '.made'] = types.ModuleType('made')\n"},
         warn=("unknown",)),
    case("submodule-of-a-dynamic-package", {
        "fn/main.py": "import pkg.gone" + H,
        "fn/pkg/__init__.py": "X = globals()\n"}),
    case("maybe-loop-body", {"fn/main.py": "from m import X" + H,
                             "fn/m.py": "for _ in range(1):\n    X = 1\n"}, warn=("maybe",)),
    case("conditional-missing-module", {"fn/main.py": "import m" + H,
                                        "fn/m.py": "import os\nif os.environ.get('ZZ_FLAG'):\n"
                                                   "    import missing_zz_lib\n"},
         warn=("missing-module",)),
    # a module __getattr__ whose code names what it serves (MarkupSafe 3 serves only
    # __version__, so Jinja2 2's `from markupsafe import soft_unicode` fails)
    case("pep562-getattr", {"fn/main.py": "from m import X" + H,
                            "fn/m.py": "def __getattr__(name):\n    if name == 'X':\n"
                                       "        return 1\n    raise AttributeError(name)\n"}),
    case("pep562-getattr-missing", {"fn/main.py": "from m import soft_unicode" + H,
                                    "fn/m.py": "def __getattr__(name):\n"
                                               "    if name == '__version__':\n"
                                               "        return '3'\n"
                                               "    raise AttributeError(name)\n"}),
    case("pep562-getattr-container", {"fn/main.py": "from m import B\nfrom m import C" + H,
                                      "fn/m.py": "_LAZY = {'A': 1, 'B': 2}\n"
                                                 "def __getattr__(name):\n    'Lazy.'\n"
                                                 "    if name in _LAZY or name == 'Z':\n"
                                                 "        return _LAZY[name]\n"
                                                 "    raise AttributeError(name)\n"}),
    case("pep562-getattr-not-in", {"fn/main.py": "from m import A\nfrom m import Q" + H,
                                   "fn/m.py": "def __getattr__(name):\n"
                                              "    if name not in ('A', 'B'):\n"
                                              "        raise AttributeError(name)\n"
                                              "    return 1\n"}),
    case("pep562-getattr-computed", {"fn/main.py": "from m import x_y" + H,
                                     "fn/m.py": "def __getattr__(name):\n"
                                                "    if name.startswith('x_'):\n"
                                                "        return 1\n"
                                                "    raise AttributeError(name)\n"},
         warn=("unknown",)),
    case("pep562-getattr-falls-through", {"fn/main.py": "from m import anything" + H,
                                          "fn/m.py": "def __getattr__(name):\n"
                                                     "    if name == 'A':\n"
                                                     "        return 1\n"},
         warn=("unknown",)),
    case("globals-assignment", {"fn/main.py": "from m import X" + H,
                                "fn/m.py": "globals()['X'] = 1\n"}, warn=("unknown",)),
    case("open-star-import", {"fn/main.py": "from mid import dumps" + H,
                              "fn/mid.py": "from json import *\n"}, warn=("unknown",)),
    case("caught-nested-failure", {"fn/main.py": "try:\n    import m\nexcept ImportError:\n"
                                                 "    m = None" + H,
                                   "fn/m.py": "from pkg import Nope\n",
                                   "fn/pkg/__init__.py": ""}),
    case("caught-nested-failure-imported-again", {
        "fn/main.py": "try:\n    import m\nexcept ImportError:\n    m = None\nimport m" + H,
        "fn/m.py": "from pkg import Nope\n", "fn/pkg/__init__.py": ""}),
    case("conditional-nested-failure", {"fn/main.py": "import os\nif os.environ.get('ZZ_FLAG'):"
                                                      "\n    import m" + H,
                                        "fn/m.py": "x = 1\nfrom pkg import Nope\n",
                                        "fn/pkg/__init__.py": ""}, warn=("missing-name",)),
    case("caught-two-levels-imported-again", {
        "fn/main.py": "try:\n    import m\nexcept ImportError:\n    pass\nimport os\nimport m" + H,
        "fn/m.py": "import n\n", "fn/n.py": "x = 1\nimport missing_zz_lib\n"}),
    case("caught-then-imported-by-other-module", {
        "fn/main.py": "try:\n    import m\nexcept Exception:\n    pass\nimport other" + H,
        "fn/other.py": "from m import x\n", "fn/m.py": "x = 1\nfrom pkg import Nope\n",
        "fn/pkg/__init__.py": ""}),
    case("conditional-then-unguarded", {
        "fn/main.py": "import os\nif os.environ.get('ZZ_FLAG'):\n    import m\nimport m" + H,
        "fn/m.py": "from pkg import Nope\n", "fn/pkg/__init__.py": ""}),
    case("caught-in-function", {
        "fn/main.py": "def handler(event, context):\n    try:\n        import m\n"
                      "    except ImportError:\n        m = None\n    return m\n",
        "fn/m.py": "from pkg import Nope\n", "fn/pkg/__init__.py": ""}, call=True),
    case("try-except-reraise", {"fn/main.py": "import m" + H,
                                "fn/m.py": "try:\n    import missing_zz_lib\n"
                                           "except ImportError:\n    raise\n"}),
    case("suppress-import-error", {"fn/main.py": "import m" + H,
                                   "fn/m.py": "from contextlib import suppress\n"
                                              "with suppress(ImportError):\n"
                                              "    import missing_zz_lib\n"}),
    case("suppress-import-error-binding", {"fn/main.py": "from m import F" + H,
                                           "fn/m.py": "import contextlib\n"
                                                      "with contextlib.suppress(ImportError):\n"
                                                      "    from fastlib import F\n",
                                           "fn/fastlib.py": "F = 1\n"}, warn=("maybe",)),
    case("suppress-other-error", {"fn/main.py": "import m" + H,
                                  "fn/m.py": "from contextlib import suppress\n"
                                             "with suppress(KeyError):\n"
                                             "    import missing_zz_lib\n"}),
    case("global-in-called-function", {"fn/main.py": "from m import X" + H,
                                       "fn/m.py": "def init():\n    global X\n    X = 1\n"
                                                  "init()\n"}, warn=("maybe",)),
    case("class-body-import", {"fn/main.py": "class C:\n    from pkg import Nope" + H,
                               "fn/pkg/__init__.py": ""}),
    case("class-body-import-ok", {"fn/main.py": "class C:\n    from pkg import X" + H,
                                  "fn/pkg/__init__.py": "X = 1\n"}),
    case("version-guard-micro", {"fn/main.py": "from m import X" + H,
                                 "fn/m.py": f"import sys\nif sys.version_info >= "
                                            f"({PY.major}, {PY.minor}, 0):\n    X = 1\n"}),
    case("version-guard-micro-false", {"fn/main.py": "from m import X" + H,
                                       "fn/m.py": f"import sys\nif sys.version_info < "
                                                  f"({PY.major}, {PY.minor}, 0):\n    X = 1\n"}),
    case("namespace-dunders", {"fn/main.py": "from nsp import __path__, __name__, __spec__" + H,
                               "fn/nsp/mod.py": ""}),
    case("namespace-file-is-none", {"fn/main.py": "from nsp import __file__" + H,
                                    "fn/nsp/mod.py": ""}),
    case("namespace-has-no-cached", {"fn/main.py": "from nsp import __cached__" + H,
                                     "fn/nsp/mod.py": ""}),
    case("module-dunders", {"fn/main.py": "from m import __file__, __cached__, __doc__, "
                                          "__builtins__, __annotations__, __dict__" + H,
                            "fn/m.py": ""}),
    case("module-has-no-path", {"fn/main.py": "from m import __path__" + H, "fn/m.py": ""}),
    case("star-package-submodule-attribute", {"fn/main.py": "import pkg.sub\nfrom mid import sub"
                                                            + H,
                                              "fn/mid.py": "from pkg import *\n",
                                              "fn/pkg/__init__.py": "", "fn/pkg/sub.py": ""}),
    case("star-package-imported-submodule", {"fn/main.py": "from mid import a, x" + H,
                                             "fn/mid.py": "from pkg import *\n",
                                             "fn/pkg/__init__.py": "from .a import x\n",
                                             "fn/pkg/a.py": "x = 1\n"}),
    case("star-package-unimported-submodule", {"fn/main.py": "from mid import sub" + H,
                                               "fn/mid.py": "from pkg import *\n",
                                               "fn/pkg/__init__.py": "",
                                               "fn/pkg/sub.py": ""}),
    case("module-beats-namespace-dir", {"fn/main.py": "from x import b" + H,
                                        "fn/x.py": "A = 1\n", "fn/x/b.py": ""}),
    case("package-beats-module", {"fn/main.py": "from x import A" + H,
                                  "fn/x.py": "A = 1\n", "fn/x/__init__.py": ""}),
    case("fn-package-shadows-layer-package", {"fn/main.py": "from shared import util" + H,
                                              "fn/shared/__init__.py": "",
                                              "layer/shared/__init__.py": "",
                                              "layer/shared/util.py": ""}),
    case("nested-namespace-split", {"fn/main.py": "from nsp.sub import x, y" + H,
                                    "fn/nsp/sub/x.py": "", "layer/nsp/sub/y.py": ""}),
    case("hyphen-in-handler-module", {"fn/user-management.py": H},
         handler="user-management.handler"),
    # -- circular imports ------------------------------------------------------------------
    case("circular-partial", {"fn/main.py": "import a" + H,
                              "fn/a.py": "from b import B\nA = 1\n",
                              "fn/b.py": "from a import A\nB = 2\n"}),
    case("circular-bound-before-cycle", {"fn/main.py": "import a" + H,
                                         "fn/a.py": "A = 1\nfrom b import B\n",
                                         "fn/b.py": "from a import A\nB = 2\n"}),
    case("circular-plain-import", {"fn/main.py": "import a" + H,
                                   "fn/a.py": "import b\nA = 1\n",
                                   "fn/b.py": "import a\nB = 2\n"}),
    case("self-import-partial", {"fn/main.py": "from main import X\nX = 1" + H}),
    case("self-import-bound", {"fn/main.py": "X = 1\nfrom main import X" + H}),
    case("circular-star", {"fn/main.py": "import a\nfrom b import LATE" + H,
                           "fn/a.py": "import b\nLATE = 1\n", "fn/b.py": "from a import *\n"}),
    case("circular-star-bound-before", {"fn/main.py": "import a\nfrom b import EARLY" + H,
                                        "fn/a.py": "EARLY = 1\nimport b\n",
                                        "fn/b.py": "from a import *\n"}),
    case("circular-star-all", {"fn/main.py": "import a" + H,
                               "fn/a.py": "__all__ = ['A', 'LATE']\nA = 1\nimport b\nLATE = 2\n",
                               "fn/b.py": "from a import *\n"}),
    case("circular-star-all-bound", {"fn/main.py": "import a\nfrom b import LATE" + H,
                                     "fn/a.py": "__all__ = ['A', 'LATE']\nA = 1\nLATE = 2\n"
                                                "import b\n",
                                     "fn/b.py": "from a import *\n"}),
    case("circular-package-init", {"fn/main.py": "import pkg" + H,
                                   "fn/pkg/__init__.py": "from pkg.mod import f\nVALUE = 1\n",
                                   "fn/pkg/mod.py": "from pkg import VALUE\ndef f(): pass\n"}),
    # -- function-level imports ------------------------------------------------------------
    case("function-level-missing", {
        "fn/main.py": "def handler(event, context):\n    from pkg import Nope\n    return Nope\n",
        "fn/pkg/__init__.py": "X = 1\n"}, call=True),
    case("function-level-ok", {
        "fn/main.py": "def handler(event, context):\n    from pkg import X\n    return X\n",
        "fn/pkg/__init__.py": "X = 1\n"}, call=True),
    case("function-level-in-helper", {
        "fn/main.py": "from helpers import run\ndef handler(event, context):\n    return run()\n",
        "fn/helpers.py": "def run():\n    import missing_zz_lib\n    return 1\n"}, call=True),
    case("function-level-import-of-broken-module", {
        "fn/main.py": "def handler(event, context):\n    import m\n",
        "fn/m.py": "from pkg import Nope\n", "fn/pkg/__init__.py": ""}, call=True),
    case("method-level-import", {
        "fn/main.py": "class Service:\n    def run(self):\n        from pkg import Nope\n"
                      "def handler(event, context):\n    return Service().run()\n",
        "fn/pkg/__init__.py": ""}, call=True),
    # -- the handler function --------------------------------------------------------------
    case("handler-missing", {"fn/main.py": "def other(event, context):\n    pass\n"}),
    case("handler-imported", {"fn/main.py": "from impl import handler\n",
                              "fn/impl.py": H}),
    case("handler-module-missing", {"fn/other.py": H}),
    # -- files that do not compile ---------------------------------------------------------
    case("syntax-error-imported", {"fn/main.py": "import util" + H,
                                   "fn/util.py": "x = 1\n\ndef f(:\n    pass\n"}),
    case("syntax-error-handler-module", {"fn/main.py": "x = (\n" + H}),
    case("syntax-error-function-level", {
        "fn/main.py": "def handler(event, context):\n    import util\n",
        "fn/util.py": "x = = 1\n"}, call=True),
    case("return-outside-function", {"fn/main.py": "import util" + H,
                                     "fn/util.py": "x = 1\nif x:\n    return\n"}),
    case("break-outside-loop", {"fn/main.py": "import util" + H,
                                "fn/util.py": "try:\n    pass\nfinally:\n    break\n"}),
    case("continue-outside-loop", {"fn/main.py": "import util" + H,
                                   "fn/util.py": "with open(__file__):\n    continue\n"}),
    case("break-in-loop", {"fn/main.py": "from util import x" + H,
                           "fn/util.py": "x = 1\nfor i in []:\n    if i:\n        continue\n"
                                         "    break\nelse:\n    pass\nwhile 1:\n    break\n"}),
    case("null-bytes", {"fn/main.py": "import util" + H, "fn/util.py": "x = 1\n\x00\n"}),
    case("nested-parens-200", {"fn/main.py": "import util" + H,
                               "fn/util.py": "x = " + "(" * 200 + "1" + ")" * 200 + "\n"}),
    case("nested-parens-201", {"fn/main.py": "import util" + H,
                               "fn/util.py": "x = " + "(" * 201 + "1" + ")" * 201 + "\n"}),
    case("nested-indentation-101", {
        "fn/main.py": "import util" + H,
        "fn/util.py": "".join("    " * i + "if a:\n" for i in range(101)) + " " * 404 + "pass\n"}),
    case("deep-expression", {"fn/main.py": "import util" + H,
                             "fn/util.py": "x = 1" + "+1" * 50_000 + "\n"}),
    case("non-utf8", {"fn/main.py": "import util" + H, "fn/util.py": b"x = '\xe9'\n"}),
    case("latin1-declared", {"fn/main.py": "from util import x" + H,
                             "fn/util.py": b"# -*- coding: latin-1 -*-\nx = '\xe9'\n"}),
    # -- more combinations ----------------------------------------------------------------
    case("handler-only-on-some-paths", {"fn/main.py": "import os\nif os.environ.get('ZZ_') is None:"
                                                      "\n    def handler(event, context):\n"
                                                      "        pass\n"}, warn=("maybe",)),
    case("handler-in-package-init", {"fn/pkg/__init__.py": H}, handler="pkg.handler"),
    case("star-chain", {"fn/main.py": "from mid import x, y" + H,
                        "fn/mid.py": "from m import *\ny = 1\n",
                        "fn/m.py": "from base import *\n", "fn/base.py": "x = 1\n"}),
    case("attribute-wins-over-submodule", {"fn/main.py": "from pkg import sub" + H,
                                           "fn/pkg/__init__.py": "sub = None\n",
                                           "fn/pkg/sub.py": "raise RuntimeError\n"}),
    case("circular-package-submodule-fallback", {"fn/main.py": "import pkg" + H,
                                                 "fn/pkg/__init__.py": "from .a import f\n",
                                                 "fn/pkg/a.py": "from pkg import b\n"
                                                                "def f(): pass\n",
                                                 "fn/pkg/b.py": ""}),
    case("relative-up-from-handler", {"fn/app/handlers/main.py": "from ..common import util" + H,
                                      "fn/app/common/util.py": ""},
         handler="app/handlers/main.handler"),
    case("layer-module-broken", {"fn/main.py": "from shared import thing" + H,
                                 "layer/shared/__init__.py": "from .x import Nope\nthing = 1\n",
                                 "layer/shared/x.py": ""}),
    case("unused-broken-file", {"fn/main.py": H, "fn/unused.py": "def (:\n",
                                "fn/other.py": "from nowhere_zz import x\n"}),
    case("try-else-failing-import", {"fn/main.py": "try:\n    import json\nexcept ImportError:"
                                                   "\n    pass\nelse:\n    from pkg import Nope"
                                                   + H, "fn/pkg/__init__.py": ""}),
    case("nested-try-caught-by-outer", {"fn/main.py": "try:\n    try:\n        import missing_zz_lib"
                                                      "\n    except ValueError:\n        pass\n"
                                                      "except ImportError:\n    pass" + H}),
    case("main-guard-import", {"fn/main.py": "if __name__ == '__main__':\n"
                                             "    import missing_zz_lib" + H}),
    case("type-checking-function", {"fn/main.py": "from typing import TYPE_CHECKING\n"
                                                  "if TYPE_CHECKING:\n    def f():\n"
                                                  "        import missing_zz_lib" + H}),
    case("function-level-relative-no-parent", {
        "fn/main.py": "def handler(event, context):\n    from . import x\n", "fn/x.py": ""},
        call=True),
    case("future-import", {"fn/main.py": "from __future__ import annotations\n"
                                         "from m import annotations" + H,
                           "fn/m.py": "from __future__ import annotations\n"}),
    # -- third-party modules ---------------------------------------------------------------
    case("missing-third-party", {"fn/main.py": "import json\nimport missing_zz_lib" + H}),
]


# -- the judge -------------------------------------------------------------------------------

LOADER = r"""
import importlib, importlib.machinery, json, os, sys, traceback
tmp, handler, call = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
sys.path[:0] = [os.path.join(tmp, "fn"), os.path.join(tmp, "layer")]
compiling = []
_orig = importlib.machinery.SourceFileLoader.source_to_code
def _source_to_code(self, data, path, *args, **kwargs):
    compiling[:] = [path]
    code = _orig(self, data, path, *args, **kwargs)
    compiling.clear()
    return code
importlib.machinery.SourceFileLoader.source_to_code = _source_to_code

def where(exc):
    # The deepest frame in user code is the statement that raised; when a file failed to
    # compile, the error belongs to that file (its line, if CPython gives one).
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.startswith(tmp + os.sep)]
    # For a failure during a call: the function whose import statement started it.
    calls = []
    for f in frames:
        if f.name == "<module>":
            break
        calls.append(f.name)
    func = calls[-1] if calls else ""
    if compiling:
        return compiling[0], getattr(exc, "lineno", None), func
    if not frames:
        return None, None, ""
    return frames[-1].filename, frames[-1].lineno, func

def report(phase, exc, path=None, line=None, func=""):
    if path is None:
        path, line, func = where(exc)
    return {"ok": False, "phase": phase, "type": type(exc).__name__,
            "syntax": isinstance(exc, SyntaxError), "message": str(exc),
            "path": path, "line": line, "func": func}

modname, _, fname = handler.rpartition(".")
try:
    module = importlib.import_module(modname.replace("/", "."))
except BaseException as exc:
    out = report("init", exc)
else:
    try:
        function = getattr(module, fname)
    except AttributeError as exc:
        out = report("init", exc, module.__file__, None)
        out["type"] = "HandlerNotFound"
        out["message"] = f"Handler '{fname}' missing on module '{modname}'"
    else:
        out = {"ok": True}
        if call:
            try:
                function({}, None)
            except BaseException as exc:
                out = report("call", exc)
print(json.dumps(out))
"""


def write_tree(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def run_cpython(root: Path, handler: str, call: bool) -> dict:
    # No PYTHONPATH (or other PYTHON* settings), and none of the flags the cases test.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "ZZ_", "REVIEWBOT_ZZ"))}
    proc = subprocess.run(
        [sys.executable, "-I", "-B", "-c", LOADER, str(root), handler, "1" if call else "0"],
        cwd=root, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    prefix = str(root) + os.sep
    if not result["ok"]:
        result["message"] = result["message"].replace(prefix, "")
        if result["path"]:
            result["path"] = result["path"].removeprefix(prefix)
    return result


@pytest.fixture(scope="module")
def judged(tmp_path_factory) -> dict[str, dict]:
    """CPython's verdict on every case, run in parallel (one fresh interpreter per case)."""
    base = tmp_path_factory.mktemp("judge")
    jobs = []
    for c in CASES:
        root = base / c.id
        write_tree(root, c.files)
        jobs.append((c.id, root, c.handler, c.call))
    with ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 2) * 2)) as pool:
        results = pool.map(lambda job: (job[0], run_cpython(*job[1:])), jobs)
        return dict(results)


def engine(files: dict[str, str | bytes], handler: str = "main.handler", *,
           runtime: str = RUNTIME, complete: bool = True):
    tree = Tree.from_files(files)
    h = Handler(name="h", handler=handler, root="fn", paths=("layer",), runtime=runtime,
                complete=complete)
    return Analysis(tree, SummaryCache(disk=False)).check(h)


def expected_message(verdict: dict, module_path: str) -> str:
    if verdict["type"] == "HandlerNotFound":
        return verdict["message"]
    if verdict["phase"] == "call":
        return f"{verdict['message']} (raised when {verdict['func']}() runs)"
    if verdict["syntax"]:
        return f"Syntax error in module '{module_path}': {verdict['message']}"
    if verdict["type"] not in ("ImportError", "ModuleNotFoundError"):
        # awslambdaric wraps only ImportError as "Unable to import module"
        return f"{verdict['type']}: {verdict['message']}"
    return f"Unable to import module '{module_path}': {verdict['message']}"


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_engine_agrees_with_cpython(c: Case, judged):
    verdict = judged[c.id]
    result = engine(c.files, c.handler)
    errors = [(f.kind, f.path, f.line, f.message) for f in result.errors]
    warning_kinds = {f.kind for f in result.warnings}
    module_path = c.handler.rpartition(".")[0]

    if verdict["ok"]:
        assert errors == [], f"CPython imports the handler fine, the engine says {errors}"
        assert warning_kinds == c.warn, result.warnings
        return
    assert not c.warn, f"a warning-only case must succeed on CPython: {verdict}"
    assert errors, f"CPython fails ({verdict}), the engine reports no error"
    kind, path, line, message = errors[0]
    if verdict["type"] in ("RecursionError", "MemoryError"):
        # Partly judged: CPython's text differs between parsing and compiling (and a
        # MemoryError has none), so only the verdict, the kind and the file are compared.
        assert (kind, path) == ("syntax-error", verdict["path"])
        return
    assert message == expected_message(verdict, module_path)
    if verdict["path"] is None:  # the handler module itself is not found
        assert (path, line) == (CONFIG_PATH, 0)
    else:
        assert path == verdict["path"]
    if verdict["type"] == "HandlerNotFound":
        assert line == 1  # no statement raises: the engine points at the module's first line
    elif verdict["path"] is not None:
        # A SyntaxError without a line (null bytes) is reported on line 1.
        assert line == (verdict["line"] or 1)


def test_every_rule_has_a_failing_and_a_passing_case(judged):
    """Guard against a judge that never fails (or never succeeds)."""
    outcomes = [v["ok"] for v in judged.values()]
    assert outcomes.count(True) >= 30 and outcomes.count(False) >= 30


# -- expected messages, spelled out (documentation of the formats) ---------------------------

def first_error(files, handler="main.handler", **kw):
    result = engine(files, handler, **kw)
    assert result.errors, result.warnings
    return result.errors[0]


def test_message_missing_name():
    f = first_error({"fn/main.py": "from pkg import X" + H, "fn/pkg/__init__.py": ""})
    assert f.message == ("Unable to import module 'main': cannot import name 'X' from 'pkg' "
                         "(fn/pkg/__init__.py)")
    assert (f.kind, f.path, f.line) == ("missing-name", "fn/main.py", 1)


def test_message_circular():
    f = first_error({"fn/main.py": "import a" + H, "fn/a.py": "from b import B\nA = 1\n",
                     "fn/b.py": "from a import A\nB = 2\n"})
    assert f.kind == "circular-import"
    assert f.message == ("Unable to import module 'main': cannot import name 'A' from partially "
                         "initialized module 'a' (most likely due to a circular import) (fn/a.py)")


def test_message_function_level():
    f = first_error({"fn/main.py": "def handler(e, c):\n    from pkg import Nope\n",
                     "fn/pkg/__init__.py": ""})
    assert f.message == ("cannot import name 'Nope' from 'pkg' (fn/pkg/__init__.py) "
                         "(raised when handler() runs)")
    assert (f.path, f.line) == ("fn/main.py", 2)


def test_message_handler_missing_keeps_slashes():
    f = first_error({"fn/src/handlers/auth.py": "x = 1\n"}, "src/handlers/auth.handler")
    assert f.kind == "missing-handler"
    assert f.message == "Handler 'handler' missing on module 'src/handlers/auth'"


def test_message_syntax_error():
    f = first_error({"fn/main.py": "import util" + H, "fn/util.py": "x = 1\n\ndef f(:\n"})
    assert f.kind == "syntax-error"
    assert f.message == "Syntax error in module 'main': invalid syntax (util.py, line 3)"
    assert (f.path, f.line) == ("fn/util.py", 3)


def test_malformed_and_builtin_handler_names():
    f = first_error({"fn/main.py": H}, "handler")
    assert f.message == "Bad handler 'handler': not enough values to unpack (expected 2, got 1)"
    f = first_error({"fn/sys.py": H}, "sys.handler")
    assert f.message == "Cannot use built-in module sys as a handler module"


# -- cases CPython cannot judge here -------------------------------------------------------

def test_requirements_make_third_party_importable():
    # Not judged: whether PyYAML is installed in the test environment is irrelevant to
    # what the function's build installs on Lambda.
    files = {"fn/main.py": "import yaml\nfrom yaml import safe_load" + H,
             "fn/requirements.txt": "PyYAML==6.0.1\n"}
    result = engine(files)
    assert result.errors == [] and result.warnings == []


def test_third_party_without_requirements_is_an_error():
    result = engine({"fn/main.py": "import yaml" + H})
    assert [(f.kind, f.message) for f in result.errors] == [
        ("missing-module", "Unable to import module 'main': No module named 'yaml'")]


def test_third_party_in_layer_requirements():
    files = {"fn/main.py": "import requests" + H, "layer/requirements.txt": "requests\n"}
    assert engine(files).errors == []


def test_incomplete_handler_downgrades_missing_third_party():
    # A layer that is not in the repository may provide the module.
    result = engine({"fn/main.py": "import requests" + H}, complete=False)
    assert result.errors == []
    assert [f.kind for f in result.warnings] == ["missing-module"]


def test_bundled_sdk_is_importable():
    # Not judged: boto3 ships with the Lambda runtime whether or not it is installed here.
    files = {"fn/main.py": "import boto3\nfrom botocore.exceptions import ClientError\n"
                           "import boto3.dynamodb.conditions" + H}
    result = engine(files)
    assert result.errors == [] and result.warnings == []


@pytest.mark.parametrize("runtime,ok", [("python3.9", False), ("python3.10", True),
                                        ("python3.13", True)])
def test_version_guard_for_other_runtimes(runtime, ok):
    # Not judged: needs interpreters of those versions; sys.version_info tests
    # are evaluated for the function's runtime (reviewbot/summary/runtime.py).
    files = {"fn/main.py": "from m import X" + H,
             "fn/m.py": "import sys\nif sys.version_info >= (3, 10):\n    X = 1\n"}
    assert (engine(files, runtime=runtime).errors == []) is ok


def test_shadowed_stdlib_warns():
    result = engine({"fn/main.py": "import logging" + H, "fn/logging.py": ""})
    assert result.errors == []
    assert [f.kind for f in result.warnings] == ["shadowed-stdlib"]


def test_closure_and_edges_include_ancestors():
    files = {"fn/main.py": "from a.b import c" + H, "fn/a/__init__.py": "",
             "fn/a/b/__init__.py": "", "fn/a/b/c.py": "", "fn/unused.py": ""}
    result = engine(files)
    assert result.errors == []
    assert result.files == {"fn/main.py", "fn/a/__init__.py", "fn/a/b/__init__.py",
                            "fn/a/b/c.py"}
    assert "a" in result.edges["a.b"]
    assert result.chain_to({"fn/a/__init__.py"})[0] == "main"


@pytest.mark.parametrize("handler_body", [
    "    import sys\n    sys.exit(1)\n",
    "    raise RuntimeError('fast is required')\n",
    "    raise\n",
])
def test_handler_that_does_not_swallow_import_error(handler_body):
    # Partly judged elsewhere (`try-except-reraise`): CPython then fails with the SystemExit
    # or the new exception, whose text the engine does not try to reproduce; it reports the
    # ImportError that started it, at the import statement.
    files = {"fn/main.py": "import m" + H,
             "fn/m.py": "try:\n    from pkg import Nope\nexcept ImportError:\n" + handler_body,
             "fn/pkg/__init__.py": ""}
    f = first_error(files)
    assert (f.kind, f.path, f.line) == ("missing-name", "fn/m.py", 2)


def test_caught_failure_is_silent_until_imported_unguarded():
    files = {"fn/main.py": "try:\n    import m\nexcept ImportError:\n    pass\n"
                           "def handler(event, context):\n    import m\n",
             "fn/m.py": "from pkg import Nope\n", "fn/pkg/__init__.py": ""}
    result = engine(files)
    assert [(f.path, f.line, f.message) for f in result.errors] == [
        ("fn/m.py", 1, "cannot import name 'Nope' from 'pkg' (fn/pkg/__init__.py) "
                       "(raised when handler() runs)")]
