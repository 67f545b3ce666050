"""LPG bottled gas: cylinder specifications, the registry's fitness rules, CSV import/export, the
filling scales and the fill flow. See docs/lpg.md."""
