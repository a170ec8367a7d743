"""The benchmark: `python -m bench` (or `graphql-api bench`); see bench/README.md."""
