"""Raw HTTP/1.1 requests on a socket, moved to deploy/loadtest/raw_http.py (the load test's
hostile clients use it too); re-exported for the tests."""

from deploy.loadtest.raw_http import *  # noqa: F403
