"""Datasource fields are checked before any network call, with messages that say what to fix."""

from __future__ import annotations

import string
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bps_core.errors import DatasourceError
from bps_core.storage import DatasourceConfig, open_writable
from bps_core.storage import validation as v
from bps_core.storage.access import check_access, iam_policy
from bps_core.storage.s3 import clear_clients
from tests.s3_server import REGION, S3Server

GOOD_BUCKETS = ["nasa-bps-training-data", "abc", "my.bucket.1", "a" * 63, "0-0"]
BAD_BUCKETS = {
    "": "empty",
    "ab": "3-63",
    "a" * 64: "3-63",
    "My-Bucket": "lower-case",
    "under_score": "lower-case",
    "-start": "lower-case",
    "end-": "lower-case",
    "a..b": "'..'",
    "a.-b": "'..'",
    "192.168.1.1": "IP address",
    "xn--bucket": "reserves",
    "bucket-s3alias": "reserves",
    "s3://bucket": "without s3://",
}


@pytest.mark.parametrize("name", GOOD_BUCKETS)
def test_bucket__valid_names_pass(name: str) -> None:
    assert v.check_bucket(name) == name


@pytest.mark.parametrize(("name", "why"), BAD_BUCKETS.items())
def test_bucket__invalid_names_say_why(name: str, why: str) -> None:
    with pytest.raises(DatasourceError, match=why):
        v.check_bucket(name)


@pytest.mark.parametrize(
    ("prefix", "normal"),
    [("", ""), ("/", ""), ("Microscopy/train", "Microscopy/train/"), ("a/b/", "a/b/")],
)
def test_prefix__normalised(prefix: str, normal: str) -> None:
    assert v.check_prefix(prefix) == normal


@pytest.mark.parametrize("prefix", ["/abs/x", "a/../b", "a//b", "./a", "a\\b", "a\x00b", "a\nb"])
def test_prefix__refused(prefix: str) -> None:
    with pytest.raises(DatasourceError, match="prefix"):
        v.check_prefix(prefix)


@pytest.mark.parametrize(
    "arn",
    ["arn:aws:iam::123456789012:role/Labeler-S3", "arn:aws:iam::123456789012:role/path/to/R_1",
     "arn:aws-cn:iam::123456789012:role/x"],
)  # fmt: skip
def test_role_arn__valid(arn: str) -> None:
    assert v.check_role_arn(arn) == arn


@pytest.mark.parametrize(
    "arn",
    ["arn:aws:iam::12345678901:role/x", "arn:aws:iam::123456789012:user/x", "role/x",
     "arn:aws:s3:::bucket", "arn:aws:iam::123456789012:role/",
     "arn:aws:iam::123456789012:role/a b"],
)  # fmt: skip
def test_role_arn__invalid(arn: str) -> None:
    with pytest.raises(DatasourceError, match="12-digit account"):
        v.check_role_arn(arn)


@pytest.mark.parametrize("ext", ["short", "has space in it", "x" * 1225, "semi;colon-123"])
def test_external_id__invalid(ext: str) -> None:
    with pytest.raises(DatasourceError, match="10-1224 characters"):
        v.check_external_id(ext)


@pytest.mark.parametrize("url", ["https://s3.example.org", "https://minio.lab.example:9000/"])
def test_endpoint__valid(url: str) -> None:
    assert v.check_endpoint_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000", "https://[::1]:9000/", "http://localhost:9000",
     "http://192.168.1.20:9000", "http://10.0.0.5", "http://[fd12::5]:9000"],
)  # fmt: skip
def test_endpoint__private_and_loopback_only_when_the_user_opts_in(url: str) -> None:
    with pytest.raises(DatasourceError, match="private or loopback.*allow_private_endpoint"):
        v.check_endpoint_url(url)
    assert v.check_endpoint_url(url, allow_private=True) == url.rstrip("/")
    with pytest.raises(DatasourceError, match="private or loopback"):
        DatasourceConfig.s3("s3://bucket-a/x", endpoint_url=url)
    cfg = DatasourceConfig.s3("s3://bucket-a/x", endpoint_url=url, allow_private_endpoint=True)
    assert cfg.endpoint_url.rstrip("/") == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    ["http://100.100.100.200/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b::169.254.169.254]/",
     "http://[2002:a9fe:a9fe::1]/", "http://169.254.169.254.nip.io/",
     "http://169-254-169-254.sslip.io:80", "http://app.169.254.169.254.nip.io"],
)  # fmt: skip
def test_endpoint__metadata_addresses_in_every_spelling_are_refused_even_with_private_allowed(
    url: str,
) -> None:
    with pytest.raises(DatasourceError, match="link-local or cloud-metadata"):
        v.check_endpoint_url(url, allow_private=True)


