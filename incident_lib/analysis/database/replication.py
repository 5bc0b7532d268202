"""Standbys' lag, one row per standby: what a responder asks of ``pg_stat_replication``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["REPLICATION_COLUMNS", "replication_summary"]

REPLICATION_COLUMNS = [
    "target",
    "application_name",
    "client_addr",
    "state",
    "sync_state",
    "samples",
    "replay_lag_s",
    "worst_replay_lag_s",
    "worst_at",
    "replay_lag_bytes",
]


def replication_summary(replication: pd.DataFrame) -> pd.DataFrame:
    """Each standby's state and replay lag now, and its worst lag over the samples.

    Parameters
    ----------
    replication
        ``pg_replication`` contract frame (one row per standby per sample).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REPLICATION_COLUMNS`, one row per target and standby
        (``application_name`` and ``client_addr``), the most lagging first:
        ``state``, ``sync_state``, ``replay_lag_s`` and ``replay_lag_bytes`` at its
        last sample, ``worst_replay_lag_s`` and when (``worst_at``); lags are NaN
        when the server did not know them.
    """
    import pandas as pd

    if replication.empty:
        return pd.DataFrame(columns=REPLICATION_COLUMNS)
    rows = []
    keys = ["target", "application_name", "client_addr"]
    for (target, name, addr), group in replication.sort_values("sampled_at").groupby(keys):
        last = group.iloc[-1]
        lags = group["replay_lag"]
        known = group[lags.notna()]
        worst_at = (
            known["sampled_at"].iloc[int(known["replay_lag"].argmax())] if len(known) else None
        )
        rows.append(
            {
                "target": target,
                "application_name": name,
                "client_addr": addr,
                "state": last["state"],
                "sync_state": last["sync_state"],
                "samples": len(group),
                "replay_lag_s": float(last["replay_lag"]),
                "worst_replay_lag_s": float(lags.max()),
                "worst_at": worst_at if worst_at is not None else pd.NaT,
                "replay_lag_bytes": float(last["replay_lag_bytes"]),
            }
        )
    out = pd.DataFrame(rows, columns=REPLICATION_COLUMNS)
    out["worst_at"] = pd.to_datetime(out["worst_at"], utc=True)
    return out.sort_values("worst_replay_lag_s", ascending=False, na_position="last").reset_index(
        drop=True
    )
