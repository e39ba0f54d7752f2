"""Access checks and the IAM policies a datasource needs.

``check_access`` probes exactly what the purpose needs, as Lightly's datasource verification
does: list the prefix and read one object (every purpose); write, overwrite and delete a probe
object under ``<prefix>.lightly/`` (output purposes). Each permission is reported ok or failed
with the AWS error code and a hint. ``iam_policy`` and ``trust_policy`` give the JSON a bucket
owner applies so the check passes.
"""

from __future__ import annotations

import json
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bps_core.errors import BpsError
from bps_core.storage.base import DataSource, DatasourceConfig, WritableSource

_PROBE_DIR = ".lightly"
PERMISSIONS = ("list", "read", "write", "overwrite", "delete")
_LIGHTLY_NAMES = {
    "list": "canList", "read": "canRead", "write": "canWrite", "overwrite": "canOverwrite",
    "delete": "canDelete",
}  # fmt: skip


@dataclass(frozen=True)
class PermissionCheck:
    """One probed permission and its outcome.

    ``ok`` is None when it was not tried (and ``message`` says why). A failed check's
    ``kind`` says what went wrong (see ``bps_core.storage.s3.errors.ERROR_KINDS``; "config"
    when the datasource could not even be opened).
    """

    permission: str
    ok: bool | None
    code: str = ""
    message: str = ""
    kind: str = ""


_HEADLINES = {
    "unreachable": "The endpoint cannot be reached, so no permission could be checked.",
    "no_such_bucket": "The bucket does not exist at this endpoint: check the bucket name "
    "(and the endpoint).",
    "wrong_region": "The bucket is in another region: set the region the cause names.",
    "denied": "Access denied: the credentials lack a permission. Apply the IAM policy below "
    "to the role or user.",
    "credentials": "The credentials were not accepted: check the access key, profile or role.",
    "config": "The datasource cannot be opened with these settings.",
    "other": "The check failed.",
}


#: The read check's message when the location lists no object (nothing to read from).
EMPTY_PREFIX = "not tried: the prefix holds no objects"


@dataclass(frozen=True)
class AccessReport:
    """The outcome of ``check_access``: one check per permission probed, in ``PERMISSIONS`` order.

    Attributes:
        config: The datasource that was checked.
        checks: Each permission's result, failed or untried ones included.
    """

    config: DatasourceConfig
    checks: tuple[PermissionCheck, ...]

    @property
    def ok(self) -> bool:
        """True when every check passed (an untried one counts as not passed)."""
        return all(c.ok for c in self.checks)

    @property
    def failure(self) -> PermissionCheck | None:
        """The first failed check: the one that names the cause."""
        return next((c for c in self.checks if c.ok is False), None)

    @property
    def usable(self) -> bool:
        """Whether the source can be used: listing works and no probe failed.

        An empty prefix leaves reading untried, which still counts as usable.
        """
        return self.failure is None and bool(self.check("list").ok)

    @property
    def empty(self) -> bool:
        """Whether the location lists no object at all (usable, but with nothing to read)."""
        return any(c.permission == "read" and c.message == EMPTY_PREFIX for c in self.checks)

    @property
    def kind(self) -> str:
        """``ok``, or the kind of the first failure.

        The kinds are ``unreachable``, ``no_such_bucket``, ``wrong_region``, ``denied``,
        ``credentials``, ``config`` or ``other``.
        """
        failure = self.failure
        return "ok" if failure is None else failure.kind or "other"

    def headline(self) -> str:
        """One line on the outcome; the failed check's message holds the full cause."""
        if self.ok:
            return f"All {len(self.checks)} permissions work for {self.config.uri}"
        if self.failure is None:
            n = sum(bool(c.ok) for c in self.checks)
            return (f"{n} of {len(self.checks)} permissions work for {self.config.uri}; the "
                    "others were not tried (see the table)")  # fmt: skip
        return _HEADLINES.get(self.kind, _HEADLINES["other"])

    def check(self, permission: str) -> PermissionCheck:
        """The check of one permission (one of ``PERMISSIONS``).

        Raises:
            StopIteration: No check of that permission is in the report (an input datasource
                has no write checks).
        """
        return next(c for c in self.checks if c.permission == permission)

    def as_lightly(self) -> dict[str, Any]:
        """The verification result in Lightly's shape (``canRead``, ``errors`` ...)."""
        out: dict[str, Any] = {_LIGHTLY_NAMES[c.permission]: bool(c.ok) for c in self.checks}
        out["errors"] = {
            _LIGHTLY_NAMES[c.permission]: c.message for c in self.checks if not c.ok and c.message
        }
        return out

    def rows(self) -> list[dict[str, str]]:
        """One row per permission, for a table."""
        state = {True: "ok", False: "failed", None: "not tried"}
        return [
            {"permission": c.permission, "result": state[c.ok], "code": c.code, "detail": c.message}
            for c in self.checks
        ]


def _probe(fn: Callable[[], object], permission: str) -> PermissionCheck:
    try:
        fn()
    except BpsError as exc:
        code = str(getattr(exc, "code", "") or type(exc).__name__)
        return PermissionCheck(permission, False, code, str(exc), _kind(exc))
    return PermissionCheck(permission, True)


def _kind(exc: BpsError) -> str:
    return str(getattr(exc, "kind", "") or "other")


