"""A real Alertmanager for tests and benchmarks: Debian's `prometheus-alertmanager` on
127.0.0.1, as the server user of `incident_lab.services` when we are root, with no
cluster gossip (`--cluster.listen-address=` empty), its config given as YAML text."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from incident_lab.exceptions import IncidentLabError
from incident_lab.services import free_port
from incident_lab.testing.prometheus import Service, program

PACKAGE = "prometheus-alertmanager"


def receiver_config(url: str, token: str, *, group_wait: str = "1s", group_interval: str = "1s") -> str:
    """One route to a webhook receiver that sends the bearer token and resolved notifications."""
    config = {
        "route": {
            "receiver": "incident-lab",
            "group_by": ["alertname"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "incident-lab",
                "webhook_configs": [
                    {
                        "url": url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"credentials": token}},
                    }
                ],
            }
        ],
    }
    return json.dumps(config)  # JSON is YAML, and needs no quoting rules of its own


def check_config(text: str) -> subprocess.CompletedProcess[str]:
    """`amtool check-config` of a configuration, as Alertmanager itself would read it."""
    service = Service("incident_lab_amtool_")
    try:
        (service.root / "alertmanager.yml").write_text(text)
        if service.user is not None:
            service.user.hand_over(service.root)
        return subprocess.run(
            [program("amtool", PACKAGE), "check-config", str(service.root / "alertmanager.yml")],
            capture_output=True,
            text=True,
            check=False,
            cwd=service.root,
            **(service.user.process_options() if service.user else {}),
        )
    finally:
        service.stop()


class AlertmanagerServer(Service):
    """`with AlertmanagerServer(config) as am: am.post_alerts([...])`."""

    name = "alertmanager"

    def __init__(self, config: str) -> None:
        super().__init__("incident_lab_alertmanager_")
        self.config = config

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> AlertmanagerServer:
        binary = program("prometheus-alertmanager", PACKAGE)
        (self.root / "alertmanager.yml").write_text(self.config)
        (self.root / "data").mkdir()
        self.port = free_port()
        flags = [
            f"--config.file={self.root / 'alertmanager.yml'}",
            f"--storage.path={self.root / 'data'}",
            f"--web.listen-address={self.address}",
            f"--web.external-url={self.url}",  # else the machine's hostname: the link it sends
            "--cluster.listen-address=",
        ]
        self._spawn([binary, *flags])
        self._wait(f"{self.url}/-/ready")
        return self

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Alerts as a rule evaluator sends them: `POST /api/v2/alerts`."""
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(list(alerts)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            if answer.status != 200:
                raise IncidentLabError(f"alertmanager refused the alerts: {answer.status}")

    def __enter__(self) -> AlertmanagerServer:
        return self.start()
