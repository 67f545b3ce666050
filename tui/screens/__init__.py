"""Screens of the terminal UI: login, the main station screen, the report and hand-over dialogs."""
