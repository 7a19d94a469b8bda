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

`--stage` is replaced wholesale, as build's `--out` is (`etl.swap`: a lock, two renames,
recovery after a kill), so it is refused unless it holds nothing but files of this layout
(an earlier stage), and refused when it is a symbolic link, the current folder or one of its
parents, or overlaps the tables' folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from huggingface_hub import HfApi, constants, get_token
from huggingface_hub.errors import HTTPError
from huggingface_hub.utils import HFValidationError, validate_repo_id

from etl import card, schemas, swap

README_NAME = "README.md"
# Every file a stage writes: a folder holding anything else is never replaced.
STAGE_FILES = frozenset(
    {README_NAME, card.CHART_REF, *(card.staged_file(t.name) for t in schemas.TABLES)}
)
_SHOWN_REASON_LINES = 4
_REASON_LINE_CHARS = 300
# Remote files that the commit replaces wholesale, so that stale tables never linger.
DELETE_PATTERNS = ["data/*", "assets/*"]
REPO_TYPE = "dataset"
# OWNER/NAME; what each part may hold is the Hub's rule (`validate_repo_id`).
_REPO_ID = re.compile(r"[^/]+/[^/]+")
# What a failing Hub call raises: transport errors (no network, DNS) are the HTTP client's
# HTTPError, which huggingface_hub re-exports; HfHubHTTPError and offline mode are OSErrors;
# HFValidationError (a malformed repo id) is a ValueError.
_HUB_ERRORS = (HTTPError, OSError, ValueError)


class PublishError(Exception):
    """A user-facing reason to stop (exit code 1): one line, then at most a few lines of
    reasons when the Hub gave them."""


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


def check_tables_present(data_dir: Path) -> None:
    """The six tables must be there first: validating a folder without them would only
    report them as off-contract."""
    missing = schemas.missing_table_files(data_dir)
    if missing:
        raise PublishError(f"{data_dir} lacks {', '.join(missing)}; build first (make data)")


def _check_stage_contents(stage: Path) -> None:
    """Refuse to replace anything but an earlier stage (`--stage ~` must not wipe a home;
    `swap.refusal`)."""
    problem = swap.refusal(stage, STAGE_FILES, "--stage", "a publish")
    if problem is not None:
        raise PublishError(problem)


def check_stage_target(stage: Path, data_dir: Path) -> None:
    """Refuse a --stage that publishing must not replace; only reads, changes nothing.

    A symbolic link is refused, not followed: the swap would rename the link, not its
    folder, which may be anywhere (its siblings would get the temporary folders). A stage
    that holds the tables or sits among them would delete them or be deleted with them; the
    rest, as for build's --out, is `swap.refusal`'s.
    """
    stage = Path(os.path.abspath(stage))
    if stage.is_symlink():
        raise PublishError(
            f"--stage {stage} is a symbolic link (to {os.readlink(stage)}); pass the folder "
            "itself; nothing was changed"
        )
    where, tables = stage.resolve(), data_dir.resolve()
    if where == tables or where in tables.parents:
        raise PublishError(f"--stage {stage} holds the tables' folder {data_dir}; pass another")
    if tables in where.parents:
        raise PublishError(
            f"--stage {stage} is inside the tables' folder {data_dir}; pass a folder outside it"
        )
    _check_stage_contents(stage)


def stage_dataset(data_dir: Path, stage: Path, *, repo_id: str | None = None) -> StagedDataset:
    """Assemble the Hub layout for the tables in `data_dir` and swap it into `stage`.

    As `etl.swap` does for any folder replaced whole: one publish per stage at a time (its
    `.NAME.lock`), what a killed run left put back or removed first, the layout built in
    `.NAME.tmp-PID` and swapped in by two renames. A publish that fails or is interrupted
    (Ctrl-C) leaves `stage` as it was and nothing beside it but the lock; one killed may
    leave its temporary folder, or (between the two renames) no `stage` and the previous one
    parked as `.NAME.old-PID`, which the next publish puts back before anything else.
    """
    check_tables_present(data_dir)
    check_stage_target(stage, data_dir)
    stage = Path(os.path.abspath(stage))
    try:
        # Checked again in there: a stage put back, or changed meanwhile.
        with swap.replaced(stage, STAGE_FILES, "--stage", "a publish") as tmp:
            row_counts, files = _assemble(data_dir, tmp, repo_id)
    except swap.Refused as refused:
        raise PublishError(str(refused)) from None
    except swap.FolderBusy:
        raise PublishError(
            f"another publish is staging {stage} right now; try again when it ends"
        ) from None
    except OSError as error:
        reason = "the disk is full" if error.errno == errno.ENOSPC else error.strerror or error
        where = f" ({error.filename})" if error.filename else ""
        raise PublishError(f"cannot stage {stage}: {reason}{where}") from None
    return StagedDataset(path=stage, row_counts=row_counts, files=files)


