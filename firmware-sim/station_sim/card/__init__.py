"""The virtual fuel card: a pure PBOC purse state machine (`core`), its persisted state (`state`), decks
from TOML (`deck`), a reader slot with tear injection (`slot`) and the vpcd client that serves it to the
real pcscd (`vpcd`). See docs/desk.md."""
