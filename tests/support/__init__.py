"""What several test modules share: fakes for the library's seams (a model client, a clock, a store spy) and the
user tasks experiment configs name by module path. Imported as `tests.support.<module>` (pytest puts the
repository root on the path, see `pythonpath` in pyproject.toml)."""
