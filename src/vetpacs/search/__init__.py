"""The clinic search and an animal's timeline: reads over the archive, patients and orders."""
