"""Reports over the journal: periods and business days, the pure report core, SQL, renderers, exports.

Layer: storage. `periods` (pure: business days, months, years, ranges), `labels` (every header, unit and
name a person reads — the one place to translate), `core` (pure: figures, rows, sections, the totals
check), `query` (the SQL: a read connection over the live and the archive journal), `render` (text, CSV,
JSON), `xlsx` (streaming XLSX), `dayclose` (the daily close), `archive` (closed days to the archive
database), `backup` (backup sets, restore).
"""
