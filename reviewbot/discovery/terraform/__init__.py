"""Terraform configurations, read with python-hcl2 8.x (reference section 7).

Three layers, each importing only the ones before it:

- `hcl`: expression evaluation (scopes, references, functions, templates), which looks
  references up through the `hcl.Namespace` interface only;
- `modules`: the module model (modules, variables, locals, module calls, sources) and the
  module instances that implement `Namespace`;
- `lambdas`: Lambda discovery (`aws_lambda_function`, layers, the terraform-aws-modules/lambda
  module), producing `Handler`s.
"""

from reviewbot.discovery.terraform.lambdas import discover

__all__ = ["discover"]
