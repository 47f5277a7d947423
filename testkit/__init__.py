"""Test tooling shared by tests/ and bench/: the program runner (the program under
Pulumi's mocks), the e2e harness (a model of the docker provider applying the
program to a real engine), and helpers that act as a hub user or probe a server."""
