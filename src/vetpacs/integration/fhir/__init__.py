"""FHIR R4 resources over the domain modules (Patient with patient-animal, ServiceRequest...)."""
