"""Helpers shared by the tests: fleets, inventories, clients and reports (no tests here).

Test modules import from this package, never from one another; fixtures stay in
tests/conftest.py. See docs/architecture.md for how the suites are laid out.
"""
