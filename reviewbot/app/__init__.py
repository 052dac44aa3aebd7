"""The GitHub App: a thin aiohttp web front (verify, dedupe, enqueue, acknowledge) and a job
runner that mints its own installation token, fetches trees at exact SHAs, runs the review
engine and publishes a check run and one sticky PR comment."""
