"""take_action: plan and dry run always, the change only when confirmed, every outcome recorded.

Against the fake API server of ``test_kubernetes_actions`` (Deployment ``api`` at
revision 42, ``api:v2.34``; revision 41 ran ``api:v2.33``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from incident_records import sample_incident
from test_kubernetes_actions import NS, act, actor, fake_cluster

from incident_lib.acting import take_action
from incident_lib.core.errors import ActionRefused
from incident_lib.infra.timeline import TimelineStore
from incident_lib.infra.workspace import DEMO_MARKER, create_workspace

INCIDENT = sample_incident(end=None, namespace=NS, start=datetime(2026, 11, 3, 14, 0, tzinfo=UTC))


@pytest.fixture
def kube():
    with fake_cluster() as server:
        yield server


@pytest.fixture
def workspace(tmp_path):
    return create_workspace(INCIDENT, tmp_path / "INC-2026-0042")


def _actions(workspace) -> list[tuple[str, str]]:
    return [(e.kind, e.summary) for e in TimelineStore(workspace).read() if e.source == "actions"]


def test_without_confirm_it_plans_dry_runs_and_records_but_changes_nothing(kube, workspace):
    taken = take_action(workspace, act("rollback"), live=True, actor=actor(kube), by="bruno")

    assert [r.method for r in kube.writes()] == ["PATCH"]  # the server-side dry run only
    assert kube.writes()[0].query.get("dryRun") == "All"
    assert taken.result.outcome == "planned" and taken.result.dry_run
    assert "server-side dry run accepted" in taken.dry_run
    assert taken.plan is not None and "withheld" in taken.plan.patch
    assert taken.plan.command == "kubectl rollout undo deployment/api --to-revision=41 -n prod"
    ((kind, summary),) = _actions(workspace)
    assert kind == "dry_rollback" and "by bruno: planned" in summary


def test_confirmed_with_the_target_named_it_changes_and_records(kube, workspace):
    taken = take_action(
        workspace,
        act("rollback"),
        live=True,
        confirm=True,
        target="api",
        follow=False,
        actor=actor(kube),
        by="bruno",
    )

    patches = [r for r in kube.writes() if "dryRun" not in r.query]
    assert len(patches) == 1 and patches[0].path.endswith("/deployments/api")
    assert taken.result.outcome == "applied" and not taken.result.dry_run
    assert _actions(workspace)[-1][0] == "rollback"


@pytest.mark.parametrize("target", ["", "web", "Deployment/api"])
def test_confirm_without_naming_the_target_changes_nothing(kube, workspace, target):
    with pytest.raises(ActionRefused, match="exactly to apply it: target='api'"):
        take_action(
            workspace, act("rollback"), live=True, confirm=True, target=target, actor=actor(kube)
        )
    assert all(r.query.get("dryRun") == "All" for r in kube.writes())
    assert _actions(workspace)[-1][0] == "rollback"  # the refusal is on the timeline
    assert "refused" in _actions(workspace)[-1][1]


def test_offline_and_demo_workspaces_never_reach_the_cluster(kube, workspace):
    with pytest.raises(ActionRefused, match="offline"):
        take_action(workspace, act("scale", replicas="6"), live=False, actor=actor(kube))
    (workspace.path / DEMO_MARKER).write_text("connection-leak\n")
    with pytest.raises(ActionRefused, match="demo workspace"):
        take_action(
            workspace,
            act("scale", replicas="6"),
            live=True,
            confirm=True,
            target="api",
            actor=actor(kube),
        )
    assert kube.requests == [] and _actions(workspace) == []


def test_an_object_changed_since_the_plan_is_refused_and_recorded(kube, workspace):
    racing = actor(kube)
    real_apply = racing.apply

    def apply_after_someone_else(plan, **kw):  # another responder scales api meanwhile
        other = actor(kube)
        other.apply(other.plan(act("scale", replicas="6")), confirm=True, target="api")
        return real_apply(plan, **kw)

    racing.apply = apply_after_someone_else  # type: ignore[method-assign]
    with pytest.raises(ActionRefused, match="changed since"):
        take_action(workspace, act("rollback"), live=True, confirm=True, target="api", actor=racing)
    assert kube.get("deployments", NS, "api")["spec"]["replicas"] == 6  # theirs, not ours
    kind, summary = _actions(workspace)[-1]
    assert kind == "rollback" and "refused" in summary


def test_a_config_revert_goes_to_the_kubernetes_actor(tmp_path):
    from incident_lib.acting import actor_for
    from incident_lib.actions import KubernetesActor
    from incident_lib.core.actions import Action

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(KUBECONFIG.format(url="https://127.0.0.1:1"))
    revert = Action(kind="config_revert", workload="ConfigMap/api-config", namespace=NS)
    chosen = actor_for(revert, {"KUBECONFIG": str(kubeconfig)})
    assert isinstance(chosen, KubernetesActor) and not chosen.can_write
    chosen.close()


# -- incident act: the command line ----------------------------------------------------------
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
users:
- name: reader
  user:
    token: read-token-0000
- name: responder
  user:
    token: write-token-1111
contexts:
- name: read
  context: {{cluster: fake, user: reader}}
- name: write
  context: {{cluster: fake, user: responder}}
current-context: read
"""


