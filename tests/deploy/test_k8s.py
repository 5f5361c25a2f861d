"""deploy/k8s/: validated, not run (no cluster, no helm here). Properties of the deployment are
checked rather than its values copied: one image everywhere, the run launcher is the
K8sRunLauncher, the data root is one shared volume, no secret is written out. With dagster-k8s
installed, the launcher config the chart renders is validated against dagster-k8s's own schema
and turned into the Kubernetes Job a run gets."""

import re
import tomllib
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
VALUES = yaml.safe_load((K8S / "values.yaml").read_text())
RELEASE_NAMESPACE = "reer"  # `helm install -n reer`, as the README says
SECRETISH = re.compile(r"(?i)(password|passwd|secret|token|api_?key|credential|private_?key)")
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]*:[^/\s@]+@")


def deployment() -> dict:
    [only] = VALUES["dagster-user-deployments"]["deployments"]
    return only


def env_of(deploy: dict) -> dict[str, Any]:
    return {e["name"]: e for e in deploy["env"]}


def image_of(deploy: dict) -> str:
    return f"{deploy['image']['repository']}:{deploy['image']['tag']}"


def test_run_launcher_is_k8s_and_reaches_the_cluster():
    launcher = VALUES["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    assert k8s.get("loadInclusterConfig") or k8s.get("kubeconfigFile")


def test_every_image_is_the_one_the_dockerfile_builds():
    """The image built, pushed and deployed is one image: each `-t` in the docs is the code
    server's, and run pods get it from the code server (includeConfigInLaunchedRuns)."""
    deploy = deployment()
    named = re.findall(r"(?:-t|push) (\S+:\S+)", (K8S / "Dockerfile").read_text())
    named += re.findall(r"(?:-t|push) (\S+:\S+)", (K8S / "README.md").read_text())
    assert named and set(named) == {image_of(deploy)}
    assert deploy["includeConfigInLaunchedRuns"]["enabled"] is True
    assert "image" not in VALUES["runLauncher"]["config"]["k8sRunLauncher"]


def test_the_chart_version_is_the_installed_dagster():
    """The Helm chart is versioned with dagster: the command installs the one we test with."""
    pinned = set(re.findall(r"dagster/dagster --version (\S+)", (K8S / "README.md").read_text()))
    pinned |= set(re.findall(r"dagster/dagster --version (\S+)", (K8S / "values.yaml").read_text()))
    assert pinned == {version("dagster")}


def test_the_image_pins_torch_as_the_makefile_does():
    pins = {
        path.name: set(re.findall(r"torch==([\w.]+)", path.read_text()))
        for path in (ROOT / "Makefile", K8S / "Dockerfile")
    }
    assert len(set(map(frozenset, pins.values()))) == 1 and all(pins.values()), pins


def test_pools_get_the_limit_the_local_instance_gives_them():
    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]["pools"]
    chart = VALUES["concurrency"]
    assert chart["enabled"] and chart["pools"]["defaultLimit"] == local["default_limit"]


def test_user_code_deployment_serves_this_project():
    user = VALUES["dagster-user-deployments"]
    assert user["enabled"] and user["enableSubchart"]
    deploy = deployment()
    module = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    args = deploy["dagsterApiGrpcArgs"]
    flag = next(i for i, a in enumerate(args) if a in ("-m", "--module-name"))
    assert args[flag + 1] == module
    assert str(deploy["image"]["tag"]) not in ("", "latest")  # every run gets the same code
    assert "resources" not in deploy  # it would override the run launcher's for every run pod


def test_data_root_is_a_shared_volume():
    deploy = deployment()
    data_dir = env_of(deploy)["REER_DATA_DIR"]["value"]
    [mount] = [m for m in deploy["volumeMounts"] if m["mountPath"] == data_dir]
    [volume] = [v for v in deploy["volumes"] if v["name"] == mount["name"]]
    pvc = yaml.safe_load((K8S / "pvc.yaml").read_text())
    assert pvc["kind"] == "PersistentVolumeClaim"
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    assert env_of(deploy)["REER_EXECUTOR"]["value"] in ("multiprocess", "k8s")


