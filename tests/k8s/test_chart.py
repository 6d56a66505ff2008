"""The Helm chart as `helm lint` and the Kubernetes API see it, without a cluster: it lints strictly,
every manifest it renders (with the defaults, in dev mode and as production would set it) is one
the API server of the cluster's version accepts, wrong values are refused by values.schema.json,
and the rendered pods carry the settings the issue asks for. The chart on a real cluster is
tests/k8s/cluster (`make k8s-test`)."""
import pytest

from tests.k8s.conftest import CHART, KUBE_VERSION, VALUES_FILES, by_kind, pod_specs, render

APP_SERVICES = ("gateway", "auth", "converter", "notification")


@pytest.mark.parametrize("values", VALUES_FILES)
def test_the_chart_passes_helm_lint_strict(helm, values):
    args = ["lint", "--strict", *KUBE_VERSION, str(CHART)]
    if VALUES_FILES[values]:
        args += ["--values", str(VALUES_FILES[values])]
    result = helm(*args)
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", VALUES_FILES)
def test_every_rendered_manifest_is_valid_against_the_kubernetes_api_schema(rendered, kubernetes_schemas, values):
    documents = rendered[values]
    problems = [problem for document in documents for problem in kubernetes_schemas.problems(document)]
    assert problems == []
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy"} \
        <= {document["kind"] for document in documents}


def test_the_schema_check_itself_refuses_a_misspelt_field_and_a_wrong_type(rendered, kubernetes_schemas):
    deployment = next(document for document in rendered["default"] if document["kind"] == "Deployment")
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    wrong_type = {**deployment, "spec": {**deployment["spec"], "minReadySeconds": "soon"}}
    assert any("'replica' was unexpected" in problem for problem in kubernetes_schemas.problems(misspelt))
    assert any("minReadySeconds" in problem for problem in kubernetes_schemas.problems(wrong_type))


