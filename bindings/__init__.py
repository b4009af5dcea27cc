"""pinject binding specs: the composition root that wires melange for an application."""
