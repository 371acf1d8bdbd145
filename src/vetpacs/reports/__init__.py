"""Reports: templates, drafts, signing, amendments, the PDF and its DICOM Encapsulated PDF copy."""