@pytest.mark.parametrize(("assignment", "field"), [
    ("environment=staging", "/environment'"),
    ("gateway.replicas=0", "/gateway/replicas'"),
    ("gateway.replica=3", "'replica'"),
    ("keda.maxReplicaCount=many", "/keda/maxReplicaCount'"),
    ("image.pullPolicy=Sometimes", "/image/pullPolicy'"),
    ("maxUploadBytes=-1", "/maxUploadBytes'"),
    ("publicBaseUrl=mp3.example.com", "/publicBaseUrl'"),
    ("secrets.existingSecret=", "/secrets/existingSecret'"),
    ("externals.smtp.security=ssl", "/externals/smtp/security'"),
    ("gateway.loginRateLimit=ten", "/gateway/loginRateLimit'"),
])
def test_a_wrong_value_is_refused_by_the_values_schema(helm, assignment, field):
    result = render(helm, None, assignment, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert field in result.stderr


def test_asking_the_chart_for_a_secret_without_its_values_fails_with_the_missing_one(helm):
    result = render(helm, None, "secrets.create=true", check=False)
    assert result.returncode != 0
    assert "secrets.jwtPrivateKey is required" in result.stderr


@pytest.mark.parametrize("values", VALUES_FILES)
def test_every_pod_runs_non_root_read_only_without_privileges_under_a_seccomp_profile(rendered, values):
    for name, spec in pod_specs(rendered[values]).items():
        if "-rabbitmq" in name or "-mongodb" in name or "-mysql" in name or "-mailpit" in name:
            # dev mode's third-party images start as root and drop privileges themselves.
            assert all(c["securityContext"]["allowPrivilegeEscalation"] is False for c in spec["containers"]), name
            continue
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name


def test_each_service_has_probes_on_its_health_endpoints_resources_and_a_writable_tmp(rendered):
    deployments = by_kind(rendered["default"], "Deployment")
    for service in APP_SERVICES:
        spec = deployments[f"mp3-converter-{service}"]["spec"]["template"]["spec"]
        [container] = spec["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_scratch_volumes_hold_the_largest_upload_and_the_grace_covers_the_drain(helm):
    documents = render(helm, None, "maxUploadBytes=1000000", "gateway.uploadsInFlight=3")
    deployments = by_kind(documents, "Deployment")
    gateway = deployments["mp3-converter-gateway"]["spec"]["template"]["spec"]
    converter = deployments["mp3-converter-converter"]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in gateway["volumes"] + converter["volumes"]}
    assert volumes["uploads"]["emptyDir"]["sizeLimit"] == 3000000
    assert volumes["work"]["emptyDir"]["sizeLimit"] == 2000000
    [gateway_container] = gateway["containers"]
    assert gateway_container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    # preStop pause + gunicorn's graceful_timeout (30 s) + slack; SHUTDOWN_GRACE_SECONDS + slack.
    assert gateway["terminationGracePeriodSeconds"] == 40
    assert converter["terminationGracePeriodSeconds"] == 30
    configs = by_kind(documents, "ConfigMap")
    assert configs["mp3-converter-gateway"]["data"]["MAX_UPLOAD_BYTES"] == "1000000"


def test_production_is_the_default_environment_and_no_secret_is_in_a_config_map(rendered):
    for config in by_kind(rendered["default"], "ConfigMap").values():
        assert config["data"]["ENVIRONMENT"] == "production"
    dev_secret = by_kind(rendered["dev"], "Secret")["mp3-converter-secrets"]["stringData"]
    config_text = str([config["data"] for config in by_kind(rendered["dev"], "ConfigMap").values()])
    for key in ("jwt-private.pem", "download-link.key"):
        assert dev_secret[key].strip() not in config_text
    for name, deployment in by_kind(rendered["default"], "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                assert "value" not in variable or "PASSWORD" not in variable["name"], name
    deployments = by_kind(rendered["default"], "Deployment").values()
    secret_volumes = [volume["secret"]["secretName"] for deployment in deployments
                      for volume in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in volume]
    assert set(secret_volumes) == {"mp3-converter-secrets"}


def test_the_ingress_body_limit_follows_max_upload_bytes_and_the_gateway_scales_on_cpu(rendered, helm):
    [ingress] = by_kind(rendered["production"], "Ingress").values()
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "1048577k"
    assert by_kind(rendered["default"], "Ingress") == {}
    [autoscaler] = by_kind(rendered["default"], "HorizontalPodAutoscaler").values()
    assert autoscaler["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    budgets = by_kind(rendered["default"], "PodDisruptionBudget")
    assert set(budgets) == {"mp3-converter-gateway", "mp3-converter-converter"}


def test_keda_scales_the_converters_on_the_video_queue_only_when_enabled(rendered):
    assert by_kind(rendered["default"], "ScaledObject") == {}
    assert "replicas" in by_kind(rendered["default"], "Deployment")["mp3-converter-converter"]["spec"]
    [scaled] = by_kind(rendered["production"], "ScaledObject").values()
    assert scaled["spec"]["scaleTargetRef"]["name"] == "mp3-converter-converter"
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == "video"
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 20)
    # KEDA owns the replica count: a fixed one in the Deployment would fight it at each upgrade.
    assert "replicas" not in by_kind(rendered["production"], "Deployment")["mp3-converter-converter"]["spec"]


def components(peers):
    return [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in peers]


def test_auth_takes_traffic_from_the_gateway_only_and_dev_servers_only_from_their_clients(rendered):
    policies = by_kind(rendered["dev"], "NetworkPolicy")
    [auth_rule] = policies["mp3-converter-auth"]["spec"]["ingress"]
    assert components(auth_rule["from"]) == ["gateway"]
    [mysql_rule] = policies["mp3-converter-mysql"]["spec"]["ingress"]
    assert components(mysql_rule["from"]) == ["auth"]
    for worker in ("converter", "notification"):
        assert policies[f"mp3-converter-{worker}"]["spec"]["ingress"] == []
    [gateway_rule] = policies["mp3-converter-gateway"]["spec"]["ingress"]
    assert "from" not in gateway_rule


def test_dev_mode_runs_the_servers_in_the_release_and_production_runs_none(rendered):
    dev_deployments = set(by_kind(rendered["dev"], "Deployment"))
    assert {f"mp3-converter-{server}" for server in ("rabbitmq", "mongodb", "mysql", "mailpit")} <= dev_deployments
    assert len(by_kind(rendered["production"], "Deployment")) == 4
    auth_config = by_kind(rendered["production"], "ConfigMap")["mp3-converter-auth"]["data"]
    assert auth_config["MYSQL_HOST"] == "mysql.db.example.internal"
