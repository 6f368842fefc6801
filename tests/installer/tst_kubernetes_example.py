#!/usr/bin/python3
"""The Kubernetes example (installer/examples/kubernetes.yaml) parses and holds what the README
promises: a Deployment of servers with /healthz probes and Prometheus scrape annotations that
match the container port, a Service, and an Ingress with WebSocket-friendly timeouts.
"""
import argparse

from installertest import check, run_main

try:
    import yaml
except ImportError:
    yaml = None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", required=True)
    args = parser.parse_args()
    check(yaml is not None, "python3 cannot import yaml: install the Debian package python3-yaml")

    documents = {doc["kind"]: doc for doc in yaml.safe_load_all(open(args.manifest)) if doc}
    check(set(documents) == {"Deployment", "Service", "Ingress"},
          f"expected a Deployment, a Service and an Ingress, found {sorted(documents)}")

    deployment = documents["Deployment"]
    template = deployment["spec"]["template"]
    check(deployment["spec"]["replicas"] >= 2, "a single replica does not scale out")
    check(deployment["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items(),
          "the Deployment's selector does not match its pods")
    container = template["spec"]["containers"][0]
    check(container["args"][:3] == ["server", "-listen_ws", ":8080"],
          f"the container does not run the server on :8080: {container['args']}")
    port = container["ports"][0]["containerPort"]
    annotations = template["metadata"]["annotations"]
    check(annotations.get("prometheus.io/scrape") == "true"
          and annotations.get("prometheus.io/path") == "/metrics"
          and annotations.get("prometheus.io/port") == str(port),
          f"the Prometheus annotations do not point at /metrics on {port}: {annotations}")
    for probe in ("readinessProbe", "livenessProbe"):
        check(container[probe]["httpGet"]["path"] == "/healthz", f"{probe} is not /healthz")
    security = container["securityContext"]
    check(security["capabilities"]["drop"] == ["ALL"] and security["readOnlyRootFilesystem"]
          and not security["allowPrivilegeEscalation"], f"the container is not locked down: {security}")
    check(template["spec"]["securityContext"]["runAsNonRoot"], "the pod may run as root")

    service = documents["Service"]
    check(service["spec"]["selector"].items() <= template["metadata"]["labels"].items(),
          "the Service does not select the Deployment's pods")
    target = service["spec"]["ports"][0]["targetPort"]
    check(target in (port, container["ports"][0]["name"]), f"the Service targets {target}")

    ingress = documents["Ingress"]
    notes = ingress["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        value = int(notes.get(f"nginx.ingress.kubernetes.io/{timeout}", "0"))
        check(value >= 3600, f"the Ingress {timeout} is {value} s; idle tunnels need an hour")
    check(notes.get("nginx.ingress.kubernetes.io/proxy-buffering") == "off",
          "the Ingress buffers the proxied stream")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    check(backend["name"] == service["metadata"]["name"], "the Ingress does not reach the Service")
    check(ingress["spec"].get("tls"), "the Ingress has no TLS")


if __name__ == "__main__":
    run_main(main)