def _assemble(
    data_dir: Path, tmp: Path, repo_id: str | None
) -> tuple[dict[str, int], tuple[str, ...]]:
    """Write the Hub layout into the empty folder `tmp`: each table's rows, and the files."""
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
    return row_counts, files


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _hub_failure(what: str, error: Exception, token: str) -> PublishError:
    """What a failed Hub call said, the token scrubbed should it be echoed: the first line,
    then a few of the reason lines that follow (the Hub's card check lists one per line)."""
    lines = [line.strip() for line in _redact(str(error), token).splitlines() if line.strip()]
    lines = [
        line if len(line) <= _REASON_LINE_CHARS else line[: _REASON_LINE_CHARS - 1] + "…"
        for line in lines
    ]
    head, reasons = (lines[0], lines[1:]) if lines else ("", [])
    shown = [f"  {line}" for line in reasons[:_SHOWN_REASON_LINES]]
    if len(reasons) > _SHOWN_REASON_LINES:
        shown.append(f"  (and {len(reasons) - _SHOWN_REASON_LINES} more lines)")
    return PublishError("\n".join([f"{what}: {type(error).__name__}: {head}", *shown]))


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

    Without `private` the repo is created with its owner's default visibility (public, or
    private in an organisation that makes new repos private); `private=False` would force
    it public. Visibility applies only when the repo is created: an existing repo keeps its
    own, so `private` on an existing public repo warns (one line) that it stays public.
    """
    api.create_repo(repo_id, repo_type=REPO_TYPE, private=private or None, exist_ok=True)
    if private and api.repo_info(repo_id, repo_type=REPO_TYPE).private is False:
        print(
            f"warning: {repo_id} already exists and is public; --private applies only to a new "
            "repo, so it stays public (change it in the repo's settings on the Hub)",
            file=sys.stderr,
        )
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type=REPO_TYPE,
        folder_path=staged.path,
        commit_message=staged.commit_message,
        commit_description=staged.commit_description,
        delete_patterns=DELETE_PATTERNS,
    )
    return str(commit.commit_url)


def check_repo_id(repo_id: str | None) -> None:
    """Refuse, offline, a repo id that is not OWNER/NAME by the Hub's own naming rules."""
    if repo_id is None:
        return
    if not _REPO_ID.fullmatch(repo_id):
        raise PublishError(f"--repo-id must look like OWNER/NAME, not {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PublishError(f"--repo-id is not a valid Hub repo id: {error}") from None


@contextlib.contextmanager
def tables_held(data_dir: Path) -> Iterator[None]:
    """Hold the tables folder's lock for the block, shared with other publishes: a build, which
    must hold it alone to swap new tables in, is refused meanwhile, and refuses this.

    A build finishing between validation and staging would otherwise have the stage mix its
    tables with the old ones, or hold tables that were never validated. A lock that cannot be
    made (a read-only copy of the tables, which no build writes) is done without.
    """
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(swap.lock(data_dir, shared=True))  # publishes share it
        except swap.FolderBusy:
            raise PublishError(
                f"a build is writing {data_dir} right now; publish when it ends"
            ) from None
        except OSError:
            pass
        yield


def validate_data(data_dir: Path) -> None:
    """Refuse to publish tables that fail (or could not be put through) validation."""
    try:
        from etl.validate import SuiteDefinitionError, validate_tables
    except ImportError as error:
        raise PublishError(f"validation is unavailable ({error}); refusing to publish") from None
    try:
        report = validate_tables(data_dir)
    except SuiteDefinitionError as error:
        reason = " ".join(str(error).split())
        raise PublishError(
            f"an expectation suite is broken ({reason}); refusing to publish"
        ) from None
    if not report.success:
        rules = ", ".join(sorted(report.failed_rules)) or "see the report"
        raise PublishError(
            f"the tables in {data_dir} fail validation ({rules}); "
            f"details: papers-etl validate --data {data_dir}"
        )


def run_publish_command(
    stage: Path, *, repo_id: str | None, private: bool, dry_run: bool, data: Path
) -> int:
    """CLI entry: 0 when staged (and uploaded if asked), 1 with a one-line reason otherwise
    (a few lines when the Hub gave reasons).

    The checks that need no network come first (repo id, tables, stage folder), then the
    Hub's, then validation: a publish refused at any of them changes nothing."""
    token: str | None = None
    try:
        check_repo_id(repo_id)
        check_tables_present(data)
        check_stage_target(stage, data)
        hub = connect_hub() if repo_id is not None and not dry_run else None
        with tables_held(data):  # the tables validated are the tables staged
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
