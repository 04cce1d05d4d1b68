"""MLflow mirroring: each artiflow run as an MLflow run (live with `run --mlflow`, or later with
`artiflow mlflow export`). MLflow itself is imported only when a mirror is used (`artiflow[mlflow]`)."""
