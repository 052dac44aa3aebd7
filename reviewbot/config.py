"""`.github/reviewbot.yml`: reading and strict validation.

The file is read at the base ref, so a pull request cannot relax its own check. Mistakes
are reported with the file, line and key (`.github/reviewbot.yml:4: handlers[0].root: ...`)
instead of being guessed around: a silently ignored typo in a required check is worse
than a failing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

import yaml

from reviewbot.globs import glob_regex
from reviewbot.model import CONFIG_PATH, DEFAULT_RUNTIME, Handler
from reviewbot.tree import normalize

# What people must do. What reviewbot verifies itself (every import of the affected
# handlers resolves, each name imported from a changed shared package included) is a
# separate, already checked line of the comment (checklist.verified_line).
DEFAULT_CHECKLIST = (
    "`reviewbot verify-imports` passed for the affected handlers (each imported in a clean "
    "process)",
    "Deployed to staging first and invoked each affected handler once",
    "Production rollout uses a canary or gradual deployment, with cold-start errors watched",
)

# A bound against abuse, not a size real files meet: 50,000 handler entries fit.
MAX_CONFIG_BYTES = 16 * 1024 * 1024


class ConfigError(Exception):
    """The configuration file is unusable; the message names file, line and key."""


@dataclass(frozen=True)
class LayerSource:
    """What a layer outside the repository provides, as `layers:` says: a list of modules
    and/or a requirements file of the repository (its distributions' modules)."""

    modules: tuple[str, ...] = ()
    requirements: str = ""


@dataclass(frozen=True)
class Config:
    handlers: tuple[Handler, ...] = ()
    shared: tuple[str, ...] = ()
    checklist: tuple[str, ...] = DEFAULT_CHECKLIST
    layers: dict[str, str | LayerSource] = field(default_factory=dict)
    third_party: tuple[str, ...] = ()
    runtime: str = DEFAULT_RUNTIME  # for every handler whose runtime nothing sets
    runtime_set: bool = False  # `runtime` is in the file (else the default is assumed)
    discover: bool = True
    check_name: str = "reviewbot / import check"
    comment_on_drafts: bool = True
    checklist_required: bool = False  # the reviewer checklist gate (a second check run)
    checklist_check_name: str = "reviewbot / reviewer checklist"
    request_owner_reviews: bool = False  # ask the CODEOWNERS of affected handlers to review
    recheck_command: str = "@reviewbot recheck"
    path: str = CONFIG_PATH
    # read a committed cdk.out/ (what `cdk synth` wrote) instead of the CDK app's source
    cdk_out: bool = False

    def is_shared(self, path: str) -> bool | None:
        """True/False when `shared` globs are set; None means: decide by usage."""
        if not self.shared:
            return None
        return any(glob_regex(g).fullmatch(path) for g in self.shared)


def config_to_plain(config: Config) -> tuple:
    """A marshal-friendly form (builtin containers only) for the disk cache."""
    values = [getattr(config, f.name) for f in fields(Config)]
    values[0] = tuple(tuple(getattr(h, f.name) for f in fields(Handler)) for h in values[0])
    return tuple(values)


def config_from_plain(data: tuple) -> Config:
    """The inverse of `config_to_plain`; TypeError or ValueError for any other shape."""
    names = [f.name for f in fields(Config)]
    if not isinstance(data, tuple) or len(data) != len(names):
        raise ValueError("not a plain config")
    values = dict(zip(names, data, strict=True))
    values["handlers"] = tuple(Handler(*h) for h in values["handlers"])
    return Config(**values)


_HANDLER_KEYS = {"name", "handler", "root", "paths", "runtime", "environment"}
_TOP_KEYS = {"handlers", "shared", "checklist", "layers", "third_party", "runtime", "discover",
             "check_name", "comment_on_drafts", "checklist_required", "checklist_check_name",
             "request_owner_reviews", "recheck_command", "cdk_out"}


def _where(path: str, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _scalar(path: str, key: str, node: yaml.Node, kind: type = str):
    if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
        raise ConfigError(f"{_where(path, node)}: {key}: expected a {_kind_name(kind)}")
    if node.tag == "tag:yaml.org,2002:str":
        value = node.value
    else:
        value = yaml.SafeLoader("").construct_object(node, deep=True)
    if kind is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{_where(path, node)}: {key}: expected a string")
        return str(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{_where(path, node)}: {key}: expected a {_kind_name(kind)}, got "
                          f"{value!r}")
    return value


def _kind_name(kind: type) -> str:
    return {str: "string", bool: "boolean (true or false)"}.get(kind, kind.__name__)


def _strings(path: str, key: str, node: yaml.Node) -> tuple[str, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"{_where(path, node)}: {key}: expected a list of strings")
    return tuple(_scalar(path, f"{key}[{i}]", item) for i, item in enumerate(node.value))


def _mapping(path: str, key: str, node: yaml.Node) -> list[tuple[str, yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{_where(path, node)}: {key or 'top level'}: expected a mapping")
    out = []
    seen = set()
    for knode, vnode in node.value:
        name = _scalar(path, key or "key", knode)
        if name in seen:
            raise ConfigError(f"{_where(path, knode)}: {key + '.' if key else ''}{name}: "
                              f"duplicate key")
        seen.add(name)
        out.append((name, knode, vnode))
    return out


def _folder(path: str, key: str, node: yaml.Node) -> str:
    value = _scalar(path, key, node)
    norm = normalize(value)
    if norm.startswith("../") or norm == "..":
        raise ConfigError(f"{_where(path, node)}: {key}: '{value}' is outside the repository")
    return norm


def _layer_source(path: str, key: str, node: yaml.Node) -> str | LayerSource:
    """A layer's folder (a string), or `{modules: [...], requirements: file}`."""
    if not isinstance(node, yaml.MappingNode):
        return _folder(path, key, node)
    values: dict = {}
    for name, knode, vnode in _mapping(path, key, node):
        if name == "modules":
            values["modules"] = _strings(path, f"{key}.modules", vnode)
        elif name == "requirements":
            values["requirements"] = _folder(path, f"{key}.requirements", vnode)
        elif name == "folder":
            return _folder(path, f"{key}.folder", vnode)
        else:
            raise ConfigError(f"{_where(path, knode)}: {key}.{name}: unknown key (expected "
                              f"folder, modules or requirements)")
    if not values:
        raise ConfigError(f"{_where(path, node)}: {key}: expected folder, modules or requirements")
    return LayerSource(**values)


def parse_config(text: bytes | str, path: str = CONFIG_PATH) -> Config:
    """Parse and validate the configuration file's text."""
    root = _compose(text, path)
    if root is None:
        return Config(path=path)
    values: dict = {}
    runtime_node = None
    for key, knode, vnode in _mapping(path, "", root):
        if key not in _TOP_KEYS:
            raise ConfigError(f"{_where(path, knode)}: {key}: unknown key (expected one of: "
                              f"{', '.join(sorted(_TOP_KEYS))})")
        if vnode.tag == "tag:yaml.org,2002:null":
            continue
        values[key] = _top_value(path, key, vnode)
        if key == "runtime":
            runtime_node = vnode
    runtime = values.get("runtime", DEFAULT_RUNTIME)
    if runtime_node is not None and not re.fullmatch(r"python3\.\d+", runtime):
        raise ConfigError(f"{_where(path, runtime_node)}: runtime: '{runtime}' is not a "
                          f"Python runtime (for example python3.12)")
    handlers_node = values.pop("handlers", None)
    handlers = _handlers(path, handlers_node, runtime, "runtime" in values) \
        if handlers_node is not None else ()
    return Config(handlers=handlers, path=path, runtime_set="runtime" in values, **values)


def _compose(text: bytes | str, path: str) -> yaml.Node | None:
    """The file's YAML node tree (None when empty); ConfigError when it is too large, not
    UTF-8 or not YAML."""
    if isinstance(text, bytes):
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: file is larger than {MAX_CONFIG_BYTES} bytes "
                              f"({len(text)} bytes)")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not valid UTF-8 ({exc})") from None
    try:
        try:
            return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:  # libyaml is fast; the Python parser words errors better
            return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None


def _top_value(path: str, key: str, node: yaml.Node):
    """The value of a top-level key; `handlers` stays a node until the runtime is known."""
    if key in ("shared", "checklist", "third_party"):
        return _strings(path, key, node)
    if key in ("discover", "comment_on_drafts", "checklist_required", "request_owner_reviews",
               "cdk_out"):
        return _scalar(path, key, node, bool)
    if key == "layers":
        return {name: _layer_source(path, f"layers.{name}", v)
                for name, _, v in _mapping(path, key, node)}
    if key == "handlers":
        return node
    value = _scalar(path, key, node)  # runtime, check_name, recheck_command, ..._check_name
    if key == "recheck_command" and not value.strip():
        raise ConfigError(f"{_where(path, node)}: recheck_command: must not be empty")
    return value


def load_config(raw: bytes | str | None, path: str = CONFIG_PATH) -> Config:
    """The configuration from the file's content at the base; None (no file) is the
    defaults. ConfigError when the file is unusable. The one loader of the CLI and the app."""
    return Config() if raw is None else parse_config(raw, path)


def lenient_check_name(raw: bytes | str | None) -> str:
    """The check name from a config that failed validation, when it can still be read, so
    the failing run lands on the name branch protection requires."""
    default = Config.check_name
    try:
        data = yaml.safe_load(raw or b"")
        name = data.get("check_name") if isinstance(data, dict) else None
        return name if isinstance(name, str) and name.strip() else default
    except Exception:
        return default


def _handlers(path: str, node: yaml.Node, runtime: str,
              runtime_set: bool) -> tuple[Handler, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"{_where(path, node)}: handlers: expected a list of handlers")
    out: list[Handler] = []
    names: set[str] = set()
    for i, item in enumerate(node.value):
        key = f"handlers[{i}]"
        fields: dict = {}
        for name, knode, vnode in _mapping(path, key, item):
            if name not in _HANDLER_KEYS:
                raise ConfigError(f"{_where(path, knode)}: {key}.{name}: unknown key (expected "
                                  f"one of: {', '.join(sorted(_HANDLER_KEYS))})")
            if name == "paths":
                fields[name] = tuple(_folder(path, f"{key}.paths[{j}]", p)
                                     for j, p in enumerate(_list(path, f"{key}.paths", vnode)))
            elif name == "root":
                fields[name] = _folder(path, f"{key}.root", vnode)
            elif name == "environment":
                fields[name] = tuple((k, _scalar(path, f"{key}.environment.{k}", v))
                                     for k, _, v in _mapping(path, f"{key}.environment", vnode))
            else:
                fields[name] = _scalar(path, f"{key}.{name}", vnode)
        for required in ("name", "handler"):
            if required not in fields:
                raise ConfigError(f"{_where(path, item)}: {key}.{required}: missing")
        if "." not in fields["handler"]:
            raise ConfigError(f"{_where(path, item)}: {key}.handler: '{fields['handler']}' must "
                              f"be module.function (for example main.handler)")
        if fields["name"] in names:
            raise ConfigError(f"{_where(path, item)}: {key}.name: '{fields['name']}' is used by "
                              f"another handler")
        names.add(fields["name"])
        if "runtime" not in fields:
            fields["runtime"] = runtime
            fields["runtime_default"] = not runtime_set
        out.append(Handler(source=path, line=item.start_mark.line + 1, **fields))
    return tuple(out)


def _list(path: str, key: str, node: yaml.Node) -> list[yaml.Node]:
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"{_where(path, node)}: {key}: expected a list")
    return node.value
