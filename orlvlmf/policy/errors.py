"""Errors of the policy package (a leaf module)."""


class LearnerError(ValueError):
    """A learner cannot be built, fitted or loaded; the message says what to change."""
