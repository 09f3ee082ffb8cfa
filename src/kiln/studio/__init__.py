"""Studio: the web UI over a workspace (``kiln ui``), its JSON API (``/api/...``), users and
roles, and the Canvas no-code flow. The UI is plain JavaScript modules shipped in the package
(no build step, no CDN), talking only to the JSON API; the API's handlers call the SDK."""

__all__ = ["create_studio_app", "serve_ui", "studio_config"]

# FastAPI loads lazily: `import kiln.studio` stays cheap for the CLI.
_LAZY = {
    "create_studio_app": "kiln.studio._app",
    "serve_ui": "kiln.studio._app",
    "studio_config": "kiln.studio._app",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kiln.studio' has no attribute {name!r}")