def check_access(
    config: DatasourceConfig,
    *,
    env: Mapping[str, str] | None = None,
    source: DataSource | None = None,
) -> AccessReport:
    """Probes the permissions ``config.purpose`` needs and reports each one.

    A datasource that cannot be opened (invalid settings, caught before any network call)
    becomes a failed ``list`` check of kind ``config``; every network failure becomes a failed
    check, and an unreachable endpoint stops further probes. The write probes write, overwrite
    and delete one object under ``<prefix>.lightly/``.

    Args:
        config: The datasource to check.
        env: Environment for credentials (default: the process environment).
        source: An already opened source to probe instead of opening ``config``.

    Returns:
        The report: list and read for every purpose, plus write, overwrite and delete for
        output purposes.
    """
    from bps_core.storage import open_source, open_writable

    try:
        src = source or (
            open_writable(config, env) if config.can_write else open_source(config, env=env)
        )
    except BpsError as exc:
        kind = _kind(exc) if hasattr(exc, "kind") else "config"
        fail = PermissionCheck("list", False, getattr(exc, "code", "") or "Config", str(exc), kind)
        rest = [PermissionCheck(p, None, "", "not tried: the datasource cannot be opened")
                for p in PERMISSIONS[1 : 5 if config.can_write else 2]]  # fmt: skip
        return AccessReport(config, (fail, *rest))
    checks: list[PermissionCheck] = []

    first: list[str] = []

    def do_list() -> None:
        for item in src.list():
            first.append(item.key)
            break

    listed = _probe(do_list, "list")
    checks.append(listed)
    # An endpoint that cannot be reached fails every probe the same way: try nothing more.
    unreachable = listed.kind == "unreachable"
    writes = _probe_writes(src) if config.can_write and not unreachable else []  # type: ignore[arg-type]
    if not listed.ok:
        checks.append(PermissionCheck("read", None, "", "not tried: listing failed"))
        if unreachable and config.can_write:
            checks.extend(PermissionCheck(p, None, "", "not tried: the endpoint cannot be "
                                          "reached") for p in PERMISSIONS[2:])  # fmt: skip
    elif first:
        read = _probe(lambda: src.read_bytes(first[0], 1), "read")
        checks.append(replace(read, message=read.message or f"read {first[0]}"))
    elif writes and writes[0].read is not None:  # an empty output: the probe object was read
        checks.append(writes[0].read)
    else:
        checks.append(PermissionCheck("read", None, "", EMPTY_PREFIX))
    checks.extend(w.check for w in writes)
    return AccessReport(config, tuple(checks))


@dataclass(frozen=True)
class _WriteProbe:
    check: PermissionCheck
    read: PermissionCheck | None = None


def _probe_writes(dest: WritableSource) -> list[_WriteProbe]:
    """Write, overwrite (verified by reading back) and delete one probe object."""
    key = f"{_PROBE_DIR}/.bps-labeler-access-check-{uuid.uuid4().hex}.txt"
    write = _probe(lambda: dest.write_bytes(key, b"probe 1", "text/plain"), "write")
    if not write.ok:
        return [
            _WriteProbe(write),
            _WriteProbe(PermissionCheck("overwrite", None, "", "not tried: write failed")),
            _WriteProbe(PermissionCheck("delete", None, "", "not tried: write failed")),
        ]
    read = _probe(lambda: dest.read_bytes(key), "read")
    read = replace(read, message=read.message or f"read back {key}")
    out = [_WriteProbe(PermissionCheck("write", True, "", f"wrote {key}"), read)]

    def overwrite() -> None:
        dest.write_bytes(key, b"probe 2", "text/plain")
        if dest.read_bytes(key) != b"probe 2":
            raise BpsError("the object still holds its old content after an overwrite")

    out.append(_WriteProbe(_probe(overwrite, "overwrite")))

    def delete() -> None:
        dest.delete(key)
        if dest.head(key) is not None:
            raise BpsError("the object still exists after DeleteObject")

    deleted = _probe(delete, "delete")
    out.append(_WriteProbe(replace(deleted, message=deleted.message or "removed the probe object")))
    return out


def _partition(config: DatasourceConfig) -> str:
    if config.role_arn.startswith("arn:aws-cn:"):
        return "aws-cn"
    if config.role_arn.startswith("arn:aws-us-gov:"):
        return "aws-us-gov"
    return "aws"


def iam_policy(config: DatasourceConfig) -> dict[str, Any]:
    """The least-privilege IAM policy for this bucket, prefix and purpose."""
    arn = f"arn:{_partition(config)}:s3:::{config.bucket}"
    objects = f"{arn}/{config.prefix}*"
    actions = ["s3:GetObject"]
    if config.can_write:
        actions += ["s3:PutObject", "s3:DeleteObject"]
    list_stmt: dict[str, Any] = {
        "Sid": "ListThePrefix",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [arn],
    }
    if config.prefix:
        list_stmt["Condition"] = {"StringLike": {"s3:prefix": [f"{config.prefix}*"]}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            list_stmt,
            {"Sid": "ObjectAccess", "Effect": "Allow", "Action": actions, "Resource": [objects]},
        ],
    }


def trust_policy(
    config: DatasourceConfig, principal: str = "arn:aws:iam::<ACCOUNT-ID-RUNNING-THE-APP>:root"
) -> dict[str, Any]:
    """The role's trust policy: the app's account may assume it only with the external ID."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"sts:ExternalId": config.external_id or "<EXTERNAL-ID>"}
                },
            }
        ],
    }


def policy_json(policy: dict[str, Any]) -> str:
    """A policy as indented JSON, ready to paste into the AWS console."""
    return json.dumps(policy, indent=2)


_EXTERNAL_ID_ALPHABET = string.ascii_letters + string.digits


def generate_external_id(length: int = 32) -> str:
    """A random external ID (letters and digits) for a role's trust policy."""
    if not 10 <= length <= 1224:
        raise ValueError("an external ID has 10-1224 characters")
    return "".join(secrets.choice(_EXTERNAL_ID_ALPHABET) for _ in range(length))
