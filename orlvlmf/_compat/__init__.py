"""Small shims that keep third-party imports working on this project's supported installs."""
