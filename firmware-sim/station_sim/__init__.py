"""station-sim: the hardware-in-the-loop dispenser simulator.

Layer: firmware-sim (the device side of `protocol/`; never a second codec). Module map:

- `cards`: cards, grey locks, the generated card pool;
- `records`: builders of the 95-byte transaction records a dispenser produces;
- `files`: downloads (0x33/0x34), the 5-poll version rule, stored lists / prices / station info;
- `device`: the pure dispenser model (state + handlers returning messages to send);
- `model`: the model's data types (set-up, nozzles, card sessions, pending jobs);
- `slot`: a dispenser's place on a line (swapped on power cycles);
- `state`: the per-dispenser state file (atomic writes);
- `ledger`: the JSON-lines ledger, ground truth for end-to-end tests;
- `transport`: the one I/O seam (`open_transport`): pty, TCP listener, real serial, in-memory pair;
- `port`: frames over a transport: reader, inter-byte timeout, wire-time pacing, fault application;
- `faults`: fault injection settings and decisions;
- `multidrop`, `p2p`: the two line runners;
- `traffic`: the random traffic generator and the activity scripts shared with scenarios;
- `scenario`: scenario TOML files;
- `settings`: CLI + `[simulator]` table → one settings object;
- `sim`: the supervisor; `cli`: the `station-sim` command.
"""
