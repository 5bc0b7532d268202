"""Git history: the commits that landed in a time window, from a local clone.

Runs ``git log`` (read-only) with a timeout, clipped to what is left of the
source's time budget (:class:`~incident_lib.sources.base.Budget`). Records are separated by ASCII
record separators and fields by unit separators, so subjects with any
punctuation parse safely. :func:`commits` reads one clone; :class:`GitSource`
is the :class:`~incident_lib.sources.base.Source` protocol over it, for the
runbook (``rb.evidence("git", "commits", using=GitSource(repo))``).

Choices
-------
* **Time** is the committer date (when the commit landed on the branch, which
  is what ``--since`` / ``--until`` filter on), in UTC; the window is half-open.
* **Merges are kept**: a merge commit is often how a change lands on the main
  branch, and its time is when it landed. ``files_changed`` of a merge counts
  the files it changed relative to its first parent.
* **Author name only**: e-mail addresses are personal data and add nothing to
  an incident review, so they are never read. Names go through ``.mailmap``.
* Commit dates that go backwards (rebased or clock-skewed history) can make
  ``git log --since`` stop early; such commits may be missed.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidInput, SourceUnavailable
from ..core.schema import CONTRACTS, conform, empty_frame
from ..core.time import Window
from .base import Budget, Fetched, Limits, check_frame

if TYPE_CHECKING:
    import pandas as pd

    from ..core.incident import Incident

__all__ = ["COMMIT_COLUMNS", "FETCH_NAMES", "GitSource", "commits"]

#: frames :class:`GitSource` provides (its ``schema.EVIDENCE_KINDS`` entries)
FETCH_NAMES = ("commits",)
#: most commits one fetch returns (the newest are kept)
MAX_COMMITS = 500

#: columns of :func:`commits` (the ``commits`` contract in :mod:`incident_lib.core.schema`)
COMMIT_COLUMNS: tuple[str, ...] = tuple(CONTRACTS["commits"].columns)
_RS, _US = "\x1e", "\x1f"
_FORMAT = f"--format={_RS}%H{_US}%h{_US}%aN{_US}%ct{_US}%s"


def _run(
    git: str, repo: Path, args: Sequence[str], timeout: float, budget: Budget
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat"}
    with budget.spending():
        clipped = budget.clip(timeout)
        try:
            return subprocess.run(
                [git, "-C", str(repo), *args],
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=clipped,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            if clipped < timeout:
                raise budget.used_up(f"git {args[0]} was still running") from None
            raise SourceUnavailable(
                "git", f"git {args[0]} took longer than {timeout:g} s"
            ) from None


def _check_repo(git: str, repo: Path, timeout: float, budget: Budget) -> bool:
    """Raise unless ``repo`` is a git repository; return whether it has a commit."""
    if shutil.which(git) is None:
        raise InvalidInput(f"git executable {git!r} not found; install git or pass git=<path>")
    if not repo.is_dir():
        raise InvalidInput(f"{repo} is not a folder; pass the path of a git clone")
    probe = _run(git, repo, ["rev-parse", "--git-dir"], timeout, budget)
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["not a git repository"])[-1]
        raise InvalidInput(f"{repo} is not a git repository ({why})")
    head = _run(git, repo, ["rev-parse", "--verify", "--quiet", "HEAD"], timeout, budget)
    return head.returncode == 0


def _parse(output: str) -> list[dict[str, object]]:
    rows = []
    for record in output.split(_RS)[1:]:
        header, _, stats = record.partition("\n")
        sha, short, author, stamp, subject = header.split(_US, 4)
        rows.append(
            {
                "time": int(stamp),
                "sha": sha,
                "short_sha": short,
                "author": author,
                "subject": subject,
                "files_changed": sum(1 for line in stats.splitlines() if line.strip()),
            }
        )
    return rows


def commits(
    repo: str | os.PathLike[str],
    window: Window,
    *,
    paths: Sequence[str] = (),
    max_commits: int = MAX_COMMITS,
    git: str = "git",
    timeout: float = 30.0,
    budget: Budget | None = None,
) -> pd.DataFrame:
    """The commits whose committer date falls in ``window``, newest first.

    Parameters
    ----------
    repo
        A local clone (or any folder inside its work tree, or a bare repository).
    window
        Half-open ``[start, end)`` on the committer date.
    paths
        Only commits touching these paths (relative to the repository root);
        ``files_changed`` then counts files under them.
    max_commits
        At most this many (the newest) commits.
    git
        The git executable.
    timeout
        Seconds each git command may take.
    budget
        The time all git commands may take together (default: none).

    Returns
    -------
    pandas.DataFrame
        Columns ``time`` (UTC committer date), ``sha``, ``short_sha``, ``author``
        (name only, never the e-mail), ``subject``, ``files_changed``; empty
        with these columns when no commit matches (or the repository has none).

    Raises
    ------
    InvalidInput
        git is missing, ``repo`` is not a git repository, or ``max_commits`` < 1.
    SourceUnavailable
        git failed, took longer than ``timeout`` or ran out of ``budget``.
    """
    import pandas as pd

    budget = budget if budget is not None else Budget.unlimited("git")
    if max_commits < 1:
        raise InvalidInput(f"max_commits must be at least 1, got {max_commits}")
    root = Path(repo).expanduser()
    if not _check_repo(git, root, timeout, budget):
        return empty_frame("commits")
    # git dates are whole seconds: t >= start <=> t >= ceil(start); t < end <=> t <= ceil(end) - 1
    since = math.ceil(window.start.timestamp())
    until = math.ceil(window.end.timestamp()) - 1
    args = [
        "log",
        "--no-color",
        "--no-show-signature",
        "--diff-merges=first-parent",
        "--numstat",
        f"--max-count={max_commits}",
        f"--since=@{since}",
        f"--until=@{until}",
        _FORMAT,
        "--",
        *paths,
    ]
    done = _run(git, root, args, timeout, budget)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise SourceUnavailable("git", f"git log failed in {root}: {why}")
    rows = _parse(done.stdout)
    if not rows:
        return empty_frame("commits")
    frame = pd.DataFrame(rows, columns=list(COMMIT_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
    return conform(frame, "commits")


class GitSource:
    """The commits of one local clone, as a source the runbook can ask.

    Parameters
    ----------
    repo
        A local clone (or a folder inside its work tree, or a bare repository).
        Nothing is checked until a fetch: offline, the captured commits are read
        whatever the path.
    paths
        Only commits touching these paths (relative to the repository root).
    max_commits
        At most this many (the newest) commits.
    git
        The git executable.
    timeout
        Seconds each git command may take.
    budget
        The time its fetches may take together; default: a
        :class:`~incident_lib.sources.base.Budget` of ``INCIDENT_SOURCE_BUDGET``
        seconds, made at the first fetch (a bad value is refused there, where
        the notebook shows it as the section's reason).
    """

    name: str = "git"
    frames: tuple[str, ...] = FETCH_NAMES

    def __init__(
        self,
        repo: str | os.PathLike[str],
        *,
        paths: Sequence[str] = (),
        max_commits: int = MAX_COMMITS,
        git: str = "git",
        timeout: float = 30.0,
        budget: Budget | None = None,
    ) -> None:
        self.repo = Path(repo).expanduser()
        self.paths = tuple(paths)
        self.max_commits = max_commits
        self.git = git
        self.timeout = timeout
        self._budget = budget

    @property
    def budget(self) -> Budget:
        """The time budget of its fetches (see the class).

        Raises
        ------
        InvalidInput
            ``INCIDENT_SOURCE_BUDGET`` is not a positive number.
        """
        if self._budget is None:
            self._budget = Limits.from_environment(os.environ).new_budget(self.name)
        return self._budget

    def __repr__(self) -> str:
        return f"GitSource({str(self.repo)!r})"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> GitSource:
        """The clone named by ``INCIDENT_GIT_REPO``.

        Raises
        ------
        SourceUnavailable
            ``INCIDENT_GIT_REPO`` is not set (pass the clone to the notebook's
            ``repo`` parameter instead).
        """
        repo = (environ.get("INCIDENT_GIT_REPO") or "").strip()
        if not repo:
            raise SourceUnavailable(
                "git",
                "no repository given: set the notebook's repo parameter (or INCIDENT_GIT_REPO) "
                "to the path of the service's git clone",
            )
        return cls(repo)

    def query(self, frame: str, incident: Incident, window: Window) -> dict[str, Any]:
        """The clone's path, the window and the limits of :meth:`fetch`."""
        check_frame(self, frame)
        query: dict[str, Any] = {
            "repo": str(self.repo),
            "window": str(window),
            "max_commits": self.max_commits,
        }
        if self.paths:
            query["paths"] = list(self.paths)
        return query

    def fetch(
        self, frame: str, incident: Incident, window: Window, *, progress: bool = False
    ) -> Fetched:
        """The commits of the clone in ``window`` (see :func:`commits`).

        When ``max_commits`` commits were returned, a note says older ones may be missing.

        Raises
        ------
        InvalidInput
            git is missing, the path is not a git repository, or the budget's
            setting is not a positive number.
        SourceUnavailable
            git failed or took too long, the time budget is used up, or ``frame``
            is not ``commits``.
        """
        del incident, progress
        check_frame(self, frame)
        found = commits(
            self.repo,
            window,
            paths=self.paths,
            max_commits=self.max_commits,
            git=self.git,
            timeout=self.timeout,
            budget=self.budget,
        )
        notes: tuple[str, ...] = ()
        if len(found) >= self.max_commits:
            notes = (
                f"commits truncated: kept the newest {self.max_commits} of the window in "
                f"{self.repo}",
            )
        return Fetched(found, notes)
