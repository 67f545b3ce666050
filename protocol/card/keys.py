"""Card keys: the master keys of a card system and the keys of one card diversified by its ASN.

Layer: protocol (pure). Every card key is `diversify(master, ASN)` (see `protocol.pboc_crypto`). The
key index used in the INITIALIZE commands is 01; a card knows no other.

`TEST_MASTER_KEYS` are the project's TEST master keys, published here so the simulator's virtual cards
and the station's software PSAM agree. They protect nothing: no real card may ever be personalised
with them. They are this project's own values (not from any issuer); the public PBOC purchase vector
of the card-and-rules spec uses a card key directly and is tested separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.pboc_crypto import KEY_LEN, CryptoError, diversify

KEY_INDEX = 0x01


@dataclass(frozen=True, slots=True)
class KeySet:
    """The five 16-byte keys of a card application (or their masters).

    purchase    DPK: purchase and grey-lock session keys, GMAC key
    load        DLK: load (top-up) and online-unlock session keys
    tac         DTK: TAC and GTAC (single DES with left XOR right)
    maintenance DAMK: secure messaging of UPDATE BINARY (issue, cylinder date, clearing)
    pin_reload  DRPK: PIN reload at an issuing outlet
    """

    purchase: bytes
    load: bytes
    tac: bytes
    maintenance: bytes
    pin_reload: bytes

    def __post_init__(self) -> None:
        for name in ("purchase", "load", "tac", "maintenance", "pin_reload"):
            if len(getattr(self, name)) != KEY_LEN:
                raise CryptoError(f"{name} key must be {KEY_LEN} bytes")

    def diversified(self, asn: bytes) -> KeySet:
        """The card's own keys: each master diversified by the 10-byte ASN."""
        return KeySet(
            purchase=diversify(self.purchase, asn),
            load=diversify(self.load, asn),
            tac=diversify(self.tac, asn),
            maintenance=diversify(self.maintenance, asn),
            pin_reload=diversify(self.pin_reload, asn),
        )


TEST_MASTER_KEYS = KeySet(
    purchase=bytes.fromhex("5445535450555243484153454B455931"),  # "TESTPURCHASEKEY1"
    load=bytes.fromhex("544553544C4F41444B45595F30303031"),  # "TESTLOADKEY_0001"
    tac=bytes.fromhex("54455354544143204B45595F30303031"),  # "TESTTAC KEY_0001"
    maintenance=bytes.fromhex("544553544D41494E544B45595F303031"),  # "TESTMAINTKEY_001"
    pin_reload=bytes.fromhex("5445535450494E52454C4F41444B4559"),  # "TESTPINRELOADKEY"
)
