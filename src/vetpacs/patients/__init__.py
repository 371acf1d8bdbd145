"""Animals (species, breed, sex/neuter, birth date, weight, microchip), owners, vocabulary, merge."""
