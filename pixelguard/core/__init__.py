"""The pure core: no Kafka, Faust, Triton, hvac or OpenTelemetry imports below this package."""
