"""The stand-in base images carry names of their own (tools/image/build.py), never an
official image's: a machine that later reaches a registry must not build on a stand-in
believing it is the real base."""

from __future__ import annotations

import importlib.util
import re

import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("image_build", REPO / "tools/image/build.py")
assert spec and spec.loader
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


@pytest.mark.parametrize(
    ("base", "standin"),
    [
        ("python:3.11-slim", "localhost/coach-standin/python:3.11-slim"),
        ("docker.io/library/python:3.11-slim", "localhost/coach-standin/python:3.11-slim"),
        ("nginx:1.28", "localhost/coach-standin/nginx:1.28"),
        ("quay.io/debezium/connect:3.6", "localhost/coach-standin/debezium/connect:3.6"),
    ],
)
def test_a_standin_is_named_in_its_own_namespace(base, standin):
    """The stand-in for an official image lives under localhost/coach-standin/."""
    assert build.standin_name(base) == standin
    assert build.full_name(build.standin_name(base)) != build.full_name(base)


def test_the_compose_files_images_default_to_the_official_names():
    """docker-compose.yml names the official bases by default (a variable lets the tests
    give the stand-ins' names): nginx:1.28, and python:3.11-slim as the Dockerfile's."""
    assert build.compose_image("nginx") == "docker.io/library/nginx:1.28"
    assert build.compose_image("legacy") == build.dockerfile_base()
    text = (REPO / "docker-compose.yml").read_text()
    assert "coach-standin" not in re.sub(r"#.*", "", text)


def test_a_compose_variable_is_read_as_its_default():
    assert build.variable_default("${NGINX_IMAGE:-nginx:1.28}") == "nginx:1.28"
    assert build.variable_default("nginx:1.28") == "nginx:1.28"
