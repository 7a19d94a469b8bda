"""`papers-etl publish`: validate, assemble the Hub layout in a folder, optionally upload it.

Staging and upload are separate steps so that a dry run leaves exactly the folder that an
upload would send. The Hub checks (offline mode, token, reachability) run before anything
is validated or staged, so a publish that cannot upload changes nothing at all.

Staged layout (the dataset repository's root):

    README.md                      the dataset card, rendered from the tables
    assets/papers_per_year.png     the card's chart
    data/<table>/<table>.parquet   all six tables, empty or not; the card's configs list the
                                   paper tables that have rows (`card.config_tables`),
                                   `rejects` is there for audit only
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from huggingface_hub import HfApi, constants, get_token
from huggingface_hub.errors import HTTPError

from etl import card, schemas

README_NAME = "README.md"
# Top-level entries a stage consists of; a folder holding anything else is not replaced.
STAGE_ENTRIES = frozenset({README_NAME, "data", "assets"})
# Remote files that the commit replaces wholesale, so that stale tables never linger.
DELETE_PATTERNS = ["data/*", "assets/*"]
REPO_TYPE = "dataset"
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
# What a failing Hub call raises: transport errors (no network, DNS) are the HTTP client's
# HTTPError, which huggingface_hub re-exports; HfHubHTTPError and offline mode are OSErrors;
# HFValidationError (a malformed repo id) is a ValueError.
_HUB_ERRORS = (HTTPError, OSError, ValueError)


class PublishError(Exception):
    """A user-facing, one-line reason to stop (exit code 1)."""


@dataclass(frozen=True)
class StagedDataset:
    """A complete Hub layout on disk, ready for one upload commit."""

    path: Path
    row_counts: dict[str, int]
    files: tuple[str, ...]

    @property
    def commit_message(self) -> str:
        total = sum(self.row_counts.values())
        return (
            f"Publish {self.row_counts['papers']} papers "
            f"({total} rows in {len(self.row_counts)} tables)"
        )

    @property
    def commit_description(self) -> str:
        return "\n".join(f"- {name}: {n} rows" for name, n in self.row_counts.items())


def _check_stage_target(stage: Path) -> None:
    """Refuse to replace anything but an earlier stage: `--stage ~` must not wipe a home."""
    if not stage.exists():
        return
    if not stage.is_dir():
        raise PublishError(f"--stage {stage} exists and is not a folder")
    foreign = sorted(p.name for p in stage.iterdir() if p.name not in STAGE_ENTRIES)
    if foreign:
        raise PublishError(
            f"--stage {stage} holds {', '.join(foreign[:5])}, which a stage never contains; "
            "pass an empty or new folder"
        )


def stage_dataset(data_dir: Path, stage: Path, *, repo_id: str | None = None) -> StagedDataset:
    """Assemble the Hub layout for the tables in `data_dir` and swap it into `stage`.

    Built in a temporary sibling folder, then renamed into place, so `stage` is always
    either the previous complete layout or the new one.
    """
    missing = [t.file_name for t in schemas.TABLES if not (data_dir / t.file_name).is_file()]
    if missing:
        raise PublishError(f"{data_dir} lacks {', '.join(missing)}; build first (make data)")
    stage = Path(os.path.abspath(stage))  # `.` and `..` get a name and a parent
    if not stage.name:
        raise PublishError(f"--stage {stage} cannot be replaced; pass a folder below it")
    _check_stage_target(stage)
    stage.parent.mkdir(parents=True, exist_ok=True)
    tmp = stage.with_name(f".{stage.name}.{uuid.uuid4().hex[:8]}.tmp")  # umask mode (not 0700)
    tmp.mkdir()
    try:
        readme = card.render_card(data_dir, repo_id=repo_id, chart_ref=card.CHART_REF)
        (tmp / README_NAME).write_text(readme, encoding="utf-8", newline="\n")
        (tmp / card.CHART_REF).parent.mkdir(parents=True)
        (tmp / card.CHART_REF).write_bytes(card.render_chart(data_dir))
        row_counts: dict[str, int] = {}
        for table in schemas.TABLES:
            target = tmp / card.staged_file(table.name)
            target.parent.mkdir(parents=True)
            shutil.copyfile(data_dir / table.file_name, target)
            row_counts[table.name] = pq.read_metadata(target).num_rows
        files = tuple(sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()))
        _swap_into_place(tmp, stage)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return StagedDataset(path=stage, row_counts=row_counts, files=files)


def _swap_into_place(new: Path, stage: Path) -> None:
    """Replace `stage` by `new` with renames only; the old stage is removed afterwards."""
    if not stage.exists():
        new.rename(stage)
        return
    old = stage.with_name(f".{stage.name}.old-{uuid.uuid4().hex[:8]}")
    stage.rename(old)
    try:
        new.rename(stage)
    except BaseException:
        old.rename(stage)
        raise
    shutil.rmtree(old)


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _hub_failure(what: str, error: Exception, token: str) -> PublishError:
    """One line about a failed Hub call, with the token scrubbed should a message echo it."""
    first_line = next(iter(str(error).splitlines()), "")
    return PublishError(f"{what}: {type(error).__name__}: {_redact(first_line, token)}")


def hub_token() -> str:
    """The token an upload will use, or a clear reason why there is none (never the token)."""
    if constants.is_offline_mode():
        raise PublishError(
            "uploading needs the Hub, but HF_HUB_OFFLINE is set (papers-etl and make default "
            "to offline); rerun with HF_HUB_OFFLINE=0, or use --dry-run to stage only"
        )
    try:
        token = get_token()
    except Exception as error:
        reason = type(error).__name__
        raise PublishError(f"could not obtain a Hugging Face token ({reason})") from None
    if not token:
        raise PublishError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` (or use --dry-run)"
        )
    return token


def check_hub_access(api: HfApi, token: str) -> str:
    """Who the token belongs to; fails early (before staging) without network or access."""
    try:
        user = api.whoami()
    except _HUB_ERRORS as error:
        raise _hub_failure("cannot reach the Hub with this token", error, token) from None
    return str(user.get("name", "?"))


def connect_hub() -> tuple[HfApi, str, str]:
    """(api, token, user name) for an upload, checked before anything else happens."""
    token = hub_token()
    api = HfApi(token=token)
    return api, token, check_hub_access(api, token)


def upload_stage(staged: StagedDataset, repo_id: str, *, private: bool, api: HfApi) -> str:
    """Create the dataset repo if needed and upload the stage as one commit; its URL.

    `private` applies only when the repo is created; an existing repo keeps its visibility.
    """
    api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type=REPO_TYPE,
        folder_path=staged.path,
        commit_message=staged.commit_message,
        commit_description=staged.commit_description,
        delete_patterns=DELETE_PATTERNS,
    )
    return str(commit.commit_url)


def validate_data(data_dir: Path) -> None:
    """Refuse to publish tables that fail (or could not be put through) validation."""
    try:
        from etl.validate import validate_tables
    except ImportError as error:
        raise PublishError(f"validation is unavailable ({error}); refusing to publish") from None
    report = validate_tables(data_dir)
    if not report.success:
        rules = ", ".join(sorted(report.failed_rules)) or "see the report"
        raise PublishError(
            f"the tables in {data_dir} fail validation ({rules}); "
            f"details: papers-etl validate --data {data_dir}"
        )


def run_publish_command(
    stage: Path, *, repo_id: str | None, private: bool, dry_run: bool, data: Path
) -> int:
    """CLI entry: 0 when staged (and uploaded if asked), 1 with a one-line reason otherwise."""
    token: str | None = None
    try:
        if repo_id is not None and not _REPO_ID.fullmatch(repo_id):
            raise PublishError(f"--repo-id must look like OWNER/NAME, not {repo_id!r}")
        hub = connect_hub() if repo_id is not None and not dry_run else None
        validate_data(data)
        staged = stage_dataset(data, stage, repo_id=repo_id)
        print(f"staged {len(staged.files)} files in {staged.path}: {staged.commit_message}")
        if hub is None or repo_id is None:
            print("dry run: nothing uploaded" if dry_run else "no --repo-id: nothing uploaded")
            return 0
        api, token, user = hub
        print(f"uploading to {repo_id} (dataset) as {user}")
        try:
            url = upload_stage(staged, repo_id, private=private, api=api)
        except _HUB_ERRORS as error:
            raise _hub_failure("upload failed", error, token) from None
    except PublishError as error:
        print(f"error: {_redact(str(error), token)}", file=sys.stderr)
        return 1
    print(f"published: {url}")
    return 0
