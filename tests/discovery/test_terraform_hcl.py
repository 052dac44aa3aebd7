"""HCL expression evaluation: templates and paths."""

from __future__ import annotations

from reviewbot.discovery.terraform import hcl


def test_template_splitting_and_expressions():
    assert hcl.split_template('a${b["x"]}c$${d}') == [
        (False, "a"), (True, 'b["x"]'), (False, "c${d}")]
    assert hcl.repo_path("/__repo__/infra/../src", "infra") == "src"
    assert hcl.repo_path("../src", "infra") == "src"
    assert hcl.repo_path("../../x", "infra") is None
    assert hcl.repo_path("/etc/x", ".") is None


class Names:
    """A namespace without any module model: what the evaluator needs, and no more."""

    def __init__(self, variables, outputs=None):
        self.budget = hcl.Budget()
        self.module_dir = "infra"
        self.root_dir = "infra"
        self.variables = variables
        self.outputs = outputs or {}

    def var(self, name):
        if name not in self.variables:
            raise hcl.Fail(name)
        return self.variables[name]

    def local(self, name):
        raise hcl.Fail(name)

    def output(self, name):
        if name not in self.outputs:
            raise hcl.Fail(name)
        return self.outputs[name]

    def child(self, name, key):
        return Names({}, {"dir": f"{name}-{key}"}) if name == "api" else None

    def archive_attr(self, ref, name):
        return f"build/{ref.address}.zip"


def test_references_are_looked_up_in_the_namespace():
    scope = hcl.Scope(Names({"names": ["b", "a"], "prefix": "fn"}), hcl.Each(key="k"))
    assert scope.eval("${path.module}/src") == "/__repo__/infra/src"
    assert scope.eval('${format("%s-%s", var.prefix, each.key)}') == "fn-k"
    assert scope.eval("${join(\",\", toset(var.names))}") == "b,a"
    assert scope.eval('${module.api["x"].dir}') == "api-x"
    assert scope.eval("${data.archive_file.src.output_path}") == hcl.Ref(
        "archive", scope.names, "data.archive_file.src")
    assert scope.eval("zip ${archive_file.src}") == "zip build/archive_file.src.zip"


def test_what_cannot_be_known_is_unknown():
    scope = hcl.Scope(Names({}))
    for text in ("${var.missing}", "${each.key}", "${module.other.dir}", "${upper(x)}",
                 "${aws_s3_bucket.b.arn}", "%{ if true }x%{ endif }", "${path.module"):
        value = scope.eval(text)
        assert isinstance(value, hcl.Unknown) and value.text == text
