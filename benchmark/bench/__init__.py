"""Speed benchmarks of the harness itself, apart from the matrix (`python -m benchmark bench ...`)."""
