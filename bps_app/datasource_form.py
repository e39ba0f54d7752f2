"""Datasource forms: the widgets for one local folder or S3 location, validated as you type.

Each form keeps its values in session state under its own prefix, so presets (the public NASA
BPS bucket) and the external-ID generator can fill fields through callbacks. Validation runs
on every rerun without any network call; only "Check access" talks to the store.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from bps_app import state, widgets
from bps_app.safe_text import md
from bps_core.errors import DatasourceError
from bps_core.paths import PathPolicyError, typed_path
from bps_core.storage import AUTH_MODES, DatasourceConfig
from bps_core.storage.access import (
    AccessReport,
    check_access,
    generate_external_id,
    iam_policy,
    policy_json,
    trust_policy,
)
from bps_core.storage.s3.credentials import static_keys

NASA_BPS_PRESET: dict[str, Any] = {
    "kind": "s3",
    "location": "s3://nasa-bps-training-data/Microscopy/train/",
    "region": "us-west-2",
    "endpoint": "",
    "auth": "anonymous",
}
AUTH_LABELS = {
    "anonymous": "Anonymous (public bucket)",
    "default": "AWS credentials / profile",
    "assume-role": "IAM role + external ID",
    "keys": "Access keys (env / secrets)",
}


def _key(prefix: str, name: str) -> str:
    return f"ds_{prefix}_{name}"


def apply_preset(prefix: str, values: dict[str, Any]) -> None:
    """Fills a form's fields (use as a button's ``on_click``)."""
    for name, value in values.items():
        st.session_state[_key(prefix, name)] = value


def _new_external_id(prefix: str) -> None:
    st.session_state[_key(prefix, "external_id")] = generate_external_id()


def _defaults(current: DatasourceConfig | None) -> dict[str, Any]:
    if current is None:
        return {"kind": "s3", "location": "", "path": "", "region": "", "endpoint": "",
                "auth": "default", "profile": "", "role_arn": "", "external_id": "",
                "duration": 3600, "allow_private": False}  # fmt: skip
    return {
        "kind": current.kind,
        "location": current.uri if current.kind == "s3" else "",
        "path": current.path,
        "region": current.region,
        "endpoint": current.endpoint_url,
        "auth": current.auth,
        "profile": current.profile,
        "role_arn": current.role_arn,
        "external_id": current.external_id,
        "duration": current.session_duration_s,
        "allow_private": current.allow_private_endpoint,
    }


def datasource_form(
    prefix: str, *, ds_id: str, purpose: str, current: DatasourceConfig | None = None
) -> tuple[DatasourceConfig | None, str]:
    """Draws the fields; returns the validated config, or None and what to fix."""
    for name, value in _defaults(current).items():
        st.session_state.setdefault(_key(prefix, name), value)
    kind = st.radio(
        "Kind", ["s3", "local"], horizontal=True, key=_key(prefix, "kind"),
        format_func={"s3": "S3 bucket", "local": "Local folder"}.get,
    )  # fmt: skip
    try:
        if kind == "local":
            path = st.text_input(
                "Folder", key=_key(prefix, "path"), placeholder="/data/images",
                help="A folder on the server. A relative one is taken under the project "
                f"folder, {md(state.project_dir())}, as on the Export page.",
            )  # fmt: skip
            if not path.strip():
                return None, ""
            what = "Input folder" if purpose.startswith("input") else "Destination folder"
            full = str(typed_path(path, state.project_dir()))  # relative: as on Export
            state.check_typed_path(path, what)  # before any listing or writing
            return DatasourceConfig(id=ds_id, kind="local", path=full, purpose=purpose), ""
        location = st.text_input(
            "S3 location", key=_key(prefix, "location"), placeholder="s3://bucket/prefix/",
            help="Bucket and prefix (the folder inside the bucket).",
        )  # fmt: skip
        c1, c2 = st.columns(2)
        region = c1.text_input("Region", key=_key(prefix, "region"), placeholder="us-west-2")
        endpoint = c2.text_input(
            "Endpoint URL (S3-compatible stores only)", key=_key(prefix, "endpoint"),
            placeholder="https://minio.example.org",
        )  # fmt: skip
        allow_private = st.checkbox(
            "Allow a private or loopback endpoint", key=_key(prefix, "allow_private"),
            help="Tick only for a store on this machine or your own network (MinIO on "
            "localhost, 192.168.x.x, 10.x.x.x). Off, such endpoints are refused so that nobody "
            "can point this server at its own internal services.",
        )  # fmt: skip
        auth = st.radio(
            "Authentication", AUTH_MODES, horizontal=True, key=_key(prefix, "auth"),
            format_func=AUTH_LABELS.get,
        )  # fmt: skip
        extra: dict[str, Any] = {}
        if auth in ("default", "assume-role"):
            extra["profile"] = st.text_input(
                "Profile (optional)", key=_key(prefix, "profile"),
                help="A profile from ~/.aws/config; empty uses boto3's default credential chain.",
            ).strip()  # fmt: skip
        if auth == "assume-role":
            extra["role_arn"] = st.text_input(
                "Role ARN", key=_key(prefix, "role_arn"),
                placeholder="arn:aws:iam::123456789012:role/Labeler-S3",
            ).strip()  # fmt: skip
            c3, c4 = st.columns([3, 1])
            extra["external_id"] = c3.text_input(
                "External ID", key=_key(prefix, "external_id"),
                help="Put the same value in the role's trust policy (shown after 'Check access').",
            ).strip()  # fmt: skip
            c4.button("Generate", key=_key(prefix, "gen"), on_click=_new_external_id,
                      args=(prefix,), help="A random 32-character external ID")  # fmt: skip
            duration = widgets.number_field(
                "Session duration (s)", low=900, high=43_200, value=None, step=900,
                key=_key(prefix, "duration"), empty_ok=False,  # the value: set by _defaults
            )  # fmt: skip
            if not duration.ok:
                return None, duration.error
            extra["session_duration_s"] = duration.number
        if auth == "keys":
            try:
                static_keys()
                st.caption("Access keys found (environment or Streamlit secrets). They are used "
                           "for requests only: never stored, logged or shown.")  # fmt: skip
            except DatasourceError as exc:
                st.warning(str(exc))
        if not location.strip():
            return None, ""  # nothing typed yet: no error, the placeholder shows the form
        config = DatasourceConfig.s3(
            location.strip(), id=ds_id, purpose=purpose, region=region.strip(),
            endpoint_url=endpoint.strip(), auth=auth, allow_private_endpoint=allow_private,
            **extra,
        )  # fmt: skip
    except (DatasourceError, PathPolicyError) as exc:
        return None, str(exc)
    return config, ""


def access_report(report: AccessReport) -> None:
    """The outcome and its cause in full, each permission as a table row, and the IAM policy
    only when access was denied (a policy cannot fix an unreachable endpoint or a typo)."""
    rows = pd.DataFrame(report.rows())
    if report.usable and report.empty and report.config.purpose != "output":
        st.warning(f"{md(report.headline())}. It holds no files: saving it as the input would "
                   "find no images. Choose the folder (or prefix) that holds them.",
                   icon=":material/warning:")  # fmt: skip
    elif report.usable:
        st.success(md(report.headline()), icon=":material/check_circle:")
    else:
        failure = report.failure
        cause = failure.message if failure is not None else "listing returned nothing"
        st.error(f"**{md(report.headline())}**\n\n{md(cause)}", icon=":material/error:")
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={"detail": st.column_config.TextColumn("detail", width="large")},
    )
    if report.config.kind == "s3" and report.kind == "denied":
        with st.expander("IAM policy for this bucket and prefix", expanded=True):
            st.code(policy_json(iam_policy(report.config)), language="json")
        if report.config.auth == "assume-role":
            with st.expander("Trust policy for the role", expanded=True):
                st.caption("Replace the principal with the AWS account that runs this app.")
                st.code(policy_json(trust_policy(report.config)), language="json")


def remember_check(prefix: str, report: AccessReport) -> None:
    """Keeps a form's last access check, so saving knows whether this config was checked."""
    st.session_state.setdefault(state.ACCESS_CHECKS, {})[prefix] = report


