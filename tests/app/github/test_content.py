"""Content at exact SHAs: safe tarball extraction, tree listings, blobs, changed files."""

from __future__ import annotations

import asyncio
import io
import tarfile
import time

import aiohttp
import pytest
import pytest_asyncio

from reviewbot.app.github.client import GitHubClient
from reviewbot.app.github.content import (
    BlobStore,
    ContentError,
    Entry,
    RepoContent,
    changed_files,
    extract_tarball,
    wanted,
)
from reviewbot.tree import blob_id
from tests.app.conftest import FAST

PREFIX = "acme-svc-abc1234/"


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, None


def test_unsafe_entries_are_skipped_with_reasons_and_the_rest_extracted():
    big = b"#" * (10 * 1024 * 1024)
    data = _tar([
        _file(PREFIX + "app/main.py", b"import os\n"),
        _file(PREFIX + "../evil.py", b"x = 1\n"),
        _file("/etc/evil.py", b"x = 1\n"),
        _special(PREFIX + "app/link.py", tarfile.SYMTYPE, "/etc/passwd"),
        _special(PREFIX + "app/hard.py", tarfile.LNKTYPE, PREFIX + "app/main.py"),
        _special(PREFIX + "app/dev.py", tarfile.CHRTYPE),
        _file(PREFIX + "app/huge.py", big),
        _file(PREFIX + "requirements.txt", b"requests\n"),
        _file(PREFIX + "template.yaml", b"Resources: {}\n"),
        _file(PREFIX + "logo.png", b"\x89PNG"),
    ])
    out = extract_tarball(data)
    assert out.files == {"app/main.py": b"import os\n", "requirements.txt": b"requests\n",
                         "template.yaml": b"Resources: {}\n"}
    reasons = dict(out.skipped)
    assert reasons[PREFIX + "../evil.py"] == "path escapes the archive (..)"
    assert reasons["/etc/evil.py"] == "absolute path"
    assert reasons[PREFIX + "app/link.py"] == "link"
    assert reasons[PREFIX + "app/hard.py"] == "link"
    assert reasons[PREFIX + "app/dev.py"] == "not a regular file"
    assert reasons[PREFIX + "app/huge.py"].startswith("larger than")
    assert PREFIX + "logo.png" not in reasons  # not needed: silently left out


def test_total_cap_and_corrupt_archives():
    data = _tar([_file(PREFIX + f"m{i}.py", b"x" * 100) for i in range(10)])
    out = extract_tarball(data, max_total=450)
    assert len(out.files) == 4 and dict(out.skipped)[PREFIX + "m4.py"] == "total size cap reached"
    with pytest.raises(ContentError):
        extract_tarball(b"\x1f\x8b not really gzip")


def test_wanted_files():
    assert all(wanted(p) for p in ("a/b.py", "requirements-dev.txt", "template.yml",
                                   "serverless.yaml", "main.tf", "cdk.json",
                                   ".github/reviewbot.yml", "x.template"))
    assert not any(wanted(p) for p in ("README.md", "logo.png", "a.so", "notes.txt"))


def test_blob_store_is_content_addressed():
    store = BlobStore()
    sha = store.put(b"hello\n")
    assert sha == blob_id(b"hello\n") and store.get(sha) == b"hello\n"
    with pytest.raises(ContentError):
        store.put(b"other", sha)


def test_changed_files_by_blob_id_beyond_3000_files():
    base = {f"f{i}.py": Entry(f"{i:040x}", 1) for i in range(4000)}
    head = {p: Entry(("1" + e.sha[1:]) if int(p[1:-3]) < 3500 else e.sha, 1)
            for p, e in base.items()}
    del head["f3999.py"]
    head["new.py"] = Entry("f" * 40, 1)
    changed = changed_files(base, head)
    assert len(changed) == 3502
    assert changed["new.py"] == "A" and changed["f3999.py"] == "D" and changed["f0.py"] == "M"
    assert "f3600.py" not in changed


