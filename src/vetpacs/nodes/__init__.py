"""Remote DICOM nodes: modalities, workstations and archives we send to (C-MOVE destinations)."""
