"""HL7 v2 over MLLP: the listener (ADT, ORM, OMI in) and the sender (ORM/ORU/DFT out)."""
