"""The local development stack beside the product: SeaweedFS and Airflow on loopback (``make up``,
``make demo``), used by the tests and the benchmarks too. Not part of the product package."""
