"""The stand-in monolith's token issuer (deploy/monolith/issuer.py) served over real HTTP by
werkzeug on a free loopback port, for the tests that verify tokens with its key set."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx2
from werkzeug.serving import make_server

from deploy.monolith.issuer import Issuer, issuer_app


class IssuerServer:
    def __init__(self, algorithm: str = "ES256", max_age: int = 1, token_ttl: int = 300) -> None:
        self.issuer = Issuer(
            "http://placeholder", algorithm=algorithm, jwks_max_age=max_age, token_ttl=token_ttl
        )
        self.fetches: list[tuple[float, str]] = []
        """(time.monotonic(), User-Agent) of each GET of the key set."""
        app = issuer_app(self.issuer)

        def recording(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("PATH_INFO") == "/.well-known/jwks.json":
                self.fetches.append((time.monotonic(), environ.get("HTTP_USER_AGENT", "")))
            return app(environ, start_response)

        self.server = make_server("127.0.0.1", 0, recording, threaded=True)
        self.url = self.issuer.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def post(self, path: str, **body: Any) -> dict[str, Any]:
        answer = httpx2.post(f"{self.url}{path}", json=body, timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def token(self, sub: str = "7", **body: Any) -> str:
        """A token from the issuer's token endpoint (signed with its active key)."""
        return str(self.post("/oauth/token", sub=sub, **body)["access_token"])

    def published_kids(self) -> list[str]:
        answer = httpx2.get(f"{self.url}/.well-known/jwks.json", timeout=10)
        return [key["kid"] for key in answer.json()["keys"]]

    def fetchers_since(self, since: float) -> set[str]:
        """The User-Agents (one per coach process) that fetched the key set after `since`."""
        return {agent for at, agent in list(self.fetches) if at > since}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
