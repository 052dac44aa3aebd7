"""GitHub IO: the REST client with its retries and rate limits, App and installation
tokens, and repository content at exact SHAs."""
