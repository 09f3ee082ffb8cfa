"""What every Studio route shares: JSON answers (orjson: numpy values, non-string keys) and the
paging query parameters."""

from __future__ import annotations

import orjson
from fastapi.responses import Response


def json_response(payload, status: int = 200) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type="application/json",
    )
