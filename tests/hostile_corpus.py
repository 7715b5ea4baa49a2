"""The hostile corpus, moved to deploy/loadtest/hostile_corpus.py (the load test's hostile
clients send it too); re-exported for the tests."""

from deploy.loadtest.hostile_corpus import *  # noqa: F403
from deploy.loadtest.hostile_corpus import _with  # noqa: F401
