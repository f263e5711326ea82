"""The test suite: a package, so conftest has one name (tests.conftest) for pytest and the tests."""
