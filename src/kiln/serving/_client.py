"""A small HTTP client for a running ``kiln serve``."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from kiln.errors import ConfigError, KilnError, RequestError

DEFAULT_URL = "http://127.0.0.1:8080"


class EndpointClient:
    """Invoke endpoints over HTTP; server-side errors come back as ``KilnError``.

    ``api_key`` is sent as ``Authorization: Bearer KEY``, for a server run ``--require-auth``;
    ``verify`` is httpx's (an ``ssl.SSLContext`` trusting a self-signed certificate)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = 60.0,
        api_key: str | None = None,
        verify: bool | ssl.SSLContext = True,
    ):
        self.url = url.rstrip("/")
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, headers=headers, verify=verify
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EndpointClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConfigError(
                f"Cannot reach the kiln server at {self.url}: {exc}. Start it with 'kiln serve' "
                "(or pass --url).",
                code="serving.unreachable",
            ) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": f"http.{response.status_code}", "detail": response.text[:500]}
            error = RequestError(
                body.get("detail", str(body)), code=body.get("error"), field=body.get("field")
            )
            error.http_status = response.status_code
            raise error
        return response.json()

    def ping(self) -> dict:
        return self._send("GET", "/ping")

    def invoke(
        self, endpoint: str, rows: list[dict] | None = None, *, csv: bytes | None = None
    ) -> dict:
        if csv is not None:
            return self._send(
                "POST",
                f"/endpoints/{endpoint}/invocations",
                content=csv,
                headers={"content-type": "text/csv"},
            )
        return self._send("POST", f"/endpoints/{endpoint}/invocations", json=rows)

    def invoke_file(self, endpoint: str, path: str | Path) -> dict:
        """Send a CSV file as text/csv, or a JSON / JSON-lines file as JSON records."""
        import json

        path = Path(path)
        if not path.exists():
            raise ConfigError(f"No such file: {path}.", code="data.file-not-found")
        data = path.read_bytes()
        if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
            text = data.decode("utf-8")
            try:
                rows = (
                    json.loads(text)
                    if path.suffix.lower() == ".json"
                    else [json.loads(line) for line in text.splitlines() if line.strip()]
                )
            except json.JSONDecodeError as exc:
                raise KilnError(f"{path} is not valid JSON: {exc}.", code="data.bad-json") from exc
            return self.invoke(endpoint, rows)
        return self.invoke(endpoint, csv=data)