def test_endpoint__private_addresses_in_nip_io_names_need_the_opt_in() -> None:
    with pytest.raises(DatasourceError, match="private or loopback"):
        v.check_endpoint_url("http://10.0.0.1.nip.io:9000")
    assert v.check_endpoint_url("http://10.0.0.1.nip.io:9000", allow_private=True)
    assert v.check_endpoint_url("https://s3.v4.example.org")  # a version label is no address


@pytest.mark.parametrize(
    "url",
    ["https://admin:hunter2-SECRET@s3.example.org", "https://admin:hunter2-SECRET@169.254.169.254",
     "http://s3.example.org/?X-Amz-Credential=hunter2-SECRET", "http://h/#hunter2-SECRET",
     "ftp://u:hunter2-SECRET@h", "https://u:hunter2-SECRET@h:99999"],
)  # fmt: skip
def test_endpoint__refusal_never_echoes_userinfo_or_query(url: str) -> None:
    with pytest.raises(DatasourceError) as err:
        v.check_endpoint_url(url)
    assert "hunter2" not in str(err.value)
    assert "admin" not in str(err.value)
    with pytest.raises(DatasourceError) as err:
        DatasourceConfig.s3("s3://bucket-a/x", endpoint_url=url)
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://host", "https://"),
        ("https://", "no host"),
        ("https://user:pw@host", "user names or passwords"),
        ("https://host/?x=1", "query"),
        ("https://host:0", "port 0"),
        ("https://ho st", "spaces"),
        ("http://169.254.169.254", "link-local"),
        ("http://169.254.170.2/", "link-local"),
        ("http://2852039166/", "link-local"),  # 169.254.169.254 as one number
        ("http://0xa9fea9fe/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fd00:ec2::254]/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://metadata.google.internal/", "metadata"),
        ("http://0.0.0.0:9000", "not a unicast"),
    ],
)
def test_endpoint__refused_with_reason(url: str, why: str) -> None:
    with pytest.raises(DatasourceError, match=why):
        v.check_endpoint_url(url)


def test_endpoint__link_local_only_when_explicitly_allowed() -> None:
    assert v.check_endpoint_url("http://169.254.10.1:9000", allow_link_local=True)
    cfg = DatasourceConfig.s3(
        "s3://bucket-a/x", endpoint_url="http://169.254.10.1:9000", allow_link_local_endpoint=True
    )
    assert cfg.endpoint_url == "http://169.254.10.1:9000"


def test_config__validation_covers_auth_modes_and_names_the_field() -> None:
    with pytest.raises(DatasourceError, match="auth 'magic'"):
        DatasourceConfig.s3("s3://bucket-a/x", auth="magic")
    with pytest.raises(DatasourceError, match="role ARN"):
        DatasourceConfig.s3("s3://bucket-a/x", auth="assume-role", external_id="e" * 12)
    with pytest.raises(DatasourceError, match="external ID"):
        DatasourceConfig.s3(
            "s3://bucket-a/x", auth="assume-role", role_arn="arn:aws:iam::123456789012:role/R"
        )
    with pytest.raises(DatasourceError, match="only used with auth 'assume-role'"):
        DatasourceConfig.s3("s3://bucket-a/x", role_arn="arn:aws:iam::123456789012:role/R")
    with pytest.raises(DatasourceError, match="session duration"):
        DatasourceConfig.s3(
            "s3://bucket-a/x", auth="assume-role", external_id="e" * 12,
            role_arn="arn:aws:iam::123456789012:role/R", session_duration_s=60,
        )  # fmt: skip
    with pytest.raises(DatasourceError, match="region"):
        DatasourceConfig.s3("s3://bucket-a/x", region="moon-1")
    with pytest.raises(DatasourceError, match="unknown setting.*secret_access_key"):
        DatasourceConfig.from_dict({"id": "input", "secret_access_key": "x"})
    cfg = DatasourceConfig.s3("s3://nasa-bps-training-data/Microscopy/train", auth="anonymous")
    assert cfg.prefix == "Microscopy/train/"
    assert cfg.uri == "s3://nasa-bps-training-data/Microscopy/train/"


# ------------------------------------------------------------------ properties

_BUCKET_CHARS = string.ascii_lowercase + string.digits + ".-"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70))
def test_bucket__any_text_is_accepted_only_if_it_follows_the_rules(name: str) -> None:
    try:
        v.check_bucket(name)
    except DatasourceError as exc:
        message = str(exc)
        assert message.startswith("bucket"), message  # noqa: PT017 (a property over any text)
        return
    assert 3 <= len(name) <= 63
    assert set(name) <= set(_BUCKET_CHARS)
    assert name[0] not in ".-"
    assert name[-1] not in ".-"
    assert ".." not in name


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_prefix__accepted_prefixes_never_escape_or_hold_control_characters(prefix: str) -> None:
    try:
        out = v.check_prefix(prefix)
    except DatasourceError:
        return
    assert out == "" or out.endswith("/")
    assert not out.startswith("/")
    assert ".." not in out.split("/")
    assert not any(ord(c) < 32 or c == "\\" for c in out)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.integers(1, 65535))
