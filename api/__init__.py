"""The HTTP api: GET /fitness/wod and the operational endpoints, read from the projection."""