@pytest_asyncio.fixture
async def content(standin):
    token = "ghs_" + "c" * 60
    standin.tokens[token] = (1, time.time() + 3600)
    standin.create_repo("acme/svc")
    async with aiohttp.ClientSession() as session:
        gh = GitHubClient(session, base_url=standin.base_url, policy=FAST, oauth_token=token)
        yield lambda **kw: RepoContent(gh, "acme/svc", BlobStore(), **kw)


async def test_truncated_tree_listing_is_walked(standin, content):
    files = {f"pkg{i}/mod{j}.py": f"x = {i * j}\n" for i in range(5) for j in range(6)}
    files["top.py"] = "y = 1\n"
    sha = standin.commit("acme/svc", files, branch="main",
                         symlinks={"pkg0/alias.py": "mod1.py"})
    full = await content().listing(sha)
    assert set(full) == set(files)  # the symlink is left out
    standin.tree_truncate_at = 10
    walked = await content().listing(sha)
    assert walked == full
    assert any(r.query.get("recursive") is None and "/git/trees/" in r.path
               for r in standin.requests)


async def test_cold_store_reads_one_tarball_warm_store_reads_nothing(standin, content):
    files = {f"src/m{i}.py": f"v = {i}\n" for i in range(60)}
    files["README.md"] = "hi"
    sha = standin.commit("acme/svc", files, branch="main")
    repo = content()
    listing = await repo.listing(sha)
    await repo.warm(listing, sha)
    assert repo.tarballs == 1
    loop = asyncio.get_running_loop()
    tree = repo.tree(listing, sha)
    read = await loop.run_in_executor(None, tree.read_many, [f"src/m{i}.py" for i in range(60)])
    assert read["src/m7.py"] == b"v = 7\n"
    assert repo.blob_requests == 0
    # Not in the tarball extraction set: fetched by blob on demand.
    assert await loop.run_in_executor(None, tree.read, "README.md") == b"hi"
    assert repo.blob_requests == 1
    # A second job with the same store needs no tarball at all.
    again = RepoContent(repo.gh, "acme/svc", repo.store)
    await again.warm(listing, sha)
    assert again.tarballs == 0


async def test_few_missing_blobs_are_fetched_individually(standin, content):
    sha = standin.commit("acme/svc", {"a.py": "a = 1\n", "b.py": "b = 2\n"}, branch="main")
    repo = content()
    listing = await repo.listing(sha)
    await repo.warm(listing, sha)
    assert repo.tarballs == 0
    assert await repo.read(listing, ["a.py", "b.py"]) == {"a.py": b"a = 1\n", "b.py": b"b = 2\n"}
    assert repo.blob_requests == 2


async def test_config_and_merge_base(standin, content):
    base = standin.commit("acme/svc", {".github/reviewbot.yml": "discover: true\n"},
                          branch="main")
    head = standin.commit("acme/svc", {"x.py": ""}, parents=[base])
    later = standin.commit("acme/svc", {"y.py": ""}, parents=[base], branch="main")
    repo = content()
    assert await repo.config(base, ".github/reviewbot.yml") == b"discover: true\n"
    assert await repo.config(head, ".github/reviewbot.yml") is None
    assert await repo.merge_base("main", head) == (base, later)


async def test_answers_about_commits_are_kept_across_jobs(standin, content):
    """A push to a PR (a second job on the same base) re-reads nothing about the base."""
    from cachetools import LRUCache

    base = standin.commit("acme/svc", {".github/reviewbot.yml": "discover: true\n",
                                       "a.py": "a = 1\n"}, branch="main")
    head = standin.commit("acme/svc", {"a.py": "a = 2\n"}, parents=[base])
    commits = LRUCache(maxsize=100)
    first = content(commits=commits)
    assert await first.config(base, ".github/reviewbot.yml") == b"discover: true\n"
    assert (await first.merge_base(base, head))[0] == base
    listing = await first.listing(base)
    before = len(standin.requests)
    second = content(commits=commits)
    assert await second.config(base, ".github/reviewbot.yml") == b"discover: true\n"
    assert (await second.merge_base(base, head))[0] == base
    assert await second.listing(base) == listing
    assert len(standin.requests) == before
    # a branch name can move: it is always asked again
    await second.merge_base("main", head)
    assert len(standin.requests) == before + 1
