"""Field checks for datasource settings, run before any network call.

Each function returns the normalised value or raises ``DatasourceError`` naming the field, what
is wrong and what to type instead. Rules follow AWS's documented limits:

- bucket names: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
- role ARNs, external IDs, session names: the IAM and STS ``AssumeRole`` API references.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from bps_core.errors import DatasourceError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$", re.ASCII)
_ROLE_ARN_RE = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$", re.ASCII
)
_EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{10,1224}$", re.ASCII)
_SESSION_RE = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
_PROFILE_RE = re.compile(r"^[\w+=,.@:/-]{1,64}$", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: Host names of cloud instance-metadata services (the SSRF targets in labeling tools).
_METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2"}
)
MIN_SESSION_S, MAX_SESSION_S = 900, 43_200


def _fail(field: str, value: object, why: str) -> DatasourceError:
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "...'"
    return DatasourceError(f"{field} {shown}: {why}")


def check_bucket(name: str) -> str:
    """An S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-', not shaped like an IP."""
    if not isinstance(name, str) or not name:
        raise _fail("bucket", name, "is empty; give the bucket name, e.g. nasa-bps-training-data")
    if name.startswith("s3://"):
        raise _fail("bucket", name, "give the bucket name alone, without s3:// or a prefix")
    if not 3 <= len(name) <= 63:
        raise _fail("bucket", name, f"must be 3-63 characters long (it has {len(name)})")
    if not _BUCKET_RE.fullmatch(name):
        raise _fail(
            "bucket",
            name,
            "use lower-case letters, digits, '.' and '-', starting and ending with a letter "
            "or digit",
        )
    if ".." in name or ".-" in name or "-." in name:
        raise _fail("bucket", name, "must not hold '..', '.-' or '-.'")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        raise _fail("bucket", name, "must not be formatted as an IP address")
    if name.startswith(_BUCKET_BAD_PREFIXES) or name.endswith(_BUCKET_BAD_SUFFIXES):
        raise _fail("bucket", name, "uses a prefix or suffix that AWS reserves")
    return name


def check_prefix(prefix: str) -> str:
    """A key prefix (the folder inside the bucket), normalised to '' or ``a/b/``."""
    if not isinstance(prefix, str):
        raise _fail("prefix", prefix, "must be text")
    if _CONTROL_RE.search(prefix) or "\\" in prefix:
        raise _fail("prefix", prefix, "must not hold control characters, NUL or backslashes")
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    if prefix.startswith("/"):
        raise _fail("prefix", prefix, "must not start with '/'; write e.g. Microscopy/train/")
    parts = stripped.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise _fail("prefix", prefix, "must not hold empty, '.' or '..' path segments")
    if len(stripped.encode()) > 1000:
        raise _fail("prefix", prefix, "is longer than 1000 bytes")
    return stripped + "/"


def check_region(region: str) -> str:
    """An AWS region name such as ``us-west-2`` or ``us-gov-east-1``, returned unchanged.

    Only the shape is checked (two letters, words, a number), not that the region exists.

    Raises:
        DatasourceError: ``region`` is not text of that shape.
    """
    if not isinstance(region, str) or not _REGION_RE.fullmatch(region):
        raise _fail("region", region, "is not an AWS region name such as us-west-2 or eu-central-1")
    return region


def check_role_arn(arn: str) -> str:
    """An IAM role ARN (``arn:aws:iam::123456789012:role/Name``, paths allowed), unchanged.

    The ``aws``, ``aws-cn`` and ``aws-us-gov`` partitions are accepted.

    Raises:
        DatasourceError: ``arn`` is not text of that shape.
    """
    if not isinstance(arn, str) or not _ROLE_ARN_RE.fullmatch(arn):
        raise _fail(
            "role ARN",
            arn,
            "must look like arn:aws:iam::123456789012:role/RoleName (12-digit account id)",
        )
    return arn


def check_external_id(external_id: str) -> str:
    """An STS external ID: 10-1224 characters of letters, digits and ``_+=,.@:/-``, unchanged.

    Raises:
        DatasourceError: ``external_id`` is not text of that shape.
    """
    if not isinstance(external_id, str) or not _EXTERNAL_ID_RE.fullmatch(external_id):
        raise _fail(
            "external ID",
            external_id,
            "needs 10-1224 characters from letters, digits and _+=,.@:/- (use 'Generate')",
        )
    return external_id


