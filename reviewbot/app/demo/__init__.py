"""`reviewbot demo --serve`: the real server against a small in-process GitHub that
answers what the demo's review asks (the tests build a stricter one on it)."""
