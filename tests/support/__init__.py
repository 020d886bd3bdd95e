"""What several test modules share, so each fake and each builder of test data exists once: fakes for the
library's seams (`fake_model`, `fake_clock`, `store_spy`), builders of test data (dataset items, demo days,
importer export files) and reference implementations the tests check the library against. Imported as
`tests.support.<module>` (pytest puts the repository root on the path: `pythonpath` in pyproject.toml)."""
