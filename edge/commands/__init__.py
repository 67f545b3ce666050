"""Sub-commands of the `station` command line (see `edge.cli`)."""
