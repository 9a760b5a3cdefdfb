"""ASV benchmarks for supernetbench (run from the repository root; see ``benchmarks/README.md``)."""