def _cli(monkeypatch, kube, tmp_path, *argv: str, write: bool = True) -> tuple[int, str, str]:
    import contextlib
    import io

    from incident_lib.cli import main

    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG.format(url=kube.url))
    monkeypatch.setenv("KUBECONFIG", str(config))
    if write:
        monkeypatch.setenv("INCIDENT_KUBE_WRITE_CONTEXT", "write")
    else:
        monkeypatch.delenv("INCIDENT_KUBE_WRITE_CONTEXT", raising=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_incident_act_dry_runs_then_applies_with_the_write_context(
    kube, workspace, tmp_path, monkeypatch
):
    ws = str(workspace.path)
    args = (
        "act",
        ws,
        "--action",
        "scale",
        "--workload",
        "Deployment/api",
        "--params",
        "replicas=6",
    )

    code, out, _ = _cli(monkeypatch, kube, tmp_path, *args)
    assert code == 0 and "planned: nothing changed" in out and "kubectl scale" in out
    assert kube.get("deployments", NS, "api")["spec"]["replicas"] == 4

    code, out, err = _cli(
        monkeypatch, kube, tmp_path, *args, "--confirm", "--target", "api", "--no-follow"
    )
    assert code == 0 and out.splitlines()[-1].startswith("applied:")
    assert "--mode live --notebooks 09 10" in err  # where its effect will be measured
    assert kube.get("deployments", NS, "api")["spec"]["replicas"] == 6
    tokens = {r.headers.get("authorization") for r in kube.writes() if "dryRun" not in r.query}
    assert tokens == {"Bearer write-token-1111"}  # the write context, not the read one


def test_incident_act_refuses_with_exit_2(kube, workspace, tmp_path, monkeypatch):
    ws = str(workspace.path)
    code, _, err = _cli(
        monkeypatch, kube, tmp_path,
        "act", ws, "--action", "scale", "--workload", "Deployment/api", "--params", "revision=3",
    )  # fmt: skip
    assert code == 2 and "scale takes no parameter ['revision']" in err
    code, _, err = _cli(
        monkeypatch, kube, tmp_path,
        "act", ws, "--action", "restart", "--workload", "Deployment/api",
        "--confirm", "--target", "api", write=False,
    )  # fmt: skip
    assert code == 2 and "no write credentials (set INCIDENT_KUBE_WRITE_CONTEXT to" in err
    assert [r for r in kube.writes() if "dryRun" not in r.query] == []


# -- the effect of an action on the timeline ---------------------------------------------------
def test_a_final_effect_is_recorded_once_and_an_early_one_not_at_all(workspace):
    from incident_lib.analysis.mitigation import ActionEffect
    from incident_lib.core.actions import Action, ActionResult, action_event
    from incident_lib.runbook import start_runbook

    at = datetime(2026, 11, 3, 14, 31, tzinfo=UTC)
    applied = action_event(
        ActionResult(
            action=Action(kind="rollback", workload="Deployment/api", namespace=NS),
            outcome="applied",
            dry_run=False,
            at=at,
            by="alice",
        )
    )
    TimelineStore(workspace).append([applied])
    rb = start_runbook("09_mitigate", workspace=workspace.path, mode="offline")

    def effect(verdict: str, after: float) -> ActionEffect:
        return ActionEffect(
            metric="error_ratio",
            at=at,
            before=11.8,
            after=after,
            change=after / 11.8 - 1,
            verdict=verdict,  # type: ignore[arg-type]
            until=datetime(2026, 11, 3, 14, 41, tzinfo=UTC),
        )

    assert not rb.record_effect(applied, effect("too early", 0.5))
    assert rb.record_effect(applied, effect("helped", 0.4))
    assert not rb.record_effect(applied, effect("helped", 0.3))  # one effect per action
    (recorded,) = [e for e in TimelineStore(workspace).read() if e.kind == "effect"]
    assert recorded.time == datetime(2026, 11, 3, 14, 41, tzinfo=UTC)
    assert recorded.summary.startswith("effect of roll back Deployment/api")
    assert "11.80 % -> 0.40 % (-97%): helped" in recorded.summary
    assert recorded.evidence.endswith("/metrics")
