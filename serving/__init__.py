"""gRPC inference on published models."""
