"""Requirements files: the lines that install distributions and those that name folders."""

from __future__ import annotations

from reviewbot.requirements import RequirementLine, local_target, parse_requirements_file


def test_every_local_form_names_its_folder_and_distributions_keep_their_names():
    text = (
        "requests==2.31.0  # pinned\n"
        "../shared/src/common/\n"
        "./libs/common\n"
        "-e ../editable\n"
        "--editable=../editable2\n"
        "file:../by-url\n"
        "common @ file:../direct\n"
        "pdm-lib @ file:///${PROJECT_ROOT}/../pdm\n"
        "remote @ https://example.com/remote.whl\n"
        "git+https://github.com/o/r.git#egg=fromgit\n"
        "/abs/path/elsewhere\n"
        "-c constraints.txt\n"
        "-r base.txt\n"
        "--index-url https://pypi.org/simple\n"
        "pydantic[email]>=2; python_version >= '3.9' \\\n"
        "    --hash=sha256:abc\n"
        "# a comment\n"
        "boto3\n"
    )
    parsed = parse_requirements_file("fn/requirements.txt", text)
    got = [(r.line, r.dist, r.local, r.editable) for r in parsed.requirements]
    assert got == [
        (1, "requests", None, False),
        (2, None, "../shared/src/common/", False),
        (3, None, "./libs/common", False),
        (4, None, "../editable", True),
        (5, None, "../editable2", True),
        (6, None, "../by-url", False),
        (7, "common", "../direct", False),
        (8, "pdm-lib", "./../pdm", False),
        (9, "remote", None, False),
        (10, "fromgit", None, False),
        (15, "pydantic", None, False),
        (18, "boto3", None, False),
    ]
    assert parsed.includes == ("base.txt",)
    assert all(isinstance(r, RequirementLine) for r in parsed.requirements)


def test_local_target_refuses_what_is_not_a_repository_folder():
    assert local_target("requests") is None
    assert local_target("https://x/y.whl") is None
    assert local_target("/opt/build/common") is None
    assert local_target("file:///home/me/common") is None
    assert local_target("file:.") == "."
    assert local_target("../common#egg=common") == "../common"
