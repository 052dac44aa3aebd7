"""reviewbot: review pull requests that touch shared modules of Python AWS Lambda functions."""

__version__ = "0.1.0"
