"""A webhook body decoded into typed shapes of exactly the fields reviewbot reads.

msgspec checks the whole body is JSON, skips every other field in C and builds Python
values for these alone. Types are strict: ids are integers that fit in 64 bits, numbers
are positive integers (`1.5`, `true` and `"3"` are not PR #1), strings are bounded, and a
body nested too deeply is refused. Anything else is a `BadPayload` with msgspec's reason
(the field's JSON path), answered 400 before anything is stored or queued.

Fields a payload may omit default to UNSET, which `decode` leaves out of the dict it
returns, so routing sees exactly the keys the sender sent.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

Id64 = Annotated[int, Meta(ge=1, le=2**63 - 1)]  # GitHub ids
Number = Annotated[int, Meta(ge=1, le=2**31 - 1)]  # pull request and issue numbers
Sha = Annotated[str, Meta(max_length=64)]
Name = Annotated[str, Meta(max_length=1024)]  # refs, logins, repository names, actions
Text = Annotated[str, Meta(max_length=1 << 20)]  # comment bodies (GitHub caps at 65,536)


class Shape(Struct, omit_defaults=True):
    """Unknown fields are skipped; absent ones stay UNSET."""


class Id(Shape):
    id: Id64 | UnsetType = UNSET


class Url(Shape):
    url: Name | UnsetType | None = UNSET


class Ref(Shape):
    ref: Name | UnsetType = UNSET
    sha: Sha | UnsetType = UNSET
    repo: Url | UnsetType | None = UNSET


class PullRequest(Shape):
    number: Number | UnsetType = UNSET
    head: Ref | UnsetType = UNSET
    base: Ref | UnsetType = UNSET


class Check(Shape):  # check_run and check_suite
    app: Id | UnsetType | None = UNSET
    head_sha: Sha | UnsetType = UNSET
    external_id: Name | UnsetType | None = UNSET
    pull_requests: list[PullRequest] | UnsetType | None = UNSET


class RequestedAction(Shape):
    identifier: Name | UnsetType | None = UNSET


class User(Shape):
    login: Name | UnsetType = UNSET
    type: Name | UnsetType = UNSET


class Comment(Shape):
    id: Id64 | UnsetType = UNSET
    body: Text | UnsetType | None = UNSET
    user: User | UnsetType | None = UNSET


class Issue(Shape):
    number: Number | UnsetType = UNSET
    state: Name | UnsetType = UNSET
    pull_request: dict[str, Any] | UnsetType | None = UNSET


class MergeGroup(Shape):
    head_sha: Sha | UnsetType = UNSET
    base_sha: Sha | UnsetType = UNSET
    base_ref: Name | UnsetType = UNSET


class Repository(Shape):
    full_name: Name | UnsetType = UNSET


class BodyFrom(Shape):
    from_: Text | UnsetType = msgspec.field(default=UNSET, name="from")


class Changes(Shape):
    body: BodyFrom | UnsetType = UNSET
    base: dict[str, Any] | UnsetType = UNSET


class Payload(Shape):
    action: Name | UnsetType = UNSET
    installation: Id | UnsetType | None = UNSET
    repository: Repository | UnsetType | None = UNSET
    changes: Changes | UnsetType = UNSET
    pull_request: PullRequest | UnsetType | None = UNSET
    check_run: Check | UnsetType | None = UNSET
    check_suite: Check | UnsetType | None = UNSET
    requested_action: RequestedAction | UnsetType | None = UNSET
    issue: Issue | UnsetType | None = UNSET
    comment: Comment | UnsetType | None = UNSET
    sender: User | UnsetType | None = UNSET
    merge_group: MergeGroup | UnsetType | None = UNSET


class BadPayload(ValueError):
    """The body is not JSON, or not of the shape reviewbot reads; the reason says where."""


_decode = msgspec.json.Decoder(Payload).decode


def decode(body: bytes) -> dict[str, Any]:
    """The fields reviewbot reads, as a dict of plain values (absent fields left out)."""
    try:
        payload = _decode(body)
    except msgspec.ValidationError as exc:
        raise BadPayload(f"invalid payload: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadPayload(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise BadPayload("body is nested too deeply") from None
    return msgspec.to_builtins(payload)
