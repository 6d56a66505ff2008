"""The Helm chart without a cluster: helm from the Go module proxy (scripts/k8s/tools.sh), and the
Kubernetes API's own schema, of the version the test cluster runs, to check what it renders."""
import copy
import json
import subprocess

import jsonschema
import pytest
import yaml

from harness.stack import REPO

CHART = REPO / "deploy" / "helm" / "mp3-converter"
TOOLS = REPO / "scripts" / "k8s" / "tools.sh"
CACHE = REPO / ".cache" / "k8s"
# The values files `make test` renders besides the defaults.
VALUES_FILES = {"default": None, "dev": CHART / "ci" / "dev-values.yaml",
                "production": CHART / "ci" / "production-values.yaml"}


def tool_version(name):
    """A version pinned in scripts/k8s/tools.sh, the one place that names them."""
    for line in TOOLS.read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} is not pinned in {TOOLS}")


# Rendered for the Kubernetes version the test cluster runs (helm's default without a cluster is
# 1.20, older than the chart's kubeVersion).
KUBE_VERSION = ["--kube-version", tool_version("KUBERNETES_VERSION")]


@pytest.fixture(scope="session")
def helm():
    """The helm binary, built once from the Go module proxy into .cache/k8s/bin."""
    subprocess.run(["bash", str(TOOLS), "helm", "schemas"], check=True, timeout=1800)
    binary = CACHE / "bin" / "helm"

    def run(*args, check=True):
        result = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    return run


def render(helm, values_file=None, *set_args, check=True):
    """`helm template` of the chart: its documents, or the failed result when check is False."""
    args = ["template", "mp3-converter", str(CHART), "--namespace", "mp3", *KUBE_VERSION]
    if values_file:
        args += ["--values", str(values_file)]
    for assignment in set_args:
        args += ["--set", assignment]
    result = helm(*args, check=check)
    if not check:
        return result
    return [document for document in yaml.load_all(result.stdout, Loader=yaml.CSafeLoader) if document]


def _strict(schema):
    """kubectl's reading of the OpenAPI document: an object with properties allows no others."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        for value in schema.values():
            _strict(value)
    elif isinstance(schema, list):
        for value in schema:
            _strict(value)
    return schema


class KubernetesSchemas:
    """Validators for each kind the chart may render, from the same sources the API server uses."""

    def __init__(self):
        openapi = json.loads((CACHE / "schemas" / f"kubernetes-{tool_version('KUBERNETES_VERSION')}.json").read_text())
        definitions = _strict(openapi["definitions"])
        # Written as strings or numbers in manifests; the API server converts both.
        definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
        definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["string", "number"]}
        self.definitions = definitions
        self.validators = {}
        self.kinds = {}
        for name, definition in definitions.items():
            for gvk in definition.get("x-kubernetes-group-version-kind", []):
                api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                self.kinds[(api_version, gvk["kind"])] = name
        # The two KEDA kinds the chart renders (the others' CRDs are large and never needed here).
        keda_crds = CACHE / "schemas" / f"keda-{tool_version('KEDA_VERSION')}"
        for crd_file in (keda_crds / "keda.sh_scaledobjects.yaml", keda_crds / "keda.sh_triggerauthentications.yaml"):
            crd = yaml.load(crd_file.read_text(), Loader=yaml.CSafeLoader)
            for version in crd["spec"]["versions"]:
                schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                # metadata is checked by the API server's ObjectMeta, not by the CRD's schema.
                schema["properties"]["metadata"] = {"type": "object"}
                api_version = f"{crd['spec']['group']}/{version['name']}"
                self.validators[(api_version, crd["spec"]["names"]["kind"])] = jsonschema.Draft7Validator(schema)

    def problems(self, document):
        """What the API would refuse in ``document``, as readable lines (none when it is valid)."""
        key = (document.get("apiVersion"), document.get("kind"))
        if key not in self.validators and key in self.kinds:
            schema = {"$ref": f"#/definitions/{self.kinds[key]}", "definitions": self.definitions}
            self.validators[key] = jsonschema.Draft4Validator(schema)
        validator = self.validators.get(key)
        if validator is None:
            return [f"{key}: no such kind in Kubernetes {tool_version('KUBERNETES_VERSION')} or KEDA"]
        name = document.get("metadata", {}).get("name")
        return [f"{key[1]} {name}: {'.'.join(map(str, error.absolute_path))}: {error.message}"
                for error in validator.iter_errors(document)]


@pytest.fixture(scope="session")
def kubernetes_schemas(helm):
    return KubernetesSchemas()


@pytest.fixture(scope="session")
def rendered(helm):
    """The chart rendered with each values file, once for the session."""
    return {name: render(helm, values_file) for name, values_file in VALUES_FILES.items()}


def by_kind(documents, kind):
    return {document["metadata"]["name"]: document for document in documents if document["kind"] == kind}


def pod_specs(documents):
    """Every pod template the documents define (Deployments and the test Pod), by name."""
    deployments = by_kind(documents, "Deployment")
    specs = {name: deployment["spec"]["template"]["spec"] for name, deployment in deployments.items()}
    specs.update({name: pod["spec"] for name, pod in by_kind(documents, "Pod").items()})
    return specs


@pytest.fixture
def write_values(tmp_path):
    def write(values):
        path = tmp_path / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        return path
    return write