def check_session_name(name: str) -> str:
    """An STS role session name: 2-64 characters of letters, digits and ``_+=,.@-``, unchanged.

    Raises:
        DatasourceError: ``name`` is not text of that shape.
    """
    if not isinstance(name, str) or not _SESSION_RE.fullmatch(name):
        raise _fail("session name", name, "needs 2-64 characters from letters, digits and _+=,.@-")
    return name


def check_session_duration(seconds: int) -> int:
    """An assumed role's session duration in whole seconds, 900 (15 min) to 43200 (12 h).

    The role's own maximum session duration must allow it too; that is only known to AWS.

    Raises:
        DatasourceError: ``seconds`` is not an int (a bool is refused) or is out of range.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise _fail("session duration", seconds, "must be a whole number of seconds")
    if not MIN_SESSION_S <= seconds <= MAX_SESSION_S:
        raise _fail(
            "session duration",
            seconds,
            f"must be {MIN_SESSION_S}-{MAX_SESSION_S} s (15 min to 12 h; the role's maximum "
            "session duration must allow it)",
        )
    return seconds


def check_profile(profile: str) -> str:
    """A profile name from ``~/.aws/config`` (1-64 plain characters), unchanged.

    Only the shape is checked; whether the profile exists is found out when it is used.

    Raises:
        DatasourceError: ``profile`` is not text of that shape.
    """
    if not isinstance(profile, str) or not _PROFILE_RE.fullmatch(profile):
        raise _fail("profile", profile, "is not a profile name from ~/.aws/config")
    return profile


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host literal denotes, or None when it is a name.

    The short and numeric IPv4 spellings that URL parsers and resolvers accept count too
    (``2852039166``, ``0xa9fea9fe``, ``169.254.43518``).
    """
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # parses only: no lookup
    except (OSError, ValueError):
        return None


#: Instance-metadata addresses: AWS (IPv4, IPv6, ECS task credentials), Alibaba Cloud, and the
#: link-local ones every cloud uses. Refused unless ``allow_link_local_endpoint``.
_METADATA_IPS = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (Alibaba's metadata lives here)
#: A host name that spells an IPv4 address before a wildcard-DNS suffix (nip.io, sslip.io:
#: ``169.254.169.254.nip.io``, ``169-254-169-254.sslip.io``, ``app.10.0.0.1.nip.io``).
_EMBEDDED_V4 = re.compile(r"(?:^|[.-])((?:\d{1,3}[.-]){3}\d{1,3})(?=[.-]|$)")

ALLOW_LINK_LOCAL_HINT = (
    "use the bucket's public endpoint, or leave the endpoint empty for AWS S3 (only the "
    "server's own project configuration can allow such an endpoint)"
)
ALLOW_PRIVATE_HINT = (
    "tick 'Allow a private or loopback endpoint' (allow_private_endpoint, CLI "
    "--allow-private-endpoint) for a store on this machine or your own network"
)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: mapped, NAT64, 6to4, Teredo or compatible."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if any(ip in net for net in _NAT64) or int(ip) >> 32 == 0:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_problem(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    *,
    allow_link_local: bool = False,
    allow_private: bool = False,
) -> str | None:
    """Why an endpoint at ``ip`` is refused, or None when it is allowed.

    Checks the address and any IPv4 address it embeds (``::ffff:``, NAT64 ``64:ff9b::``,
    6to4, Teredo): a request there would carry the server's signed credentials to a metadata
    service or an internal host.
    """
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (v4 := _embedded_v4(ip)) is not None:
        candidates.insert(0, v4)  # the embedded address names the real target: check it first
    for a in candidates:
        if a.is_unspecified or a.is_multicast:
            return "is not a unicast host address"
        if a in _METADATA_IPS or a.is_link_local:
            if not allow_link_local:
                return (
                    "is a link-local or cloud-metadata address; refused (SSRF risk) unless "
                    f"allowed: {ALLOW_LINK_LOCAL_HINT}"
                )
            continue
        private = a.is_loopback or a.is_private or a.is_reserved or a in _SHARED
        if private and not allow_private:
            return f"is a private or loopback address; refused unless allowed: {ALLOW_PRIVATE_HINT}"
    return None


