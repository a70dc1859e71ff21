"""Where deployments run: `local` (real server processes), `kind`, `k8s`."""