def test_postgres_storage_is_the_local_deploys_with_its_password_from_a_secret():
    pg = VALUES["postgresql"]
    local = yaml.safe_load((ROOT / "deploy" / "postgres" / "dagster.yaml").read_text())
    assert pg["postgresqlScheme"] == local["storage"]["postgres"]["postgres_db"]["scheme"]
    assert pg["enabled"] or pg["postgresqlHost"]  # the bundled server, or an external one
    assert not pg.get("postgresqlPassword") and not VALUES["generatePostgresqlPasswordSecret"]
    assert VALUES["global"]["postgresqlSecretName"]


def test_postgres_block_the_chart_renders_is_valid_dagster_config(monkeypatch):
    """The chart's `dagsterYaml.postgresql.config` block, validated by dagster's own schema."""
    pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed")
    from dagster._config import process_config
    from dagster._core.storage.config import pg_config
    from dagster_postgres.utils import pg_url_from_config

    pg = VALUES["postgresql"]
    rendered = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},  # from global.postgresqlSecretName
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg.get("postgresqlParams", {}),
            "scheme": pg["postgresqlScheme"],
        }
    }
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-secret")
    result = process_config(pg_config(), rendered)
    assert result.success, result.errors
    url = pg_url_from_config(result.value)
    assert url.startswith("postgresql+psycopg2://dagster:from-the-secret@")


def literal_secrets(doc: Any, path: str = "") -> Iterator[str]:
    """Paths in a YAML document where a secret seems to be written out rather than referenced."""
    if isinstance(doc, dict):
        if doc.keys() == {"env"}:  # a Dagster `env:` reference
            return
        if set(doc) >= {"name", "value"} and SECRETISH.search(str(doc["name"])):
            if doc["value"] not in ("", None):  # env entries must use valueFrom.secretKeyRef
                yield f"{path}.{doc['name']}"
        for key, value in doc.items():
            sub = f"{path}.{key}"
            names_a_secret = str(key).endswith(("SecretName", "Secrets", "secretKeyRef"))
            literal = isinstance(value, str | int | float) and not isinstance(value, bool)
            if literal and SECRETISH.search(str(key)) and not names_a_secret and value != "":
                yield sub
            if not names_a_secret:
                yield from literal_secrets(value, sub)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from literal_secrets(item, f"{path}[{i}]")
    elif isinstance(doc, str) and URL_WITH_PASSWORD.search(doc):
        yield path


def test_the_secret_check_catches_literals():
    bad = {
        "postgresql": {"postgresqlPassword": "hunter2"},
        "env": [{"name": "OPENAI_API_KEY", "value": "sk-123"}],
        "broker": "redis://:pw@redis:6379/0",
    }
    assert sorted(literal_secrets(bad)) == [
        ".broker",
        ".env[0].OPENAI_API_KEY",
        ".postgresql.postgresqlPassword",
    ]
    good = {
        "global": {"postgresqlSecretName": "pg"},
        "envSecrets": [{"name": "keys"}],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    }
    assert list(literal_secrets(good)) == []


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "deploy").rglob("*.yaml")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_literal_secrets_in_deploy(path: Path):
    for doc in yaml.safe_load_all(path.read_text()):
        assert list(literal_secrets(doc)) == [], path


