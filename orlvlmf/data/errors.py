"""The one error type of unusable data (a file, a key, an episode)."""


class DatasetError(ValueError):
    """A dataset file or request is unusable; the message names the file and the key."""
