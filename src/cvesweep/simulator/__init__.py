"""A faithful Qualys VM API simulator: deterministic fleet, real HTTP, optional faults."""
