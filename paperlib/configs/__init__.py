"""One module per paper: SLUG, TITLE, Config (dataclass), PROFILES, TIMEOUT. Discovered by paperlib.config."""
