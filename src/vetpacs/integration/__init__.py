"""PMS integration: HL7 v2 over MLLP (in and out), FHIR R4 and signed webhooks, fed by the outbox."""