def last_check(prefix: str, config: DatasourceConfig | None) -> AccessReport | None:
    """The form's last access check, if it was made for exactly ``config``."""
    report = st.session_state.get(state.ACCESS_CHECKS, {}).get(prefix)
    if report is None or config is None or report.config != config:
        return None
    return report if isinstance(report, AccessReport) else None


def job_result_frame(result: dict[str, Any] | None) -> pd.DataFrame:
    """A finished job's result as a two-column table (not a Python dict in a caption)."""
    items = (result or {}).items()
    return pd.DataFrame(
        {
            "result": [str(k).replace("n_", "", 1).replace("_", " ") for k, _ in items],
            "value": [_cell(v) for _, v in items],
        }  # fmt: skip
    )


def _cell(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def check_and_save_buttons(
    prefix: str, cfg: DatasourceConfig | None, *, changed: bool, busy: bool, save_label: str
) -> bool:
    """Draws "Check access" and a form's save button; True when saving may go ahead: the
    config was checked (or is checked now) and the source is usable. A failed check disables
    saving until the settings change; a refused save shows the cause."""
    c1, c2 = st.columns(2)
    check = c1.button("Check access", key=f"check_{prefix}", disabled=cfg is None)
    if check and cfg is not None:
        with st.spinner("Probing the permissions this purpose needs ..."):
            remember_check(prefix, check_access(cfg))
    report = last_check(prefix, cfg)
    failed = report is not None and not report.usable
    save = c2.button(
        save_label,
        key=f"save_{prefix}",
        type="primary",
        disabled=not changed or busy or failed,
        help="Needs a usable source: it is checked first if you have not checked it.",
    )
    if save and cfg is not None and report is None:
        with st.spinner("Checking access before saving ..."):
            report = check_access(cfg)
            remember_check(prefix, report)
    if report is not None:
        access_report(report)
        if failed:
            c2.caption("Fix the problem below, then check again.")
        elif save and not report.usable:
            st.error("Not saved: the datasource cannot be used (cause above).")
    return bool(save and report is not None and report.usable)


def describe_frame(configs: list[DatasourceConfig]) -> pd.DataFrame:
    rows = [{"setting": k, **{c.id: c.describe().get(k, "") for c in configs}}
            for k in dict.fromkeys(k for c in configs for k in c.describe())]  # fmt: skip
    return pd.DataFrame(rows)
