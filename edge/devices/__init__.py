"""Field devices beside the dispenser lines (desk reader, LPG scales, tank probes), one package each."""
