"""The Helm chart through Helm's own library (helm-sdkpy, PyPI).

  chart.py lint                       helm lint; exits 1 on a warning or an error
  chart.py install KUBECONFIG NAMESPACE RELEASE VALUES_JSON
                                      helm install (not waiting for pods: the test
                                      servers run none) and prints the release as JSON:
                                      {"manifest": "...", "hooks": ["..."]}

The install is driven by tests/it/chart.rs against a real kube-apiserver."""

import asyncio
import json
import sys
from pathlib import Path

import helm_sdkpy

CHART = str(Path(__file__).resolve().parents[2] / "charts" / "fasterclaw")
WARNING = 2


def run(result):
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


def quietly(action):
    """Runs `action` with file descriptor 2 closed to Helm's own log lines (lint renders
    the templates without values, so `required` logs a warning for existingSecret)."""
    import os

    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            return action()
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def lint():
    report = quietly(lambda: run(helm_sdkpy.Lint(helm_sdkpy.Configuration()).run(CHART)))
    problems = [m for m in report.get("Messages") or [] if m.get("Severity", 0) >= WARNING]
    problems += report.get("Errors") or []
    if problems:
        print("helm lint:", json.dumps(problems, indent=2), file=sys.stderr)
        return 1
    print(f"helm lint: {report.get('TotalChartsLinted')} chart(s), no warnings")
    return 0


def install(kubeconfig, namespace, release, values_json):
    config = helm_sdkpy.Configuration(namespace=namespace, kubeconfig=kubeconfig)
    result = run(
        helm_sdkpy.Install(config).run(
            release, CHART, values=json.loads(values_json), wait=False, timeout=120
        )
    )
    hooks = [h.get("manifest", "") for h in result.get("hooks") or []]
    print(json.dumps({"manifest": result.get("manifest", ""), "hooks": hooks}))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["lint"]:
        sys.exit(lint())
    if sys.argv[1:2] == ["install"] and len(sys.argv) == 6:
        sys.exit(install(*sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