def test_endpoint__every_link_local_ipv4_is_refused(c: int, d: int, port: int) -> None:
    with pytest.raises(DatasourceError, match="link-local"):
        v.check_endpoint_url(f"http://169.254.{c}.{d}:{port}")


_EXT_CHARS = set(string.ascii_letters + string.digits + "_+=,.@:/-")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120) | st.builds(lambda s: f"arn:aws:iam::{s}", st.text(max_size=60)))
def test_role_arn__accepted_values_have_the_arn_shape(arn: str) -> None:
    try:
        v.check_role_arn(arn)
    except DatasourceError:
        return
    head, account, resource = arn.split(":", 5)[:2], arn.split(":")[4], arn.split(":", 5)[5]
    assert head[0] == "arn"
    assert account.isdigit()
    assert len(account) == 12
    assert resource.startswith("role/")
    assert not any(c.isspace() for c in arn)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1300) | st.text(alphabet=sorted(_EXT_CHARS), max_size=1300))
def test_external_id__accepted_values_respect_length_and_charset(ext: str) -> None:
    try:
        v.check_external_id(ext)
    except DatasourceError:
        assert not (10 <= len(ext) <= 1224 and set(ext) <= _EXT_CHARS and ext.isascii())
        return
    assert 10 <= len(ext) <= 1224
    assert set(ext) <= _EXT_CHARS


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["http", "https", "ftp", "file", "gopher", ""]),
    st.text(max_size=30),
    st.one_of(st.none(), st.integers(-1, 70000)),
    st.text(max_size=20),
)
def test_endpoint__accepted_urls_are_plain_http_hosts(
    scheme: str, host: str, port: int | None, tail: str
) -> None:
    from urllib.parse import urlsplit

    url = f"{scheme}://{host}" + (f":{port}" if port is not None else "") + tail
    try:
        out = v.check_endpoint_url(url)
    except DatasourceError:
        return
    parts = urlsplit(out)
    assert parts.scheme in ("http", "https")
    assert parts.hostname
    assert parts.username is None
    assert parts.password is None
    assert not parts.query
    assert not parts.fragment
    ip = v._literal_ip(parts.hostname)
    assert ip is None or not (getattr(ip, "ipv4_mapped", None) or ip).is_link_local


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (v.check_external_id, "ext-id-0123456789\n"),
        (v.check_external_id, "ext-id-\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"),
        (v.check_role_arn, "arn:aws:iam::" + "\u0663" * 12 + ":role/R"),  # Arabic-Indic 3s
        (v.check_role_arn, "arn:aws:iam::123456789012:role/R\n"),
        (v.check_region, "us-west-2\n"),
        (v.check_bucket, "bucket-a\n"),
        (v.check_session_name, "session\n"),
    ],
)  # fmt: skip
def test_trailing_newlines_and_non_ascii_look_alikes_are_refused(check, value) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatasourceError):
        check(value)
    with pytest.raises(DatasourceError, match="datasource id"):
        DatasourceConfig(id="input\n")


# ------------------------------------------------------------------ validated once


def test_config__an_invalid_one_cannot_be_made() -> None:
    with pytest.raises(DatasourceError, match="bucket 'Bad_Bucket'"):
        DatasourceConfig(kind="s3", bucket="Bad_Bucket")
    with pytest.raises(DatasourceError, match="endpoint URL"):
        DatasourceConfig(kind="s3", bucket="bucket-a", endpoint_url="http://169.254.169.254")


def test_config__prefix_is_canonical_from_the_start() -> None:
    cfg = DatasourceConfig(kind="s3", bucket="bucket-a", prefix="Microscopy/train")
    assert cfg.prefix == "Microscopy/train/"
    assert cfg == DatasourceConfig.s3("s3://bucket-a/Microscopy/train/")


def test_config__checked_once_when_made_never_again_on_the_way_to_the_client(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_clients()
    bucket = s3_server.new_bucket("once")
    cfg = DatasourceConfig.s3(
        f"s3://{bucket}/in", id="output", purpose="input_output", region=REGION,
        endpoint_url=s3_server.endpoint, allow_private_endpoint=True,
    )  # fmt: skip
    checks: list[str] = []
    real = v.check_endpoint_url

    def counted(url: str, **kwargs: bool) -> str:
        checks.append(url)
        return real(url, **kwargs)

    monkeypatch.setattr(v, "check_endpoint_url", counted)
    report = check_access(cfg)  # what the form's "Check access" runs
    assert report.usable, report.rows()
    assert iam_policy(cfg)["Statement"]
    assert list(open_writable(cfg).list()) == []
    assert checks == []  # access check, policy, source and client trust the made config
    assert DatasourceConfig.from_dict(asdict(cfg)) == cfg  # made again (a stored config) ...
    assert checks == [s3_server.endpoint]  # ... checked again, once
