"""`.github/reviewbot.yml`: valid files parse, every mistake names file, line and key."""

from __future__ import annotations

import pytest

from reviewbot.config import (
    DEFAULT_CHECKLIST,
    Config,
    ConfigError,
    lenient_check_name,
    load_config,
    parse_config,
)


def test_full_config():
    cfg = parse_config(
        "runtime: python3.11\n"
        "handlers:\n"
        "  - name: auth\n"
        "    handler: src/auth.handler\n"
        "    root: ./backend/handlers/auth/\n"
        "    paths: [backend/src, layers/common/python]\n"
        "    environment: {STAGE: dev, RETRIES: 3}\n"
        "  - name: health\n"
        "    handler: main.handler\n"
        "    runtime: python3.13\n"
        "shared: ['backend/src/**']\n"
        "checklist: [Check exports]\n"
        "layers: {'arn:aws:lambda:*:*:layer:utils:*': libs/utils/python}\n"
        "third_party: [internal_sdk]\n"
        "discover: false\n"
        "check_name: imports\n"
        "comment_on_drafts: false\n"
    )
    auth, health = cfg.handlers
    assert auth.name == "auth" and auth.handler == "src/auth.handler"
    assert auth.root == "backend/handlers/auth"
    assert auth.paths == ("backend/src", "layers/common/python")
    assert auth.runtime == "python3.11" and auth.line == 3
    assert auth.environment == (("STAGE", "dev"), ("RETRIES", "3"))
    assert auth.module == "src.auth" and auth.module_path == "src/auth"
    assert health.root == "." and health.runtime == "python3.13"
    assert cfg.shared == ("backend/src/**",)
    assert cfg.checklist == ("Check exports",)
    assert cfg.layers == {"arn:aws:lambda:*:*:layer:utils:*": "libs/utils/python"}
    assert cfg.third_party == ("internal_sdk",)
    assert cfg.discover is False and cfg.check_name == "imports"
    assert cfg.comment_on_drafts is False


def test_empty_file_gives_defaults():
    cfg = parse_config("")
    assert cfg.handlers == () and cfg.discover is True
    assert cfg.checklist == DEFAULT_CHECKLIST


@pytest.mark.parametrize("glob, path, expected", [
    ("backend/src/**", "backend/src/goals_common/__init__.py", True),
    ("backend/src/**", "backend/handlers/auth/main.py", False),
    ("backend/src", "backend/src/x/y.py", True),
    ("**/common/*.py", "a/b/common/x.py", True),
    ("**/common/*.py", "a/b/common/sub/x.py", False),
    ("libs/*/python/**", "libs/utils/python/u.py", True),
])
def test_shared_globs(glob, path, expected):
    assert parse_config(f"shared: ['{glob}']").is_shared(path) is expected


def test_no_shared_globs_means_decide_by_usage():
    assert parse_config("").is_shared("anything.py") is None


@pytest.mark.parametrize("text, message", [
    ("handlers: [", ".github/reviewbot.yml:1: invalid YAML"),
    ("a: 1\nb: [\n", ".github/reviewbot.yml:3: invalid YAML"),
    ("hanlders: []\n", ".github/reviewbot.yml:1: hanlders: unknown key"),
    ("handlers: {}\n", ".github/reviewbot.yml:1: handlers: expected a list of handlers"),
    ("handlers:\n  - name: a\n", ".github/reviewbot.yml:2: handlers[0].handler: missing"),
    ("handlers:\n  - {name: a, handler: main}\n", "handlers[0].handler: 'main' must be"),
    ("handlers:\n  - {name: a, handler: m.h}\n  - {name: a, handler: m.h}\n",
     ".github/reviewbot.yml:3: handlers[1].name: 'a' is used by another handler"),
    ("handlers:\n  - {name: a, handler: m.h, paths: x}\n", "handlers[0].paths: expected a list"),
    ("handlers:\n  - {name: a, handler: m.h, root: ../up}\n",
     "handlers[0].root: '../up' is outside the repository"),
    ("handlers:\n  - {name: [a], handler: m.h}\n", "handlers[0].name: expected a string"),
    ("shared: 3\n", "shared: expected a list of strings"),
    ("discover: maybe\n", "discover: expected a boolean"),
    ("runtime: nodejs18.x\n", "runtime: 'nodejs18.x' is not a Python runtime"),
    ("- just\n- a list\n", ".github/reviewbot.yml:1: top level: expected a mapping"),
    ("shared: [a]\nshared: [b]\n", ".github/reviewbot.yml:2: shared: duplicate key"),
])
def test_errors_name_file_line_and_key(text, message):
    with pytest.raises(ConfigError) as exc:
        parse_config(text)
    assert message in str(exc.value)


def test_bad_bytes():
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        parse_config(b"handlers: \xff\xfe\n")
    with pytest.raises(ConfigError, match="larger than 16777216 bytes"):
        parse_config(b"#" * (16 * 1024 * 1024 + 1))


def test_a_4000_handler_config_loads():
    """The monorepos that most need the check have the biggest files (issue 20: a
    4,000-handler configuration was refused at the old 256 KiB cap)."""
    entries = "".join(
        f"  - name: function-number-{i:05d}\n    handler: app.handler\n"
        f"    root: services/team-{i % 40:02d}/function-{i:05d}\n"
        f"    paths: [libs/python/shared]\n" for i in range(4000))
    raw = f"handlers:\n{entries}".encode()
    assert len(raw) > 256 * 1024
    config = parse_config(raw)
    assert len(config.handlers) == 4000
    assert config.handlers[-1].root == "services/team-39/function-03999"


def test_no_unsafe_yaml():
    with pytest.raises(ConfigError):
        parse_config("handlers: !!python/object/apply:os.system ['true']\n")


def test_one_loader_for_a_file_or_none():
    assert load_config(None) == Config()  # no file: the defaults
    assert load_config(b"discover: false\n").discover is False
    with pytest.raises(ConfigError, match="handlerz: unknown key"):
        load_config(b"handlerz: []\n")


def test_a_broken_file_still_names_its_check():
    assert lenient_check_name(b"check_name: imports\nhandlerz: []\n") == "imports"
    for raw in (None, b"", b"check_name: '  '\n", b"- a\n", b"check_name: [\n"):
        assert lenient_check_name(raw) == Config().check_name