def test_every_secret_referenced_is_documented():
    readme = (K8S / "README.md").read_text()
    names = {VALUES["global"]["postgresqlSecretName"]}
    names |= {s["name"] for s in deployment().get("envSecrets", [])}
    names |= {s["name"] for s in VALUES["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    for name in names:
        assert f"create secret generic {name}" in readme, name
    assert "postgresql-password" in readme


def chart_run_launcher_config() -> dict:
    """What the chart's `dagsterYaml.runLauncher.k8s` template renders from these values."""
    k8s = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    config = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or RELEASE_NAMESPACE,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": "reer-dagster",
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": "reer-dagster-instance",
        "postgres_password_secret": VALUES["global"]["postgresqlSecretName"],
    }
    if k8s.get("kubeconfigFile"):
        config["kubeconfig_file"] = k8s["kubeconfigFile"]
    optional = {
        "envConfigMaps": ("env_config_maps", lambda v: [c["name"] for c in v]),
        "envSecrets": ("env_secrets", lambda v: [s["name"] for s in v]),
        "envVars": ("env_vars", list),
        "volumeMounts": ("volume_mounts", list),
        "volumes": ("volumes", list),
        "labels": ("labels", dict),
        "resources": ("resources", dict),
        "schedulerName": ("scheduler_name", str),
        "securityContext": ("security_context", dict),
    }
    for key, (field, convert) in optional.items():
        if k8s.get(key):
            config[field] = convert(k8s[key])
    if k8s.get("runK8sConfig"):
        run = k8s["runK8sConfig"]
        config["run_k8s_config"] = {
            snake: run[camel]
            for camel, snake in [
                ("containerConfig", "container_config"),
                ("podSpecConfig", "pod_spec_config"),
                ("podTemplateSpecMetadata", "pod_template_spec_metadata"),
                ("jobSpecConfig", "job_spec_config"),
                ("jobMetadata", "job_metadata"),
            ]
            if run.get(camel)
        }
    return config


def test_run_launcher_config_is_valid_for_dagster_k8s():
    pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed")
    from dagster._config import validate_config
    from dagster_k8s import K8sRunLauncher

    result = validate_config(K8sRunLauncher.config_type(), chart_run_launcher_config())
    assert result.success, [e.message for e in result.errors]


def test_the_job_a_run_gets():
    """The Kubernetes Job the K8sRunLauncher would create for a run, built offline by dagster-k8s
    from the launcher config merged with the code location's container context (what the chart
    passes on with includeConfigInLaunchedRuns)."""
    pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed")
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
    )

    launcher = chart_run_launcher_config()
    deploy = deployment()
    from_launcher = K8sContainerContext(
        image_pull_policy=launcher["image_pull_policy"],
        service_account_name=launcher["service_account_name"],
        env_secrets=launcher.get("env_secrets", []),
        env_vars=launcher.get("env_vars", []),
        volume_mounts=launcher.get("volume_mounts", []),
        volumes=launcher.get("volumes", []),
        resources=launcher.get("resources", {}),
        namespace=launcher["job_namespace"],
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(launcher.get("run_k8s_config", {})),
    )
    from_code_location = K8sContainerContext.create_from_config(
        {
            "k8s": {
                "image_pull_policy": deploy["image"]["pullPolicy"],
                "env_secrets": [s["name"] for s in deploy.get("envSecrets", [])],
                "env": deploy["env"],
                "volumes": deploy["volumes"],
                "volume_mounts": deploy["volumeMounts"],
                "namespace": RELEASE_NAMESPACE,
            }
        }
    )
    context = from_launcher.merge(from_code_location)
    image = image_of(deploy)  # what the code server reports as DAGSTER_CURRENT_IMAGE
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(
            job_image=image,
            dagster_home=launcher["dagster_home"],
            instance_config_map=launcher["instance_config_map"],
            postgres_password_secret=launcher["postgres_password_secret"],
        ),
        args=["dagster", "api", "execute_run", "{}"],
        job_name="dagster-run-0123",
        user_defined_k8s_config=context.run_k8s_config,
        component="run_worker",
    )
    [container] = job.spec.template.spec.containers
    env = {e.name: e for e in container.env}
    pg = env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref
    assert (pg.name, pg.key) == (VALUES["global"]["postgresqlSecretName"], "postgresql-password")
    data_dir = env_of(deploy)["REER_DATA_DIR"]["value"]
    assert env["REER_DATA_DIR"].value == data_dir
    secrets = {s["name"] for s in deploy.get("envSecrets", [])} | set(launcher["env_secrets"])
    assert secrets <= {f.secret_ref.name for f in container.env_from if f.secret_ref}
    assert [m.mount_path for m in container.volume_mounts if m.mount_path == data_dir]
    claims = {
        v.persistent_volume_claim.claim_name
        for v in job.spec.template.spec.volumes
        if v.persistent_volume_claim
    }
    assert claims == {yaml.safe_load((K8S / "pvc.yaml").read_text())["metadata"]["name"]}
    assert container.resources.limits["memory"] == launcher["resources"]["limits"]["memory"]
    for e in container.env:  # nothing secret-looking is passed by value
        assert not (SECRETISH.search(e.name) and e.value), e.name
