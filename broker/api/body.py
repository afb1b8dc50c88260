"""Reading request bodies with the limits and errors every endpoint shares."""

import json

from fastapi import Request

from broker.api.errors import ApiError


async def read_json_body(request: Request, limit: int) -> object:
    """The parsed JSON body: 413 over ``limit`` bytes, 415 when not JSON, 400 when not valid JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"the request body is over {limit} bytes")
    raw = await request.body()
    if len(raw) > limit:
        raise ApiError(413, "body_too_large", f"the request body is over {limit} bytes")
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON ({e})") from e
