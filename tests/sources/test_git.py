"""Git history source against throwaway repositories with commits at fixed dates."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from incident_records import sample_incident

from incident_lib import Window
from incident_lib.core.errors import InvalidInput, SourceUnavailable
from incident_lib.core.schema import validate
from incident_lib.sources.git import COMMIT_COLUMNS, GitSource, commits

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

WINDOW = Window(datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 15, tzinfo=UTC))


def _git(repo: Path, *args: str, date: str | None = None, author: str = "Alice Example") -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": f"{author.split()[0].lower()}@example.com",
        "GIT_COMMITTER_NAME": author,
        "GIT_COMMITTER_EMAIL": f"{author.split()[0].lower()}@example.com",
    }
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _commit(repo: Path, date: str, subject: str, files: dict[str, str], **kw: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
        _git(repo, "add", name)
    _git(repo, "commit", "-q", "-m", subject, date=date, **kw)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    _git(root, "init", "-q", "-b", "main")
    _commit(root, "2026-11-03T13:59:59Z", "before the window", {"README": "a"})
    _commit(root, "2026-11-03T14:00:00Z", "at the start", {"README": "b"})
    _commit(
        root,
        "2026-11-03T16:10:00+02:00",  # 14:10 UTC
        'Fix pool size | tabs\tand ünïcode; "quotes"',
        {"api/pool.py": "1", "api/db.py": "2", "docs/pool.md": "3"},
        author="Bob Builder",
    )
    _git(root, "checkout", "-q", "-b", "feature")
    _commit(root, "2026-11-03T14:20:00Z", "feature work", {"api/feature.py": "x"})
    _git(root, "checkout", "-q", "main")
    _commit(root, "2026-11-03T14:25:00Z", "hotfix on main", {"api/hotfix.py": "y"})
    _git(
        root,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge feature",
        "feature",
        date="2026-11-03T14:30:00Z",
    )
    _commit(root, "2026-11-03T14:59:59Z", "just inside", {"README": "c"})
    _commit(root, "2026-11-03T15:00:00Z", "at the end", {"README": "d"})
    return root


def test_window_is_half_open_on_committer_date(repo):
    found = commits(repo, WINDOW)
    assert list(found["subject"]) == [
        "just inside",
        "Merge feature",
        "hotfix on main",
        "feature work",
        'Fix pool size | tabs\tand ünïcode; "quotes"',
        "at the start",
    ]
    assert found["time"].iloc[-1] == pd.Timestamp(WINDOW.start)
    assert (found["time"] < pd.Timestamp(WINDOW.end)).all()


def test_fields_and_dtypes(repo):
    found = commits(repo, WINDOW)
    assert list(found.columns) == list(COMMIT_COLUMNS)
    validate(found, "commits")  # dtypes: datetime64[ns, UTC], str, int64
    fix = found[found["subject"].str.startswith("Fix pool size")].iloc[0]
    assert fix["time"] == pd.Timestamp("2026-11-03T14:10:00Z")  # +02:00 converted to UTC
    assert fix["author"] == "Bob Builder" and fix["files_changed"] == 3
    assert len(fix["sha"]) == 40 and fix["sha"].startswith(fix["short_sha"])
    merge = found[found["subject"] == "Merge feature"].iloc[0]
    assert merge["files_changed"] == 1  # relative to its first parent
    assert not found.to_string().count("@example.com")  # names only, never e-mails


def test_paths_limit_commits_and_file_counts(repo):
    found = commits(repo, WINDOW, paths=["api/pool.py", "api/db.py"])
    assert list(found["subject"].str[:13]) == ["Fix pool size"]
    assert found["files_changed"].tolist() == [2]


def test_max_commits_keeps_the_newest(repo):
    found = commits(repo, WINDOW, max_commits=2)
    assert list(found["subject"]) == ["just inside", "Merge feature"]
    with pytest.raises(InvalidInput, match="max_commits"):
        commits(repo, WINDOW, max_commits=0)


def test_no_commits_in_the_window_gives_an_empty_frame(repo):
    quiet = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    found = commits(repo, quiet)
    assert found.empty and list(found.columns) == list(COMMIT_COLUMNS)
    assert str(found["time"].dtype) == "datetime64[ns, UTC]"


def test_repository_without_commits(tmp_path):
    _git(tmp_path, "init", "-q")
    found = commits(tmp_path, WINDOW)
    assert found.empty and list(found.columns) == list(COMMIT_COLUMNS)


def test_not_a_repository_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="not a git repository"):
        commits(tmp_path, WINDOW)
    with pytest.raises(InvalidInput, match="not a folder"):
        commits(tmp_path / "missing", WINDOW)


def test_missing_git_is_refused(repo, tmp_path):
    with pytest.raises(InvalidInput, match="not found"):
        commits(repo, WINDOW, git=str(tmp_path / "no-such-git"))


def test_timeline_row_from_a_commit(repo):
    from incident_lib.analysis.changes import changes_timeline

    timeline = changes_timeline(commits=commits(repo, WINDOW, paths=["api/pool.py"]))
    assert timeline.loc[0, "kind"] == "commit" and timeline.loc[0, "source"] == "git"
    assert (
        timeline.loc[0, "label"].startswith("commit ")
        and "(Bob Builder)" in timeline.loc[0, "label"]
    )


# -- the Source protocol ----------------------------------------------------------------------
def _incident():

    return sample_incident(title="5xx")


def test_git_source_fetches_the_commits_and_records_its_query(repo):
    source = GitSource(repo, max_commits=100)

    result = source.fetch("commits", _incident(), WINDOW)

    pd.testing.assert_frame_equal(result.frame, commits(repo, WINDOW, max_commits=100))
    assert result.notes == ()
    assert source.query("commits", _incident(), WINDOW) == {
        "repo": str(repo),
        "window": str(WINDOW),
        "max_commits": 100,
    }


def test_git_source_notes_a_cut_at_max_commits(repo):
    result = GitSource(repo, max_commits=2, paths=["README"]).fetch("commits", _incident(), WINDOW)

    assert len(result.frame) == 2
    assert result.notes and "kept the newest 2" in result.notes[0]


def test_git_source_from_the_environment(repo):
    source = GitSource.from_environment({"INCIDENT_GIT_REPO": str(repo)})

    assert source.repo == repo and source.name == "git" and source.frames == ("commits",)
    with pytest.raises(SourceUnavailable, match="repo parameter"):
        GitSource.from_environment({})


def test_git_source_is_checked_only_when_it_fetches(tmp_path):
    source = GitSource(tmp_path / "nowhere")  # offline, a path of another machine is fine

    with pytest.raises(InvalidInput, match="not a folder"):
        source.fetch("commits", _incident(), WINDOW)
    with pytest.raises(SourceUnavailable, match="no live fetch named 'logs'"):
        source.fetch("logs", _incident(), WINDOW)
