"""The backend loader (bellamy/backends.py)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from bellamy.backends import build_backend, get_backend


class Recorder:
    """A throwaway backend that records its options and whether it was closed."""

    def __init__(self, **options):
        self.options = options
        self.closed = False

    def close(self):
        self.closed = True


SPEC = {"BACKEND": "tests.test_backends.Recorder", "OPTIONS": {"url": "x://1", "size": 3}}


def test_backend_is_built_lazily_once_with_its_options(settings):
    settings.BELLAMY_TEST_BACKEND = SPEC
    first = get_backend("BELLAMY_TEST_BACKEND")
    assert first.options == {"url": "x://1", "size": 3}
    assert get_backend("BELLAMY_TEST_BACKEND") is first


def test_changing_the_setting_closes_and_replaces_the_backend(settings):
    settings.BELLAMY_TEST_BACKEND = SPEC
    first = get_backend("BELLAMY_TEST_BACKEND")
    settings.BELLAMY_TEST_BACKEND = {**SPEC, "OPTIONS": {"url": "x://2"}}
    second = get_backend("BELLAMY_TEST_BACKEND")
    assert (first.closed, second.options, second is first) == (True, {"url": "x://2"}, False)


def test_bad_specs_are_clear_errors():
    with pytest.raises(ImproperlyConfigured, match="BELLAMY_X needs a 'BACKEND' dotted path"):
        build_backend({"OPTIONS": {}}, setting="BELLAMY_X")
    with pytest.raises(ImproperlyConfigured, match="BELLAMY_X: cannot import backend 'nowhere.Missing'"):
        build_backend({"BACKEND": "nowhere.Missing"}, setting="BELLAMY_X")
