"""Input readers and output writers, one module per format."""