def redact_url(url: object) -> str:
    """``url`` for a message: scheme, host and port only.

    User names, passwords, paths, queries and fragments are never shown back (a refused
    endpoint must not echo its password).
    """
    if not isinstance(url, str):
        return repr(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an endpoint URL that cannot be parsed)"
    if not parts.scheme and not host:
        return "(an endpoint URL without a scheme and host)"
    host = f"[{host}]" if ":" in host else host
    shown = f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}"
    shown = _CONTROL_RE.sub("?", shown)
    return repr(shown if len(shown) <= 80 else shown[:77] + "...")


def _url_fail(url: str, why: str) -> DatasourceError:
    return DatasourceError(f"endpoint URL {redact_url(url)}: {why}")


def check_endpoint_url(
    url: str, *, allow_link_local: bool = False, allow_private: bool = False
) -> str:
    """An S3-compatible endpoint: http(s)://host[:port] with nothing that could leak or redirect.

    Link-local and cloud-metadata addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200,
    metadata.google.internal) are refused unless ``allow_link_local``; loopback and private
    addresses (127.0.0.1, localhost, 10/8, 192.168/16, fc00::/7) unless ``allow_private``: an
    endpoint pointing there would make the server send signed requests to, and show responses
    from, its own instance credentials or internal services. Host names are checked here as
    written (including IPv4 addresses spelled inside nip.io-style names); the addresses they
    resolve to are checked again on every request (``resolved_address_problem``). Messages never
    show the URL's user name, password, query or fragment.
    """
    if not isinstance(url, str) or not url:
        raise _fail("endpoint URL", url, "is empty")
    if _CONTROL_RE.search(url) or " " in url or "\\" in url:
        raise _url_fail(url, "must not hold spaces, backslashes or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _url_fail(
            url, "cannot be parsed; write e.g. https://minio.example.org:9000"
        ) from None
    if parts.scheme not in ("http", "https"):
        raise _url_fail(url, "must start with https:// (or http:// for a local store)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _url_fail(
            url, "must not hold user names or passwords; use the datasource's authentication"
        )
    if not parts.hostname:
        raise _url_fail(url, "has no host name")
    if parts.query or parts.fragment:
        raise _url_fail(url, "must not hold a query or fragment")
    if port == 0:
        raise _url_fail(url, "port 0 is not a valid port")
    host = parts.hostname.rstrip(".").lower()
    if not allow_link_local and (host in _METADATA_HOSTS or host.endswith(".internal")):
        raise _url_fail(
            url, f"points at a cloud metadata service; refused (SSRF risk). {ALLOW_LINK_LOCAL_HINT}"
        )
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise _url_fail(
            url, f"is this machine (loopback); refused unless allowed: {ALLOW_PRIVATE_HINT}"
        )
    ips = [ip] if (ip := _literal_ip(host)) is not None else []
    ips += [ipaddress.IPv4Address(m.replace("-", ".")) for m in _embedded_names(host)]
    for ip in ips:
        why = address_problem(ip, allow_link_local=allow_link_local, allow_private=allow_private)
        if why:
            raise _url_fail(url, f"{ip} {why}")
    return url.rstrip("/")


def _embedded_names(host: str) -> list[str]:
    out = []
    for m in _EMBEDDED_V4.finditer(host):
        text = m.group(1)
        if all(0 <= int(p) <= 255 for p in re.split(r"[.-]", text)):
            out.append(text)
    return out


def resolved_address_problem(
    host: str, port: int | None, *, allow_link_local: bool = False, allow_private: bool = False
) -> str | None:
    """Why any address ``host`` resolves to is refused, or None.

    ``host`` is resolved as the connection will resolve it, which catches a name such as
    ``169.254.169.254.nip.io`` or a rebinding DNS server. A name that does not resolve gives
    None: the connection itself then fails with a clear message.
    """
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None  # unresolvable: the connection itself fails with a clear message
    for info in infos:
        ip = _literal_ip(str(info[4][0]))
        if ip is None:
            continue
        why = address_problem(ip, allow_link_local=allow_link_local, allow_private=allow_private)
        if why:
            return f"resolves to {ip}, which {why}"
    return None


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, normalised prefix), both checked."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise _fail("S3 location", uri, "must start with s3://, e.g. s3://bucket/folder/")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return check_bucket(bucket), check_prefix(prefix)
