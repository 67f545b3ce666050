"""MQTT uplink to the centre: topics, message contract, store-and-forward, signed downlink.

The contract is documented (and versioned) in `docs/mqtt.md`; `uplink.wiring.install` plugs the
uplink into the daemon.
"""
