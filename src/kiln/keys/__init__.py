"""API keys for the serving API (``ws.keys``): created once, stored as a salted hash."""

from kiln.keys._keys import ApiKey, KeyService, KeyVerifier, NewApiKey, split_key

__all__ = ["ApiKey", "KeyService", "KeyVerifier", "NewApiKey", "split_key"]
