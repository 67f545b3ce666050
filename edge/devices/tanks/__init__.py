"""Tank probes and consoles: measurements, alarms, deliveries and wet-stock reconciliation.

Layer: edge. The pure cores (`strapping`, `compensation`, `measurement`, `alarms`, `delivery`,
`reconcile`) take values and return values; the component polls consoles over Modbus and persists.
"""
